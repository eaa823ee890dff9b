"""How a referral's status, its reason and its events read on a page, in the page's language."""

from __future__ import annotations

from typing import Any

from services.portal.i18n import Gettext
from services.portal.messages import N_

REASONS = {
    "position_filled": N_("the position was filled"),
    "no_capacity": N_("the employer has no capacity"),
    "requirements_not_met": N_("requirements not met"),
    "candidate_unreachable": N_("the candidate could not be reached"),
    "candidate_withdrew": N_("the candidate withdrew"),
    "not_selected_after_interview": N_("not selected after the interview"),
    "other": N_("another reason"),
}

EVENTS = {
    "referral.submitted": N_("Referred by your organisation"),
    "referral.routed": N_("Sent to an employer"),
    "referral.unmatched": N_("No opening matched"),
    "referral.acknowledged": N_("The employer acknowledged it"),
    "referral.declined": N_("The employer declined"),
    "referral.stale": N_("Waiting too long for the employer"),
    "referral.withdrawn": N_("Withdrawn"),
    "interview.scheduled": N_("Interview scheduled"),
    "interview.rescheduled": N_("Interview rescheduled"),
    "interview.cancelled": N_("Interview cancelled"),
    "interview.completed": N_("Interview held"),
    "offer.extended": N_("Offer made"),
    "offer.declined": N_("Offer turned down"),
    "placement.reported": N_("Hired"),
    "placement.converted": N_("Converted to a job"),
    "retention.checked": N_("Check-in"),
    "separation.reported": N_("Left the job"),
}


# What a status means when the closed loop gives no detail with it.
EXPLAINED = {
    "submitted": N_("The network is matching it with openings."),
    "in_review": N_("An employer is looking at it."),
    "not_matched": N_("No open job fits these skills now."),
    "interviewing": N_("An interview is arranged."),
    "offered": N_("The employer made an offer."),
    "withdrawn": N_("Your organisation withdrew it."),
}


def reason(detail: dict[str, Any], _: Gettext, status: str | None = None) -> str:
    """Why the referral has its status, as the closed loop tells the partner."""
    parts = []
    if detail.get("missing_skills"):
        parts.append(_("Missing skills: %(skills)s", skills=", ".join(detail["missing_skills"])))
    if detail.get("reason"):
        code = detail["reason"]
        parts.append(_("Reason: %(reason)s", reason=_(REASONS[code]) if code in REASONS else code))
    if detail.get("job_title"):
        parts.append(_("Job: %(title)s", title=detail["job_title"]))
    if detail.get("wage_band"):
        parts.append(_("Wage: %(band)s", band=detail["wage_band"]))
    if detail.get("start_date"):
        parts.append(_("Starts %(date)s", date=detail["start_date"]))
    if not parts and status in EXPLAINED:
        parts.append(_(EXPLAINED[status]))
    return " · ".join(parts)


def event_label(event_type: str, _: Gettext) -> str:
    family = event_type.rsplit(".", 1)[0]
    return _(EVENTS[family]) if family in EVENTS else family
