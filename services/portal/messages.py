"""Messages the code names by a code (refusals, form problems, statuses), marked for the
catalogues with N_ and translated where a page shows them."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark only"
    return message


CODES = {
    "csrf": N_("This form has expired or did not come from this site. Go back, reload the page and try again."),
    "not_found": N_("There is nothing here, or it is not yours to see."),
    "not_allowed": N_("Your role does not allow this."),
    "rate_limited": N_("Too many failed sign-ins. Wait %(minutes)s minutes and try again."),
    "bad_credentials": N_("That e-mail address and password do not match an account."),
    "service_unavailable": N_("The network did not answer. Try again in a minute."),
    "service_refused": N_("The network refused the request. Try again, or ask your coalition's operators."),
    "invitation_invalid": N_("This invitation link is not valid any more. Ask for a new one."),
    "link_invalid": N_("This link is not valid any more: it was used, it expired, or a newer one was sent. Ask for a new one."),
    "rate_limited_links": N_("Too many requests for this address. Wait %(minutes)s minutes and try again."),
    "bad_email": N_("Enter an e-mail address such as name@example.org."),
    "bad_name": N_("Enter a name of 1 to 200 characters."),
    "bad_role": N_("Choose a role."),
    "bad_kind": N_("Choose what kind of organisation it is."),
    "bad_tenant_id": N_("Use 2 to 100 lower-case letters, digits, dots, dashes or underscores."),
    "email_taken": N_("Someone already has an account with this e-mail address."),
    "password_too_short": N_("Use at least 12 characters."),
    "password_too_long": N_("Use at most 256 characters."),
    "password_is_email": N_("Do not use your e-mail address as your password."),
    "password_mismatch": N_("The two passwords are not the same."),
    "required": N_("This is required."),
    "consent_required": N_("We can only refer someone who agreed to be shared with employers."),
    "no_file": N_("Choose a CSV file."),
    "bad_time": N_("Enter a date and time."),
    "bad_number": N_("Enter a whole number."),
}

ROLES = {"admin": N_("Organisation admin"), "staff": N_("Staff"), "read_only": N_("Read-only")}

ORG_KINDS = {
    "partner": N_("Referring partner"),
    "training_provider": N_("Training provider"),
    "service_provider": N_("Service provider"),
    "employer": N_("Employer"),
    "operators": N_("Coalition operators"),
}

STATUSES = {
    "submitted": N_("Submitted"),
    "in_review": N_("With an employer"),
    "not_matched": N_("Not matched"),
    "declined": N_("Declined"),
    "interviewing": N_("Interviewing"),
    "offered": N_("Offered"),
    "hired": N_("Hired"),
    "retained_90_days": N_("Still in the job after 90 days"),
    "closed": N_("Closed"),
    "withdrawn": N_("Withdrawn"),
}

UPLOAD_STATUSES = {"running": N_("Importing"), "done": N_("Done"), "failed": N_("Failed")}

# The employer's side (the gateway's states and vocabularies, contracts/openapi/employer_gateway.json).
EMPLOYER_STATES = {
    "routed": N_("New: waiting for your answer"),
    "acknowledged": N_("Acknowledged"),
    "interviewing": N_("Interviewing"),
    "offered": N_("Offered"),
    "placed": N_("Placed"),
    "declined": N_("Declined"),
    "offer_declined": N_("Offer turned down"),
    "separated": N_("Left the job"),
    "withdrawn": N_("Withdrawn"),
}

INTERVIEW_MODES = {"in_person": N_("In person"), "video": N_("Video"), "phone": N_("Phone")}
INTERVIEW_OUTCOMES = {"advanced": N_("Advanced"), "not_selected": N_("Not selected"), "no_show": N_("Did not come")}
CANCELLED_BY = {"employer": N_("By us"), "candidate": N_("By the candidate")}
EMPLOYMENT_KINDS = {
    "full_time": N_("Full time"),
    "part_time": N_("Part time"),
    "internship": N_("Internship"),
    "micro_internship": N_("Micro-internship"),
    "apprenticeship": N_("Apprenticeship"),
}
WAGE_UNITS = {"hour": N_("an hour"), "week": N_("a week"), "month": N_("a month"), "year": N_("a year")}
BENEFITS = {
    "health": N_("Health insurance"),
    "dental": N_("Dental insurance"),
    "vision": N_("Vision insurance"),
    "paid_leave": N_("Paid time off"),
    "retirement": N_("Retirement plan"),
    "tuition": N_("Tuition assistance"),
    "childcare": N_("Childcare"),
}
MILESTONES = {"30": N_("30 days"), "90": N_("90 days"), "180": N_("180 days")}
YES_NO = {"yes": N_("Yes"), "no": N_("No")}
OPENING_STATES = {"open": N_("Open"), "closed": N_("Closed"), "filled": N_("Filled")}
