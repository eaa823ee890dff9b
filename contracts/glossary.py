"""Descriptions of the fields events share, and examples from the golden fixtures.

Applied to every event and value-object schema, so a field means the same thing wherever
it appears and the published JSON Schemas and AsyncAPI documents carry descriptions and
examples without repeating them in each model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"

GLOSSARY: dict[str, str] = {
    "referral_id": "The referral's id, created once by intake; the Kafka key of every event about it.",
    "partner_id": "The referring partner organization (nonprofit, college, bootcamp).",
    "employer_id": "The employer the opening or referral belongs to.",
    "opening_id": "The employer's opening.",
    "candidate_id": "Pseudonymous candidate id (keyed hash); reveals nothing about the person.",
    "interview_id": "The interview, as created by the employer gateway.",
    "title": "Job title as the employer advertises it.",
    "job_title": "Job title of the placement.",
    "onet_soc_code": "O*NET-SOC occupation code, e.g. 15-1252.00 (Software Developers).",
    "target_onet_soc_code": "O*NET-SOC code of the occupation the candidate is referred for, if any.",
    "target_opening_id": "A specific opening the partner refers the candidate to, if any.",
    "required_skills": "Skills a candidate must all have to be routed to the opening.",
    "preferred_skills": "Skills that raise a candidate's score but are not required.",
    "skills": "The candidate's skills.",
    "skills_vocabulary": "Version of the skills vocabulary the skill ids come from.",
    "matched_skills": "Skills of the opening (required and preferred) the candidate has.",
    "missing_skills": "Skills the candidate lacks (see the event's description for which).",
    "candidate_skills": "All the candidate's skills, as vocabulary ids or normalized text.",
    "credentials": "Credentials (certificates, certifications, degrees) the candidate holds or pursues.",
    "training": "The training program the partner delivered.",
    "capacity": "How many referrals the employer will take for this opening.",
    "wage": "Pay, with its unit.",
    "amount": "Amount of money, with two decimals, as a string.",
    "unit": "Period the amount is paid for.",
    "currency": "ISO 4217 currency code.",
    "location": "Where the work is (city, region).",
    "remote": "Whether the job can be done remotely.",
    "score": "Match score from 0 to 1: 0.6 x required skills + 0.2 x preferred skills + 0.1 x required credentials"
    " + 0.1 x location (see docs/routing.md).",
    "explanation": "Why the candidate was routed to this opening, in plain words.",
    "reason": "Why, as a code or sentence (see the event's description).",
    "detail": "Free text; required when the reason is 'other'.",
    "nearest": "The openings the candidate came closest to, with what was missing for each.",
    "scheduled_for": "When the interview takes place (UTC).",
    "mode": "How the interview is held.",
    "outcome": "What came of the interview.",
    "hours_per_week": "Contracted hours per week.",
    "employment_type": "Full-time, part-time, internship or apprenticeship.",
    "pay_basis": "How the job is paid: hourly, salary, stipend, project_fee, or unpaid (no wage).",
    "apprenticeship_registered": "Apprenticeships only: whether it is a registered apprenticeship.",
    "engagement_hours": "Micro-internships only: the project's hours in all.",
    "end_date": "Last day, for work that ends (an internship, a project).",
    "schedule": "When the work happens: how regular and how far ahead it is known.",
    "predictable": "Regular hours, known ahead and not changed at short notice.",
    "advance_notice_days": "How many days ahead the schedule is given.",
    "variable_hours": "The hours worked vary from week to week.",
    "min_hours_per_week": "The fewest hours a week the job gives.",
    "max_hours_per_week": "The most hours a week the job asks.",
    "paid": "Whether the job is paid; false for an unpaid internship.",
    "promoted": "Promoted since the placement.",
    "dental": "Dental insurance.",
    "vision": "Vision insurance.",
    "tuition": "Tuition assistance.",
    "childcare": "Childcare, or help paying for it.",
    "other": "Other benefits, in a few words each.",
    "benefits": "Basic benefits offered (the good-job test looks at these).",
    "health": "Employer-sponsored health insurance.",
    "retirement": "Retirement plan.",
    "paid_leave": "Paid time off.",
    "start_date": "First day of work.",
    "consent": "What the candidate consented to, and when.",
    "share_with_employers": "The candidate agreed that employers may see the referral.",
    "aggregate_reports": "The candidate agreed to be counted in aggregate reports.",
    "given_at": "When consent was given (UTC).",
    "name": "Name as the issuer states it.",
    "issuer": "Organization that issues the credential.",
    "ctdl_id": "Credential Engine CTID (CTDL), where the partner has one.",
    "status": "completed or in_progress.",
    "awarded_on": "Date the credential was awarded.",
    "program": "Program name.",
    "provider": "Organization that delivered the training.",
    "completed_on": "Date the candidate completed the program.",
    "id": "Id in the skills vocabulary; null when the text matched no skill.",
    "text": "The skill as the partner wrote it.",
    "contact_sealed": "The candidate's contact details, sealed with the candidate's key (see Sealed).",
    "changed": "Which parts of the profile this update changed.",
    "withdrawn_at": "When the referral was withdrawn (UTC).",
    "referral_ids": "Every referral of the candidate.",
    "requested_by": "Who asked for the erasure: the referring partner on the person's behalf, or an operator.",
    "erased_at": "When the personal data was erased (UTC).",
    "required_credentials": "Credentials a candidate must hold to be routed to the opening.",
    "degree_required": "Minimum degree level; set only when the employer marks a degree mandatory.",
    "highest_degree": "Highest degree the candidate completed, if any.",
    "attempt": "Which routing attempt this is (1 for the first decision).",
    "details": "Why this opening, part by part.",
    "closed_at": "When the opening closed (UTC).",
    "held": "The candidate's skills, as vocabulary ids or normalized text.",
    "demanded_required": "Required skills of the opening compared with.",
    "demanded_preferred": "Preferred skills of the opening compared with.",
    "missing_required": "Required skills of that opening the candidate lacks.",
    "missing_preferred": "Preferred skills of that opening the candidate lacks.",
    "missing_requirements": "Mandatory credentials or degree the candidate lacks for that opening.",
    "preferred_matched": "Preferred skills of the opening the candidate has.",
    "preferred_missing": "Preferred skills of the opening the candidate lacks.",
    "previous_status": "The partner-facing status before this change; null for the first.",
    "wage_band": "The hourly wage's range (not the exact wage).",
    "share_contact": "The candidate agreed that employers the referral is routed to may see their contact details.",
    "cancelled_by": "Who called the interview off.",
    "offer_id": "The offer, as created by the employer gateway.",
    "expires_on": "Last day the candidate may accept the offer, if the employer set one.",
    "milestone_days": "Days after the start date this check-in is for: 30, 90 or 180.",
    "still_employed": "Whether the candidate still works there.",
    "checked_on": "Date of the check-in.",
    "separated_on": "Last day of employment.",
    "converted_on": "First day on the new terms after a conversion (not before the start date).",
    "from_employment_type": "The kind of job before the conversion: internship, micro_internship or apprenticeship.",
    "routed_at": "When routing sent the referral to the employer (UTC).",
    "business_days": "Business days (Monday to Friday, holidays excluded) without an acknowledgement.",
}


def describe(schema: dict[str, Any], model: type) -> None:
    """pydantic `json_schema_extra` hook: fill in missing field descriptions and examples."""
    for name, prop in schema.get("properties", {}).items():
        if "description" not in prop and name in GLOSSARY:
            prop["description"] = GLOSSARY[name]
    event_type = getattr(model, "event_type", None)
    if isinstance(event_type, str):
        example = FIXTURES / model.family() / f"{model.schema_version}.json"  # type: ignore[attr-defined]
        if example.exists():
            schema["examples"] = [json.loads(example.read_text())["data"]]
