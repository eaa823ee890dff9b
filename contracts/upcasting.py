"""Upcasters: old major versions of an event, read as the newest.

Consumers accept every supported version and see only the newest model. One function per
major step, applied in order (v1 -> v2 -> ...), each a pure function of the old payload's
data. An old version stays readable for as long as its upcaster is here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import vocabulary
from contracts.events import v1_pay_basis

Data = dict[str, Any]


def referral_submitted_v1_to_v2(data: Data) -> Data:
    vocab = vocabulary.skills()
    skills = []
    for text in data["skills"]:
        found = vocab.lookup(text)
        skills.append({"id": found.id if found else None, "text": text})
    consent = data["consent"]
    return {
        **{k: v for k, v in data.items() if k not in ("skills", "consent")},
        "skills": skills,
        "skills_vocabulary": vocab.version,
        # v1 asked only about employers; without a recorded answer the referral is kept
        # out of aggregate reports rather than assumed in.
        "consent": {
            "share_with_employers": consent["share_with_employers"],
            "aggregate_reports": False,
            "given_at": consent["given_at"],
        },
    }


def _terms_v1_to_v2(data: Data) -> Data:
    # v1 terms had no pay basis: a wage by the hour is hourly, any other a salary. Every v1
    # employment type is a v2 kind, its basic benefits are v2's with the others false, and
    # the fields v2 adds are unknown (null), not guessed.
    return {**data, "pay_basis": v1_pay_basis(data["wage"]["unit"]).value}


def offer_extended_v1_to_v2(data: Data) -> Data:
    return _terms_v1_to_v2(data)


def placement_reported_v1_to_v2(data: Data) -> Data:
    return _terms_v1_to_v2(data)


def skills_gap_observed_v1_to_v2(data: Data) -> Data:
    # A v1 observation is one comparison. What the opening asked (`demanded_*`) is left out: v2
    # does not carry it (the opening's posting is on talentloop.openings).
    keys = ("onet_soc_code", "opening_id", "missing_required", "missing_preferred", "missing_requirements")
    return {"referral_id": data["referral_id"], "partner_id": data["partner_id"], "outcome": data["outcome"],
            "held": data["held"], "comparisons": [{k: data[k] for k in keys if k in data}]}


# old event type -> (next event type, upcaster)
UPCASTERS: dict[str, tuple[str, Callable[[Data], Data]]] = {
    "referral.submitted.v1": ("referral.submitted.v2", referral_submitted_v1_to_v2),
    "offer.extended.v1": ("offer.extended.v2", offer_extended_v1_to_v2),
    "placement.reported.v1": ("placement.reported.v2", placement_reported_v1_to_v2),
    "skills.gap_observed.v1": ("skills.gap_observed.v2", skills_gap_observed_v1_to_v2),
}
