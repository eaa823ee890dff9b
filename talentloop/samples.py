"""Made-up jobseekers in each example partner's own record shape (deploy/adapters/).

Used by the demo, the benchmark, the tests and `examples/partners/`. Names, e-mails
(example.org) and phone numbers (exchange 555) are invented.
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


def write_examples(folder: Any, count: int = 10) -> list[Any]:
    """The files in examples/partners/ (kept true by a test that regenerates them)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    people = [person(n, run="example") for n in range(count)]
    files = {
        "northside-tech-collective.csv": csv_text(NORTHSIDE_COLUMNS, [northside_row(p, "example") for p in people]),
        "riverbend-community-college.csv": csv_text(RIVERBEND_COLUMNS, [riverbend_row(p, "example") for p in people]),
        "forge-coding-bootcamp.webhook.json": json.dumps(forge_payload(people[0], "example"), indent=2) + "\n",
        "forge-coding-bootcamp.kafka.ndjson": "".join(json.dumps(forge_payload(p, "example")) + "\n" for p in people[1:4]),
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return [folder / name for name in files]


if __name__ == "__main__":
    import sys

    for path in write_examples(sys.argv[1] if len(sys.argv) > 1 else "examples/partners"):
        print(f"wrote {path}")
