"""Made-up jobseekers in each example partner's own record shape (deploy/adapters/), the
training providers' programs and enrollments, and the demo employers' openings.

Used by the demo, the benchmark, the tests and `examples/`. Names, e-mails (example.org),
phone numbers (exchange 555), programs and openings are invented.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

GIVEN = ["Ana", "Malik", "Priya", "Tomás", "Keisha", "Wei", "Fatima", "Jordan", "Sofia", "Dmitri", "Aisha", "Luis",
         "Mei", "Omar", "Grace", "Kwame", "Elena", "Tariq", "Hana", "Noah"]
FAMILY = ["Diaz", "Johnson", "Patel", "Nguyen", "Okafor", "Kim", "Haddad", "Rivera", "Chen", "Williams", "Novak",
          "Mensah", "Garcia", "Yusuf", "Brooks", "Sato", "Morales", "Abebe", "Lindqvist", "Reyes"]
# Each track: skills as a partner might write them (aliases and casing vary), a program, a target occupation.
TRACKS = [
    (["Python", "SQL", "pandas", "Tableau"], "Data Analytics", "15-2051.00"),
    (["JavaScript", "HTML5", "CSS", "React.js", "git"], "Full-Stack Web Development", "15-1254.00"),
    (["Troubleshooting", "Windows 10", "Customer Service", "Active Directory"], "IT Support", "15-1232.00"),
    (["Networking", "Linux", "Security+", "Wireshark"], "Cybersecurity", "15-1212.00"),
    (["Python", "Git", "Docker", "AWS"], "Software Engineering", "15-1252.00"),
    (["Manual Testing", "SQL", "Selenium", "JIRA"], "Software QA", "15-1253.00"),
]
EXTRAS = ["Excel", "Communication", "Agile", "REST APIs", "Teamwork", "Basket weaving"]
CERTS = ["CompTIA A+", "AWS Certified Cloud Practitioner", "Google Data Analytics Certificate", "CompTIA Security+"]

# Each training provider's programs, as `POST /v1/programs` takes them.
PROGRAMS: dict[str, list[dict[str, Any]]] = {
    "riverbend-community-college": [
        {"program_id": "RCC-NETSEC", "name": "Network Security Certificate", "credential": {"name": "CompTIA Security+"},
         "onet_soc_codes": ["15-1212.00", "15-1232.00"], "modality": "hybrid", "length_weeks": 16, "hours": 240,
         "cost_to_participant": {"amount": "0.00", "currency": "USD"}, "funding_sources": ["wioa", "pell"]},
        {"program_id": "RCC-DATA", "name": "Data Analytics Certificate",
         "credential": {"name": "Google Data Analytics Certificate"}, "onet_soc_codes": ["15-2051.00"],
         "modality": "online", "length_weeks": 16, "hours": 180,
         "cost_to_participant": {"amount": "350.00", "currency": "USD"}, "funding_sources": ["good_jobs_challenge"]},
    ],
    "forge-coding-bootcamp": [
        {"program_id": "forge-web", "name": "Full-Stack Web Development", "onet_soc_codes": ["15-1254.00"],
         "modality": "in_person", "length_weeks": 16, "hours": 560,
         "cost_to_participant": {"amount": "0.00", "currency": "USD"}, "funding_sources": ["employer", "scholarship"]},
        {"program_id": "forge-swe", "name": "Software Engineering",
         "credential": {"name": "AWS Certified Cloud Practitioner"}, "onet_soc_codes": ["15-1252.00"],
         "modality": "hybrid", "length_weeks": 16, "hours": 560,
         "cost_to_participant": {"amount": "1500.00", "currency": "USD"}, "funding_sources": ["wioa", "self_pay"]},
    ],
}

# The demo employers' openings (`POST /v1/openings` without capacity and location, which the
# demo sets); `hired_as` is the title an intern converted to full time gets.
OPENINGS: dict[str, list[dict[str, Any]]] = {
    "civic-data-labs": [
        {"title": "Junior Data Analyst", "onet_soc_code": "15-2051.00", "required_skills": ["python", "sql"],
         "preferred_skills": ["pandas", "tableau"], "wage": 31.5, "remote": True, "employment_type": "full_time"},
        {"title": "Web Development Intern", "onet_soc_code": "15-1254.00",
         "required_skills": ["javascript", "html", "css"], "preferred_skills": ["react", "git"], "wage": 21.0,
         "remote": False, "employment_type": "internship", "hired_as": "Junior Web Developer"},
    ],
    "harborview-health": [
        {"title": "IT Support Specialist", "onet_soc_code": "15-1232.00",
         "required_skills": ["troubleshooting", "windows"], "preferred_skills": ["networking", "customer service"],
         "wage": 26.0, "remote": False, "employment_type": "full_time"},
        {"title": "Security Analyst Apprentice", "onet_soc_code": "15-1212.00", "required_skills": ["networking", "linux"],
         "preferred_skills": ["security+", "python"], "wage": 29.0, "remote": True, "employment_type": "apprenticeship",
         "apprenticeship_registered": True},
    ],
    "bluewave-fintech": [
        {"title": "Junior Software Developer", "onet_soc_code": "15-1252.00", "required_skills": ["python", "git"],
         "preferred_skills": ["docker", "aws", "sql"], "wage": 38.0, "remote": False, "employment_type": "full_time"},
        {"title": "QA Analyst", "onet_soc_code": "15-1253.00", "required_skills": ["testing", "sql"],
         "preferred_skills": ["selenium", "python"], "wage": 30.0, "remote": False, "employment_type": "full_time"},
    ],
}


def opening_body(post: dict[str, Any], capacity: int, location: str = "New York, NY") -> dict[str, Any]:
    """An OPENINGS entry as `POST /v1/openings` takes it."""
    return {k: v for k, v in post.items() if k not in ("wage", "hired_as")} | {
        "capacity": capacity, "location": location, "wage": {"amount": f"{post['wage']:.2f}", "unit": "hour"}}


@dataclass(frozen=True)
class Person:
    n: int
    given: str
    family: str
    email: str
    phone: str
    skills: list[str]
    program: str
    soc: str
    cert: str | None
    completed: date
    consent_on: date
    gender: str
    veteran: bool
    extra: dict[str, Any] = field(default_factory=dict)


def person(n: int, run: str = "demo", seed: int = 7) -> Person:
    rng = random.Random(f"{seed}-{n}")
    skills, program, soc = rng.choice(TRACKS)
    skills = list(skills)
    if rng.random() < 0.2:  # some lack one core skill
        skills.pop(rng.randrange(2))
    skills += rng.sample(EXTRAS, 2)
    completed = date(2026, 6, 1) + timedelta(days=rng.randrange(150))
    given, family = rng.choice(GIVEN), rng.choice(FAMILY)
    return Person(
        n=n,
        given=given,
        family=family,
        email=f"{given.lower()}.{family.lower()}.{run}.{n}@example.org",
        phone=_phone(n, run),
        skills=skills,
        program=program,
        soc=soc,
        cert=rng.choice(CERTS) if rng.random() < 0.6 else None,
        completed=completed,
        consent_on=completed + timedelta(days=rng.randrange(1, 10)),
        gender=rng.choice(["female", "male", "nonbinary", "unknown"]),
        veteran=rng.random() < 0.08,
    )


def _phone(n: int, run: str) -> str:
    """Distinct for every (n, run) up to 720,000 people per run: the same phone is the same person."""
    salt = int(hashlib.sha256(run.encode()).hexdigest(), 16)
    area = 200 + (n + salt) % 800
    line = 100 + (n // 800 + salt // 800) % 900
    return f"+1 ({area}) 555-{line:04d}"


# --- each partner's shape ------------------------------------------------------------------

NORTHSIDE_COLUMNS = ["Contact ID", "First Name", "Last Name", "Email", "Mobile", "Home Phone", "Skills",
                     "Program Enrollment: Program Name", "Program Enrollment: End Date", "Certification",
                     "Certification Status", "Target Occupation Code", "Employer Sharing Consent", "Reporting Consent",
                     "Consent Date", "Gender", "Race/Ethnicity", "Veteran"]
RIVERBEND_COLUMNS = ["STUDENT_ID", "FIRST_NM", "LAST_NM", "PERSONAL_EMAIL", "CAMPUS_EMAIL", "PHONE", "COMPETENCIES",
                     "PROGRAM_DESC", "COMPLETION_DT", "AWARD_DESC", "AWARD_STATUS", "AWARD_DT", "INDUSTRY_CERT",
                     "INDUSTRY_CERT_STATUS", "TARGET_SOC", "FERPA_RELEASE", "DATA_SHARING", "RELEASE_DT", "GENDER",
                     "VETERAN_IND"]


def northside_row(p: Person, run: str = "demo") -> dict[str, str]:
    gender = {"female": "Female", "male": "Male", "nonbinary": "Non-binary", "unknown": "Prefer not to say"}[p.gender]
    return {
        "Contact ID": f"003{run}{p.n:08d}",
        "First Name": p.given,
        "Last Name": p.family,
        "Email": p.email,
        "Mobile": p.phone,
        "Home Phone": "",
        "Skills": "; ".join(p.skills),
        "Program Enrollment: Program Name": p.program,
        "Program Enrollment: End Date": p.completed.strftime("%m/%d/%Y"),
        "Certification": p.cert or "",
        "Certification Status": "Earned" if p.cert else "",
        "Target Occupation Code": p.soc,
        "Employer Sharing Consent": "1",
        "Reporting Consent": "1" if p.n % 3 else "0",
        "Consent Date": p.consent_on.strftime("%m/%d/%Y"),
        "Gender": gender,
        "Race/Ethnicity": ["Black or African American", "Hispanic or Latino", "Asian", "White;Hispanic or Latino",
                           "Prefer not to say"][p.n % 5],
        "Veteran": "1" if p.veteran else "0",
    }


def riverbend_row(p: Person, run: str = "demo") -> dict[str, str]:
    return {
        "STUDENT_ID": f"RB{run.upper()}{p.n:07d}",
        "FIRST_NM": p.given.upper(),
        "LAST_NM": p.family.upper(),
        "PERSONAL_EMAIL": p.email if p.n % 4 else "",
        "CAMPUS_EMAIL": p.email,
        "PHONE": p.phone.replace("+1 ", ""),
        "COMPETENCIES": "|".join(p.skills),
        "PROGRAM_DESC": f"{p.program} Certificate",
        "COMPLETION_DT": p.completed.strftime("%Y%m%d"),
        "AWARD_DESC": f"Certificate of Completion: {p.program}",
        "AWARD_STATUS": "CMPL",
        "AWARD_DT": p.completed.strftime("%Y%m%d"),
        "INDUSTRY_CERT": p.cert or "",
        "INDUSTRY_CERT_STATUS": "CMPL" if p.cert else "",
        "TARGET_SOC": p.soc[:7],
        "FERPA_RELEASE": "Y",
        "DATA_SHARING": "Y" if p.n % 2 else "N",
        "RELEASE_DT": p.consent_on.strftime("%Y%m%d"),
        "GENDER": {"female": "F", "male": "M", "nonbinary": "X", "unknown": "U"}[p.gender],
        "VETERAN_IND": "Y" if p.veteran else "N",
    }


def forge_payload(p: Person, run: str = "demo") -> dict[str, Any]:
    certs = [{"title": p.cert, "issuer": "CompTIA" if "CompTIA" in p.cert else None, "state": "passed",
              "earned_on": p.completed.isoformat()}] if p.cert else []
    return {
        "event": "graduate.referred",
        "data": {
            "graduate": {
                "uuid": f"fg-{run}-{p.n:06d}",
                "name": {"first": p.given, "last": p.family},
                "contact": {"email": p.email.upper() if p.n % 5 == 0 else p.email, "phone": p.phone},
                "skills": [{"label": s, "level": "proficient"} for s in p.skills],
                "certifications": certs,
                "self_id": {"gender": {"female": "woman", "male": "man", "nonbinary": "non-binary",
                                       "unknown": "prefer not to say"}[p.gender], "veteran": p.veteran,
                            "race": [["asian"], ["black or african american"], ["white"], ["hispanic or latino"]][p.n % 4]},
            },
            "cohort": {"track": p.program, "graduated_on": p.completed.isoformat()},
            "goal": {"soc": p.soc},
            "consent": {"employers": True, "reporting": p.n % 2 == 0, "contact": p.n % 4 != 1, "at": f"{p.consent_on.isoformat()}T17:00:00-08:00"},
        },
    }


# --- a training provider's enrollments ------------------------------------------------------
#
# An enrollment as it now stands, in TalentLoop's own terms (`POST /v1/enrollments` without the
# candidate): program_id, status, enrolled_on, completed_on | exited_on + exit_reason, progress,
# credentials, consent. Each provider's shape is made from it.

RIVERBEND_TRAINING_COLUMNS = ["ENROLLMENT_ID", "PROGRAM_CODE", "FIRST_NM", "LAST_NM", "PERSONAL_EMAIL", "CAMPUS_EMAIL",
                              "PHONE", "ENROLL_STATUS", "ENROLL_DT", "COMPLETION_DT", "WITHDRAW_DT", "WITHDRAW_RSN",
                              "MSG_DT", "MSG_TYPE", "AWARD_DESC", "AWARD_CTID", "AWARD_DT", "DATA_SHARING",
                              "OUTCOME_RELEASE", "RELEASE_DT", "GENDER", "VETERAN_IND"]
_STATUS_CODES = {"enrolled": "ACTV", "completed": "CMPL", "exited": "WDRW"}
_EXIT_CODES = {"employment": "EMPL", "personal": "PERS", "financial": "FIN", "transportation": "TRAN",
               "childcare": "CHLD", "health": "HLTH", "dismissed": "DISM", "transferred": "XFER"}
_MILESTONE_CODES = {"skills_gain": "SKILL", "module_completed": "MOD", "exam_passed": "EXAM"}


def enrollment_body(p: Person, record: dict[str, Any], external_id: str) -> dict[str, Any]:
    """`POST /v1/enrollments`: the record with the participant's contact and self-identification."""
    return {"external_id": external_id, **record,
            "candidate": {"given_name": p.given, "family_name": p.family, "email": p.email, "phone": p.phone},
            "demographics": {"gender": None if p.gender == "unknown" else p.gender, "veteran_status": p.veteran}}


