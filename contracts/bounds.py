"""How big any part of an event may be: the longest text, the most items in a list.

Every text and list field of every contract has a bound, so that the largest valid event of
every type fits one Kafka record (`contracts.topics.MAX_MESSAGE_BYTES`, with room for the
headers): `tests/unit/test_contract_bounds.py` builds that event for every type, from the
published schemas, and measures it. A field without a bound fails that test.

The bounds are what the entry points already allowed (intake's referral, the gateway's
opening and actions) or, for what a service derives, what follows from those: routing's
lists of skills are subsets of the candidate's or the opening's (at most `SKILLS_MAX`), its
missing requirements are the opening's credentials plus a degree. An entry point that
accepts more than a bound here accepts something it cannot publish: it must refuse it
(422 naming the field) instead. Services import the types below for that.

Text is any Unicode except the C0 control characters other than tab, line feed and carriage
return: those have no place in a name or a sentence, PostgreSQL cannot store NUL at all,
and JSON writes each as six bytes (`\\u0001`), which would make the worst case half as large
again as that of the largest characters (four bytes in UTF-8).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"
BASE64URL_PATTERN = r"^[A-Za-z0-9_-]*$"
ONET_SOC = r"^\d{2}-\d{4}(\.\d{2})?$"

# --- lengths, in characters (Unicode code points) ---------------------------------------

ID_MAX = 100  # ids we generate are ~40 characters; partner and employer ids are chosen by operators
NAME_MAX = 200  # a skill, a credential, an issuer, a program, a job title, a place
LABEL_MAX = 50  # a word from a small fixed set: a part of the profile, a score part, a wage band
REQUIREMENT_MAX = 300  # "credential: <name>" or "degree: <level> or higher"
REASON_MAX = 500  # a reason routing or outcomes words itself
DETAIL_MAX = 1_000  # what an employer types as the detail of a decline, cancellation, separation
# Routing's explanation names the opening's title, the preferred skills the candidate lacks
# (up to SKILLS_MAX keys) and the required credentials held (up to REQUIRED_CREDENTIALS_MAX
# names): at most about 25,000 characters.
EXPLANATION_MAX = 30_000
URI_MAX = 200  # the envelope's source, type, subject and dataschema
TRACE_ID_MAX = 1_024  # correlation and causation ids, which a caller may choose (X-Correlation-Id)
KID_MAX = 200
NONCE_MAX = 100
# A sealed contact: names of 100 characters, an e-mail address of 320, a phone number,
# JSON-escaped (up to 12 bytes a character), encrypted and base64url-encoded: under 8,500.
CIPHERTEXT_MAX = 16_384
ONET_SOC_MAX = 10  # 15-1252.00

# --- counts ----------------------------------------------------------------------------

SKILLS_MAX = 100  # a candidate's skills; an opening's required, and its preferred, skills
CREDENTIALS_MAX = 50  # a candidate's credentials
REQUIRED_CREDENTIALS_MAX = 20  # an opening's required credentials
REQUIREMENTS_MAX = REQUIRED_CREDENTIALS_MAX + 1  # those, and a degree
NEAREST_MAX = 3  # openings routing reports as nearest when none fits
NEAREST_MISSING_MAX = NEAREST_MAX * SKILLS_MAX  # required skills missing for those, together
REFERRALS_PER_CANDIDATE_MAX = 1_000  # referral ids one erasure names
ENROLLMENTS_PER_CANDIDATE_MAX = 1_000  # enrollment ids one erasure names
PROGRAM_OCCUPATIONS_MAX = 10  # O*NET-SOC codes a training program leads to
FUNDING_SOURCES_MAX = 10  # funding sources of a program
CHANGED_MAX = 10  # parts of a profile one update names
SCORE_PARTS_MAX = 10
BENEFITS_OTHER_MAX = 10  # benefits beyond the named ones, each a short label

ENGAGEMENT_HOURS_MAX = 2_000  # a micro-internship's hours in all: about a year of full-time work
HOURS_PER_WEEK_MAX = 80
ADVANCE_NOTICE_DAYS_MAX = 365  # how far ahead a schedule is known
PROGRAM_WEEKS_MAX = 520  # a program's length: ten years covers any degree part-time
PROGRAM_HOURS_MAX = 20_000  # a program's hours in all: 520 weeks of about 40 hours
PERCENT_MAX = 100

INT4_MAX = 2_147_483_647  # counters every consumer stores in a PostgreSQL integer

# --- types -----------------------------------------------------------------------------

Id = Annotated[str, Field(max_length=ID_MAX, pattern=TEXT_PATTERN)]
Name = Annotated[str, Field(max_length=NAME_MAX, pattern=TEXT_PATTERN)]
# What matching compares (events.text_key): a vocabulary id or normalized text, cut to NAME_MAX.
SkillKey = Annotated[str, Field(max_length=NAME_MAX, pattern=TEXT_PATTERN)]
Label = Annotated[str, Field(max_length=LABEL_MAX, pattern=TEXT_PATTERN)]
Requirement = Annotated[str, Field(max_length=REQUIREMENT_MAX, pattern=TEXT_PATTERN)]
Reason = Annotated[str, Field(max_length=REASON_MAX, pattern=TEXT_PATTERN)]
Detail = Annotated[str, Field(max_length=DETAIL_MAX, pattern=TEXT_PATTERN)]
Explanation = Annotated[str, Field(max_length=EXPLANATION_MAX, pattern=TEXT_PATTERN)]
OnetSoc = Annotated[str, Field(max_length=ONET_SOC_MAX, pattern=ONET_SOC)]

Skills = Annotated[list[Name], Field(max_length=SKILLS_MAX)]  # as the partner or employer wrote them
SkillKeys = Annotated[list[SkillKey], Field(max_length=SKILLS_MAX)]
Requirements = Annotated[list[Requirement], Field(max_length=REQUIREMENTS_MAX)]


def refuses_control_character(error: Mapping[str, Any]) -> bool:
    """Whether a pydantic error (an item of `ValidationError.errors()`) is a text refused for a
    control character, rather than some other pattern: entry points name that case for the
    caller (intake's `invalid-character`) instead of quoting the pattern."""
    return error.get("type") == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == TEXT_PATTERN
