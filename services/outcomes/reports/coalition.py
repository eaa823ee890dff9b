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
`threshold` people; the smaller ones are combined into one row (funnel.SMALL_GROUPS), which
takes the smallest published group while it counts `threshold` people or fewer; a combined
row (or total) still that small is suppressed: every count None and `suppressed` true.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from services.outcomes import pipeline
from services.outcomes.pipeline import Enrolled
from services.outcomes.reports.funnel import SMALL_GROUPS

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


def _people(enrolled: Iterable[Enrolled]) -> int:
    return len({e.trainee.person_key for e in enrolled})


def summarize(enrolled: list[Enrolled], hires: list[pipeline.Hire], threshold: int | None = None) -> dict[str, Any]:
    """One group's coalition funnel; suppressed whole when it counts 1 to `threshold` people."""
    if threshold is not None and 1 <= _people(enrolled) <= threshold:
        return {"suppressed": True, "people": None, "lines": lines_of(None)}
    counts = pipeline.pipeline_funnel((e.trainee for e in enrolled), hires)
    return {"suppressed": False, "people": _people(enrolled), "lines": lines_of(counts)}


def grouped(enrolled: list[Enrolled], hires: list[pipeline.Hire], dimension: str,
            threshold: int | None = None) -> list[dict[str, Any]]:
    """The groups of one dimension, sorted by label; suppressed by groups with a `threshold`."""
    key = groups_of(dimension)
    groups: dict[str, list[Enrolled]] = {}
    for e in enrolled:
        for g in key(e):
            groups.setdefault(g, []).append(e)
    combined: dict[int, Enrolled] = {}  # by identity: overlapping groups share enrollments
    if threshold is not None:
        people = {g: _people(es) for g, es in groups.items()}
        small = [g for g in groups if people[g] <= threshold]
        larger = sorted((g for g in groups if g not in small), key=lambda g: (people[g], g))
        combined = {id(e): e for g in small for e in groups[g]}
        while combined and _people(combined.values()) <= threshold and larger:
            combined.update((id(e), e) for e in groups[larger.pop(0)])
        groups = {g: groups[g] for g in larger}
    out = [{"group": g, **summarize(groups[g], hires, threshold)} for g in sorted(groups)]
    if combined:
        out.append({"group": SMALL_GROUPS, **summarize(list(combined.values()), hires, threshold)})
    return out


def coalition_funnel(enrolled: Iterable[Enrolled], hires: Iterable[pipeline.Hire],
                     threshold: int | None = None) -> dict[str, Any]:
    """The coalition funnel in total and by every dimension (suppressed by groups with a
    `threshold`)."""
    enrolled, hires = list(enrolled), list(hires)
    return {
        "total": summarize(enrolled, hires, threshold),
        "by": {d: grouped(enrolled, hires, d, threshold) for d in DIMENSIONS},
        "groups_overlap": True,
        "suppression_threshold": threshold,
        "definitions": DEFINITIONS,
    }