def riverbend_training_row(p: Person, record: dict[str, Any], external_id: str) -> dict[str, str]:
    """The registrar's nightly row of the enrollment (deploy/adapters/riverbend-community-college.training.csv.yaml)."""
    def day(key: str, of: dict[str, Any] | None = None) -> str:
        value = (record if of is None else of).get(key)
        return value.replace("-", "") if value else ""

    progress = record.get("progress") or {}
    [award] = record.get("credentials") or [{}]
    consent = record["consent"]
    return {
        "ENROLLMENT_ID": external_id,
        "PROGRAM_CODE": record["program_id"],
        "FIRST_NM": p.given.upper(),
        "LAST_NM": p.family.upper(),
        "PERSONAL_EMAIL": p.email if p.n % 4 else "",
        "CAMPUS_EMAIL": p.email,
        "PHONE": p.phone.replace("+1 ", ""),
        "ENROLL_STATUS": _STATUS_CODES[record["status"]],
        "ENROLL_DT": day("enrolled_on"),
        "COMPLETION_DT": day("completed_on"),
        "WITHDRAW_DT": day("exited_on"),
        "WITHDRAW_RSN": _EXIT_CODES.get(record.get("exit_reason") or "", ""),
        "MSG_DT": day("as_of", progress),
        "MSG_TYPE": _MILESTONE_CODES.get(progress.get("milestone", ""), ""),
        "AWARD_DESC": award.get("name", ""),
        "AWARD_CTID": award.get("ctdl_id") or "",
        "AWARD_DT": day("awarded_on", award),
        "DATA_SHARING": "Y" if consent["aggregate_reports"] else "N",
        "OUTCOME_RELEASE": "Y" if consent["share_outcomes_with_provider"] else "N",
        "RELEASE_DT": consent["given_at"][:10].replace("-", ""),
        "GENDER": {"female": "F", "male": "M", "nonbinary": "X", "unknown": "U"}[p.gender],
        "VETERAN_IND": "Y" if p.veteran else "N",
    }


