"""A release suppressed against the releases stored before it: of earlier years, and of the same or a
later year made from another ledger position (issue 16; docs/transparency.md, "Across years"). Pure.

Each release's people tables are cumulative, so the rows two releases both publish give, by
subtraction, the people who joined between them. In a release every named row is a union of named
programs and every combined row the rest ("Nested groups"), so what a reader can subtract is set by
two partitions of the programs: the earlier release's blocks and this one's. A block is a named
program, a program with nobody (a reader may know it had none), or the rest (the combined row).
Programs joined through blocks of either release form a **component**; subtracting the releases
gives exactly each component's increment and nothing finer: per **line** of the funnel each row
publishes, the people now less the people then. The lines held: `enrolled` (the people), the
training lines (completed, credential earned, completions recorded) and every referral stage of the
funnel, `referred` to `retained_90_days` (`placed` among them: a program named with 12 placed people
in one release and 14 in the next gives the 2 placed between). So:

- while some component's increment in some line is 1 to THRESHOLD people, the programs this release names in it
  are not named (they join the combined row, which joins their component to the rest); a component
  without a named program takes the smallest named program of the release (fewest people, then id);
- when nothing is named and the one component left still grew by 1 to THRESHOLD people in some
  line, every people figure of the release is suppressed (`whole`).

With several stored releases, each pair of this release and one of them is held to the rule, to a
fixed point; the stored ones were held to it among themselves when they were made. A release made
from a later position than this one (stored first) works the same way, its people counted as of
its position: the difference is then what this one lacks.

A figure is what a reader subtracts: per component and line, the sum of the rows of its blocks (a
named program's row, the combined row). The earlier release's figures are those it **published**
(`Earlier.published`: its stored pipeline table's program rows), not the ledger read again: an event
that occurred before its last event but arrived after it was made (a late enrollment) is not in
them, and the ledger would count it as "then". Only where it published none (its combined row
suppressed, a program it did not count) are they read from the ledger: its people per program as
of its ledger position (`Earlier.people`, read by `publish`) and per line those of them in it by
then (`Earlier.reached`: from the events' times), which is also how its blocks are found (a program
with nobody then is a block of its own). Hiring by employer is not held to this: each year's table counts the hires
starting in that year only, so two years share no hire (two releases of the same year from two
positions do: release.hiring_report suppresses a table that differs from the stored one). Not held either: 180-day retention (a flag
without a time), placed by employment type, and the outcomes' figures that are not people
(placements, good jobs; docs/transparency.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.outcomes.pipeline import COMPLETIONS_RECORDED, STAGES, Enrolled, Hire, furthest
from services.outcomes.reports.groups import SMALL_GROUPS, suppressed_groups
from services.outcomes.reports.suppression import THRESHOLD

# The funnel's lines held besides the people enrolled: its training lines, then its referral stages.
TRAINING_LINES = ("completed_training", "credential_earned", COMPLETIONS_RECORDED)
STAGES_HELD = (*TRAINING_LINES, *STAGES)
# Every line held, as the pipeline table names them.
LINES_HELD = ("enrolled", *STAGES_HELD)


@dataclass(frozen=True)
class Earlier:
    """The release this one is suppressed against: its year, release.json's sha256, the programs it
    named, each program's people as of its ledger position, per line of STAGES_HELD those of them in
    it then (`stage_people`), and what it published (`published`: per line of LINES_HELD, per row of
    its pipeline table's program dimension, a program or SMALL_GROUPS, the people shown; None when
    its tables are not at hand, and the figures are then all read from `people` and `reached`), and
    its hiring_by_employer table (`hiring`: (employer_id, dimension, category) -> hires as shown,
    a number or "suppressed"; release.hiring_report holds a release of the same year to it)."""

    year: int
    release_sha256: str
    named: frozenset[str]
    people: Mapping[str, frozenset[str]]
    reached: Mapping[str, Mapping[str, frozenset[str]]]
    published: Mapping[str, Mapping[str, int]] | None = None
    hiring: Mapping[tuple[str, str, str], int | str] | None = None


@dataclass(frozen=True)
class Against:
    """What the release may not name (`forced`) and whether its people figures are all suppressed."""

    forced: frozenset[str] = frozenset()
    whole: bool = False


def program_people(enrolled: Iterable[Enrolled]) -> dict[str, frozenset[str]]:
    out: dict[str, set[str]] = {}
    for e in enrolled:
        out.setdefault(e.program, set()).add(e.trainee.person_key)
    return {p: frozenset(people) for p, people in out.items()}


def stage_people(enrolled: Iterable[Enrolled], hires: Iterable[Hire]) -> dict[str, dict[str, frozenset[str]]]:
    """Per line of the funnel after `enrolled` (STAGES_HELD), per program, its people in the line, as
    the coalition funnel counts them: the training lines over their enrollments in the program (a
    credential earned counts as completed training); the referral stages cumulative, the furthest of
    their referrals (a 180-day retention reaches every stage)."""
    enrolled = list(enrolled)
    people = program_people(enrolled)
    trained: dict[str, dict[str, set[str]]] = {line: {} for line in TRAINING_LINES}
    for e in enrolled:
        t = e.trainee
        completed = t.status == "completed"
        for line, held in zip(TRAINING_LINES, (completed or t.credential, t.credential, completed), strict=True):
            if held:
                trained[line].setdefault(e.program, set()).add(t.person_key)
    reach: dict[str, int] = {}
    for h in hires:
        index = len(STAGES) - 1 if "retained_180_days" in h.flags else furthest(h.evidence)
        reach[h.person_key] = max(reach.get(h.person_key, 0), index)
    return {
        **{line: {p: frozenset(ks) for p, ks in trained[line].items()} for line in TRAINING_LINES},
        **{
            stage: {p: frozenset(k for k in ks if reach.get(k, -1) >= i) for p, ks in people.items()}
            for i, stage in enumerate(STAGES)
        },
    }


def lines(people: Mapping[str, frozenset[str]], reached: Mapping[str, Mapping[str, frozenset[str]]]) -> list:
    """The lines held to the rule, each program -> people: enrolled, then every other (STAGES_HELD)."""
    return [people, *(reached.get(line, {}) for line in STAGES_HELD)]


def named_programs(enrolled: list[Enrolled], forced: Iterable[str], threshold: int = THRESHOLD) -> set[str]:
    """The programs the release names: more than `threshold` people, not `forced` (groups.suppressed_groups)."""
    kept = frozenset(forced)
    groups = suppressed_groups(
        enrolled, lambda e: (e.program,), lambda e: e.trainee.person_key, threshold, lambda label, _: label not in kept
    )
    return {label for label, _ in groups if label != SMALL_GROUPS}


def components(programs: Iterable[str], blocks: Iterable[Mapping[str, str]]) -> list[frozenset[str]]:
    """The programs joined by sharing a block in any of `blocks` (program -> its block's label)."""
    parent: dict[str, str] = {p: p for p in programs}

    def root(p: str) -> str:
        while parent[p] != p:
            parent[p] = parent[parent[p]]
            p = parent[p]
        return p

    for block in blocks:
        first: dict[str, str] = {}
        for p in sorted(parent):
            label = block.get(p, p)
            if label in first:
                parent[root(p)] = root(first[label])
            else:
                first[label] = p
    found: dict[str, set[str]] = {}
    for p in parent:
        found.setdefault(root(p), set()).add(p)
    return sorted((frozenset(c) for c in found.values()), key=sorted)


def _blocks(
    programs: Iterable[str], named: set[str] | frozenset[str], people: Mapping[str, frozenset[str]], rest: str
) -> dict[str, str]:
    return {p: p if p in named or not people.get(p) else rest for p in programs}


def against(
    enrolled: list[Enrolled], hires: Iterable[Hire], earlier: Earlier | Iterable[Earlier], threshold: int = THRESHOLD
) -> Against:
    """Against one earlier release, or several (every earlier year's: each pair of this release and
    one of them, to a fixed point). `hires`: the referrals the release's funnel counts."""
    earliers = [earlier] if isinstance(earlier, Earlier) else list(earlier)
    now = program_people(enrolled)
    now_lines = lines(now, stage_people(enrolled, hires))
    forced: set[str] = set()
    while True:
        named = named_programs(enrolled, forced, threshold)
        small = [c for e in earliers for c in _small_components(e, now, now_lines, named, threshold)]
        if not small:
            return Against(frozenset(forced))
        inside = {p for c in small for p in c if p in named}
        if inside:
            forced |= inside
        elif named:
            forced.add(min(named, key=lambda p: (len(now.get(p, ())), p)))
        else:
            return Against(frozenset(forced), whole=True)


def _small_components(
    earlier: Earlier, now: Mapping[str, frozenset[str]], now_lines: list, named: set[str], threshold: int
) -> list[frozenset[str]]:
    programs = sorted(set(now) | set(earlier.people))
    before = _blocks(programs, earlier.named, earlier.people, EARLIER_REST)
    after = _blocks(programs, named, now, "\0rest")
    found = components(programs, (before, after))
    then_lines = lines(earlier.people, earlier.reached)
    shown = earlier.published or {}
    return [
        c
        for c in found
        if any(
            # either way: `then` may be the later (a release made from a later ledger position stored first)
            1 <= abs(_figure(c, after, n) - _figure(c, before, t, shown.get(line, {}))) <= threshold
            for line, n, t in zip(LINES_HELD, now_lines, then_lines, strict=False)  # a test may hold fewer lines
        )
    ]


EARLIER_REST = "\0earlier rest"


def _figure(
    component: frozenset[str],
    blocks: Mapping[str, str],
    people: Mapping[str, frozenset[str]],
    shown: Mapping[str, int] | None = None,
) -> int:
    """The component's figure as a reader adds it up: the sum of its blocks' rows, each the figure
    `shown` (published) for it when there is one, else its people's number."""
    members: dict[str, set[str]] = {}
    for p in component:
        members.setdefault(blocks[p], set()).update(people.get(p, ()))
    shown = shown or {}
    return sum(
        figure if isinstance(figure := shown.get(SMALL_GROUPS if label == EARLIER_REST else label), int) else len(ks)
        for label, ks in members.items()
    )
