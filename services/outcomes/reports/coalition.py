"""The coalition funnel from training in the reports: in total and by provider, program and
credential (issue 15 item 5; docs/pipeline.md "From training", docs/reports.md "Coalition
funnel").

Counting is `pipeline.pipeline_funnel`'s, over people. A person is in a group when they have an
enrollment in it: with a provider, in a program, or one that earned the credential. The group's
training stages count those enrollments only; its referral stages every referral of those
people the report may count (the store decides which: a provider's report counts another
partner's referrals of a participant only with `outcomes_shared`). Groups overlap: a person
enrolled in two programs is in both, so groups do not add up to the total.

Suppression (`threshold`, set for reports a non-operator reads) by groups in people, as the
referral funnel's (reports/funnel.py): a group is published only if it counts more than
`threshold` people; the smaller ones are combined into one row (groups.SMALL_GROUPS), which
takes the smallest published group while it counts `threshold` people or fewer; a combined
row (or total) still that small is suppressed: every count None and `suppressed` true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from typing import Any

from services.outcomes import pipeline
from services.outcomes.pipeline import Enrolled
from services.outcomes.reports.groups import people, suppressed_groups

DIMENSIONS = ("provider", "program", "credential")
DEFINITIONS = "docs/pipeline.md#from-training-the-coalition-funnel"


def groups_of(dimension: str) -> Callable[[Enrolled], tuple[str, ...]]:
    if dimension == "provider":
        return lambda e: (e.provider,)
    if dimension == "program":
        return lambda e: (e.program,)
    if dimension == "credential":
        return lambda e: tuple(dict.fromkeys(e.credentials))
    raise ValueError(f"unknown dimension {dimension!r}; one of {DIMENSIONS}")


def lines_of(counts: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every line of `pipeline_funnel`'s counts, in order, as (section, line, people) rows
    (people None when `counts` is None: suppressed)."""
    shape = counts or pipeline.empty_pipeline()
    people = shape["people"]
    rows = [("training", s, people["training"][s]) for s in pipeline.TRAINING_STAGES]
    rows.append(("training", pipeline.COMPLETIONS_RECORDED, people[pipeline.COMPLETIONS_RECORDED]))
    rows += [("jobs", s, people["jobs"][s]) for s in pipeline.JOB_STAGES]
    rows += [("placed_by_type", k, people["placed_by_type"][k]) for k in pipeline.EMPLOYMENT_TYPES]
    return [{"section": s, "line": line, "people": n if counts is not None else None} for s, line, n in rows]


def _person(e: Enrolled) -> str:
    return e.trainee.person_key


def _people(enrolled: Iterable[Enrolled]) -> int:
    return people(enrolled, _person)


def summarize(enrolled: list[Enrolled], hires: list[pipeline.Hire], threshold: int | None = None) -> dict[str, Any]:
    """One group's coalition funnel; suppressed whole when it counts 1 to `threshold` people."""
    if threshold is not None and 1 <= _people(enrolled) <= threshold:
        return {"suppressed": True, "people": None, "lines": lines_of(None)}
    counts = pipeline.pipeline_funnel((e.trainee for e in enrolled), hires)
    return {"suppressed": False, "people": _people(enrolled), "lines": lines_of(counts)}


def grouped(enrolled: list[Enrolled], hires: list[pipeline.Hire], dimension: str,
            threshold: int | None = None, nameable: Callable[[str, Set[str]], bool] | None = None) -> list[dict[str, Any]]:
    """The groups of one dimension, sorted by label; suppressed by groups with a `threshold`
    (and `nameable`: groups.suppressed_groups)."""
    return [{"group": g, **summarize(es, hires, threshold)}
            for g, es in suppressed_groups(enrolled, groups_of(dimension), _person, threshold, nameable)]


def coalition_funnel(enrolled: Iterable[Enrolled], hires: Iterable[pipeline.Hire],
                     threshold: int | None = None, nameable: Callable[[str, Set[str]], bool] | None = None) -> dict[str, Any]:
    """The coalition funnel in total and by every dimension (suppressed by groups with a
    `threshold`, and `nameable`)."""
    enrolled, hires = list(enrolled), list(hires)
    return {
        "total": summarize(enrolled, hires, threshold),
        "by": {d: grouped(enrolled, hires, d, threshold, nameable) for d in DIMENSIONS},
        "groups_overlap": True,
        "suppression_threshold": threshold,
        "definitions": DEFINITIONS,
    }