_FORGE_STATUS = {"enrolled": "active", "completed": "graduated", "exited": "withdrawn"}


def forge_training_payload(p: Person, record: dict[str, Any], external_id: str) -> dict[str, Any]:
    """The bootcamp CRM's `enrollment.updated` webhook (also one record on its training topic),
    mapped by examples/partners/forge-coding-bootcamp.training.json.yaml."""
    progress = record.get("progress")
    enrollment: dict[str, Any] = {
        "id": external_id, "program": record["program_id"], "status": _FORGE_STATUS[record["status"]],
        "started_on": record["enrolled_on"],
        **({"graduated_on": record["completed_on"]} if record.get("completed_on") else {}),
        **({"withdrawn": {"on": record["exited_on"], "reason": record["exit_reason"]}} if record.get("exited_on") else {}),
        **({"checkpoint": {"on": progress["as_of"], "kind": progress["milestone"], "percent": progress["percent_complete"]}}
           if progress else {}),
        "certifications": [{"title": c["name"], "earned_on": c["awarded_on"]} for c in record.get("credentials", [])],
    }
    consent = record["consent"]
    return {
        "event": "enrollment.updated",
        "data": {
            "student": {"name": {"first": p.given, "last": p.family}, "contact": {"email": p.email, "phone": p.phone},
                        "self_id": {"gender": {"female": "woman", "male": "man", "nonbinary": "non-binary",
                                               "unknown": "prefer not to say"}[p.gender], "veteran": p.veteran}},
            "enrollment": enrollment,
            "consent": {"reporting": consent["aggregate_reports"], "outcomes": consent["share_outcomes_with_provider"],
                        "at": consent["given_at"]},
        },
    }


