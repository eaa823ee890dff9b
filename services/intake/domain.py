"""What intake decides about a partner's referral, without I/O.

A referral is accepted only with the candidate's consent to share it with employers.
The candidate id is pseudonymous: an HMAC of the normalized e-mail (or phone) under a
network-wide secret, so the same person referred twice links to one candidate while the
id reveals nothing and cannot be reversed without the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from contracts import events, vocabulary

_NOT_DIGITS = re.compile(r"\D")


class ConsentNeeded(Exception):
    pass


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    given_name: str = Field(min_length=1, max_length=100)
    family_name: str = Field(min_length=1, max_length=100)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, min_length=7, max_length=32)

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not self.email and not self.phone:
            raise ValueError("an email or a phone number is required")
        return self


class ConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share_with_employers: bool = Field(description="Required to be true: routing shows the referral to employers.")
    aggregate_reports: bool = Field(
        default=False, description="The candidate agreed to be counted in aggregate reports (default: not asked, so no)."
    )
    given_at: datetime


class ReferralIn(BaseModel):
    """A partner's referral as posted to `POST /v1/referrals`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "external_id": "crm-000123",
                    "candidate": {"given_name": "Ana", "family_name": "Diaz", "email": "ana@example.org"},
                    "skills": ["Python", "SQL", "Git"],
                    "training": {"program": "Full-stack web development", "provider": "Forge Coding Bootcamp"},
                    "credentials": [{"name": "AWS Certified Cloud Practitioner", "status": "completed"}],
                    "target_onet_soc_code": "15-1252.00",
                    "consent": {"share_with_employers": True, "given_at": "2026-11-01T15:00:00Z"},
                }
            ]
        },
    )
    external_id: str | None = Field(default=None, max_length=100, description="The partner's own reference.")
    candidate: Contact
    skills: list[str] = Field(min_length=1, max_length=100)
    credentials: list[events.Credential] = Field(default_factory=list)
    training: events.Training | None = None
    target_onet_soc_code: str | None = Field(default=None, pattern=events.ONET_SOC)
    target_opening_id: str | None = None
    consent: ConsentIn

    @field_validator("skills")
    @classmethod
    def _skills_not_blank(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(s.split()) for s in value if s.strip()]
        if not cleaned:
            raise ValueError("at least one non-blank skill is required")
        return cleaned


def normalized_identity(contact: Contact) -> str:
    if contact.email:
        return "email:" + str(contact.email).strip().lower()
    return "phone:" + _NOT_DIGITS.sub("", contact.phone or "")


def candidate_id(contact: Contact, secret: bytes) -> str:
    digest = hmac.new(secret, normalized_identity(contact).encode(), hashlib.sha256).hexdigest()
    return f"cand_{digest[:32]}"


def new_referral_id() -> str:
    return f"ref_{uuid.uuid4().hex}"


def skill_refs(texts: list[str]) -> list[events.SkillRef]:
    """Each skill as the vocabulary's id (null when unknown) with the partner's own text kept."""
    vocab = vocabulary.skills()
    return [events.SkillRef(id=(found.id if (found := vocab.lookup(t)) else None), text=t) for t in texts]


def accept(referral: ReferralIn, partner_id: str, secret: bytes) -> events.ReferralSubmittedV2:
    if not referral.consent.share_with_employers:
        raise ConsentNeeded("the candidate has not consented to share the referral with employers")
    if referral.consent.given_at.tzinfo is None:
        raise ConsentNeeded("consent.given_at needs a time zone")
    return events.ReferralSubmittedV2(
        referral_id=new_referral_id(),
        partner_id=partner_id,
        candidate_id=candidate_id(referral.candidate, secret),
        skills=skill_refs(referral.skills),
        skills_vocabulary=vocabulary.skills().version,
        credentials=referral.credentials,
        training=referral.training,
        target_onet_soc_code=referral.target_onet_soc_code,
        target_opening_id=referral.target_opening_id,
        consent=events.ConsentScope(
            share_with_employers=referral.consent.share_with_employers,
            aggregate_reports=referral.consent.aggregate_reports,
            given_at=referral.consent.given_at,
        ),
    )