def csv_text(columns: list[str], rows: Iterator[dict[str, str]] | list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def write_csv(path: Any, columns: list[str], rows: Iterator[dict[str, str]]) -> int:
    """Stream rows to a file (the benchmark writes 100,000 this way); returns the count."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def example_trainees() -> list[tuple[Person, dict[str, Any]]]:
    """Four made-up participants of Forge's and Riverbend's programs (completed with a
    credential, completed, in training with progress, exited), as they stand on 2026-11-20."""
    def record(program: dict[str, Any], status: str, n: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "program_id": program["program_id"], "status": status, "enrolled_on": "2026-07-27",
            "progress": {"as_of": "2026-09-21", "milestone": "module_completed", "percent_complete": 50},
            "consent": {"aggregate_reports": n % 2 == 0, "share_outcomes_with_provider": True,
                        "given_at": "2026-07-27T13:00:00+00:00"},
        }
        if status == "completed":
            out["completed_on"] = "2026-11-13"
            if program.get("credential") and n % 2 == 0:
                out["credentials"] = [{"name": program["credential"]["name"], "awarded_on": "2026-11-13"}]
        if status == "exited":
            out |= {"exited_on": "2026-09-18", "exit_reason": "transportation"}
            del out["progress"]
        return out

    statuses = ["completed", "completed", "enrolled", "exited"]
    return [(person(n, run="example"), record(PROGRAMS[provider][(n + 1) % 2], statuses[n], n))
            for provider in PROGRAMS for n in range(4)]


def write_examples(folder: Any, count: int = 10) -> list[Any]:
    """The files in examples/partners/ and examples/employers/ under `folder` (kept true by
    tests/unit/test_examples.py, which regenerates them and sends each through what reads it)."""
    root = Path(folder)
    (root / "partners").mkdir(parents=True, exist_ok=True)
    (root / "employers").mkdir(parents=True, exist_ok=True)
    people = [person(n, run="example") for n in range(count)]
    trainees = example_trainees()
    forge = [(p, r) for p, r in trainees if r["program_id"].startswith("forge-")]
    riverbend = [(p, r) for p, r in trainees if not r["program_id"].startswith("forge-")]
    intern = OPENINGS["civic-data-labs"][1]
    terms = {"job_title": intern["title"], "onet_soc_code": intern["onet_soc_code"], "employment_type": "internship",
             "wage": {"amount": "21.00", "unit": "hour"}, "hours_per_week": 40,
             "benefits": {"health": False, "retirement": False, "paid_leave": False},
             "start_date": "2026-06-01", "end_date": "2026-08-24"}
    conversion = {"converted_on": "2026-07-27", "job_title": intern["hired_as"], "onet_soc_code": intern["onet_soc_code"],
                  "employment_type": "full_time", "wage": {"amount": "33.50", "unit": "hour"}, "hours_per_week": 40,
                  "benefits": {"health": True, "retirement": True, "paid_leave": True}}

    def as_json(doc: Any) -> str:
        return json.dumps(doc, indent=2) + "\n"

    files = {
        "partners/northside-tech-collective.csv": csv_text(NORTHSIDE_COLUMNS, [northside_row(p, "example") for p in people]),
        "partners/riverbend-community-college.csv": csv_text(RIVERBEND_COLUMNS, [riverbend_row(p, "example") for p in people]),
        "partners/forge-coding-bootcamp.webhook.json": as_json(forge_payload(people[0], "example")),
        "partners/forge-coding-bootcamp.kafka.ndjson": "".join(json.dumps(forge_payload(p, "example")) + "\n"
                                                               for p in people[1:4]),
        "partners/forge-coding-bootcamp.program.json": as_json(PROGRAMS["forge-coding-bootcamp"][1]),
        "partners/forge-coding-bootcamp.enrollment.json": as_json(enrollment_body(*forge[0], "fg-enr-example-000000")),
        "partners/forge-coding-bootcamp.training.webhook.json": as_json(
            forge_training_payload(*forge[1], "fg-enr-example-000001")),
        "partners/forge-coding-bootcamp.training.kafka.ndjson": "".join(
            json.dumps(forge_training_payload(p, r, f"fg-enr-example-{p.n:06d}")) + "\n" for p, r in forge[2:]),
        "partners/riverbend-community-college.training.csv": csv_text(RIVERBEND_TRAINING_COLUMNS, [
            riverbend_training_row(p, r, f"RBEEXAMPLE{p.n:07d}") for p, r in riverbend]),
        "employers/civic-data-labs.internship-opening.json": as_json(opening_body(intern, capacity=4)),
        "employers/civic-data-labs.internship-placement.json": as_json(terms),
        "employers/civic-data-labs.conversion.json": as_json(conversion),
    }
    for name, text in files.items():
        (root / name).write_text(text)
    return [root / name for name in files]


if __name__ == "__main__":
    import sys

    for path in write_examples(sys.argv[1] if len(sys.argv) > 1 else "examples"):
        print(f"wrote {path}")
