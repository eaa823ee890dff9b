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
funnel, `referred` to `retained_180_days` (`placed` among them: a program named with 12 placed people
in one release and 14 in the next gives the 2 placed between), the people placed by employment type,
and the program outcomes' other counts: people still in training, placements, good jobs assessed
and good jobs (referrals: each a set of referral ids per program, as each people line is a set of
people). So:

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
(`Earlier.published`: its stored pipeline table's and program outcomes' program rows) and, where it
published none (its combined row suppressed, the whole release suppressed, a program it did not
count), the figures it **computed** (`Earlier.held`: its blocks and every block's figure per line,
`held`, stored with it by `publish`, never published), so an event that occurred before its last
event but arrived after it was made (a late enrollment) is counted in neither. Only for a release
stored without them (before outcomes migration 018) are they read from the ledger: its people per
program as of its ledger position (`Earlier.people`) and per line those of them in it by then
(`Earlier.reached`, the lines with a time: `LEDGER_LINES`), which counts a late event as "then"; a
line without a reading is then held only where it published the figure. Hiring by employer is not
held to this: each year's table counts the hires starting in that year only, so two years share no
hire (two releases of the same year from two positions do: release.hiring_report suppresses a
table that differs from the stored one). Rates and medians are not held: a rate is two held counts
over each other, a median no count of anyone (docs/transparency.md, "Across years").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.outcomes.pipeline import COMPLETIONS_RECORDED, EMPLOYMENT_TYPES, STAGES, Enrolled, Hire, furthest
from services.outcomes.reports.credentials import Inputs
from services.outcomes.reports.good_jobs import GoodJobPolicy, comparable, shortfalls
from services.outcomes.reports.groups import SMALL_GROUPS, suppressed_groups
from services.outcomes.reports.suppression import THRESHOLD
from services.outcomes.reports.wioa_training import exit_on

# The funnel's lines held besides the people enrolled: its training lines, then its referral stages.
TRAINING_LINES = ("completed_training", "credential_earned", COMPLETIONS_RECORDED)
# The pipeline table's job lines after the stages: 180-day retention (a flag with no time of its
# own), then the people placed by employment type.
JOB_LINES = ("retained_180_days", *EMPLOYMENT_TYPES)
STAGES_HELD = (*TRAINING_LINES, *STAGES, *JOB_LINES)
# The program outcomes' counts that are not the funnel's: people, then referrals (placements).
OUTCOME_LINES = ("still_in_training", "placements", "good_jobs_assessed", "good_jobs")
# Every line held, as the pipeline table and the program outcomes name them.
LINES_HELD = ("enrolled", *STAGES_HELD, *OUTCOME_LINES)
# The lines the ledger can be read for as of an earlier position (each event has its time): a
# release stored without its figures (before outcomes migration 018) is held to the others only
# where it published them.
LEDGER_LINES = ("enrolled", *TRAINING_LINES, *STAGES)


@dataclass(frozen=True)
class Held:
    """What a release computed for the blocks of its program dimension, published or not, stored with
    it (outcomes migration 018) for the releases after it: `blocks`, each program it counted anyone
    in -> its block (the program when named, SMALL_GROUPS for the combined row; a program it counted
    nobody in is a block of its own and not listed), and `figures`, per line of LINES_HELD, per block,
    the figure (a block without one: 0)."""

    blocks: Mapping[str, str]
    figures: Mapping[str, Mapping[str, int]]

    def as_dict(self) -> dict:
        return {"blocks": dict(self.blocks), "figures": {line: dict(f) for line, f in self.figures.items()}}


@dataclass(frozen=True)
class Earlier:
    """The release this one is suppressed against: its year, release.json's sha256, the programs it
    named, what it published (`published`: per line of LINES_HELD, per row of its pipeline table's
    program dimension and of its program outcomes, a program or SMALL_GROUPS, the figure shown; None
    when its tables are not at hand), what it computed (`held`, stored with it; None for a release
    stored before migration 018, whose figures are then read from `people`, each program's people as
    of its ledger position, and `reached`, per line of LEDGER_LINES those of them in it then:
    `stage_people`), its hiring_by_employer table (`hiring`: (employer_id, dimension, category) ->
    hires as shown, a number or "suppressed"; release.hiring_report holds a release of the same year
    to it), and whether release.json lists it (`listed`: not a release of this very ledger position,
    whose events are this one's and which it is held to only because an erasure may have moved a
    figure since)."""

    year: int
    release_sha256: str
    named: frozenset[str]
    people: Mapping[str, frozenset[str]]
    reached: Mapping[str, Mapping[str, frozenset[str]]]
    published: Mapping[str, Mapping[str, int]] | None = None
    hiring: Mapping[tuple[str, str, str], int | str] | None = None
    held: Held | None = None
    listed: bool = True


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
    their referrals (a 180-day retention reaches every stage); placed by employment type, the types of
    any of their placements (not exclusive)."""
    enrolled = list(enrolled)
    people = program_people(enrolled)
    trained: dict[str, dict[str, set[str]]] = {line: {} for line in TRAINING_LINES}
    for e in enrolled:
        t = e.trainee
        completed = t.status == "completed"
        for line, held in zip(TRAINING_LINES, (completed or t.credential, t.credential, completed), strict=True):
            if held:
                trained[line].setdefault(e.program, set()).add(t.person_key)
    job_stages = (*STAGES, JOB_LINES[0])
    reach: dict[str, int] = {}
    types: dict[str, set[str]] = {}
    for h in hires:
        index = len(job_stages) - 1 if "retained_180_days" in h.flags else furthest(h.evidence)
        reach[h.person_key] = max(reach.get(h.person_key, 0), index)
        types.setdefault(h.person_key, set()).update(h.employment_types)
    return {
        **{line: {p: frozenset(ks) for p, ks in trained[line].items()} for line in TRAINING_LINES},
        **{
            stage: {p: frozenset(k for k in ks if reach.get(k, -1) >= i) for p, ks in people.items()}
            for i, stage in enumerate(job_stages)
        },
        **{
            kind: {p: frozenset(k for k in ks if kind in types.get(k, ())) for p, ks in people.items()}
            for kind in EMPLOYMENT_TYPES
        },
    }


def outcome_sets(inputs: Inputs, policy: GoodJobPolicy) -> dict[str, dict[str, frozenset[str]]]:
    """Per line of OUTCOME_LINES, per program, what the program outcomes count (credentials.figures,
    every participant's referrals): its people still in training (no enrollment in it ended or
    completed), and the referral ids of its people's placements in the policy's currency, of those
    assessed against the good-job rule, of the good jobs. A block's figure is the size of the union
    of its programs' sets (a person enrolled in two programs of one block is one, as in the row)."""
    mine: dict[str, set[str]] = {}
    done: dict[str, set[str]] = {}
    for e in inputs.enrollments:
        mine.setdefault(e.record.program, set()).add(e.person_key)
        if exit_on(e.record) is not None or e.record.status == "completed":
            done.setdefault(e.record.program, set()).add(e.person_key)
    placed: dict[str, set[str]] = {}
    assessed: dict[str, set[str]] = {}
    good: dict[str, set[str]] = {}
    for r in inputs.referrals:
        p = r.placement
        if p is None or not comparable(p, policy):
            continue
        key = r.person_key or f"referral:{r.referral_id}"
        placed.setdefault(key, set()).add(r.referral_id)
        if p.employment_type in policy.counted_types:
            assessed.setdefault(key, set()).add(r.referral_id)
            if not shortfalls(p, policy):
                good.setdefault(key, set()).add(r.referral_id)

    def of(by_person: Mapping[str, set[str]]) -> dict[str, frozenset[str]]:
        return {prog: frozenset(x for k in ks for x in by_person.get(k, ())) for prog, ks in mine.items()}

    return {
        "still_in_training": {prog: frozenset(ks - done.get(prog, set())) for prog, ks in mine.items()},
        "placements": of(placed),
        "good_jobs_assessed": of(assessed),
        "good_jobs": of(good),
    }


def lines(
    people: Mapping[str, frozenset[str]], reached: Mapping[str, Mapping[str, frozenset[str]]]
) -> dict[str, Mapping[str, frozenset[str]]]:
    """The lines held to the rule that `reached` reads, each program -> its people (or referrals):
    enrolled, then every other of LINES_HELD it has."""
    return {"enrolled": people, **{line: reached[line] for line in LINES_HELD[1:] if line in reached}}


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


def held(enrolled: list[Enrolled], hires: Iterable[Hire], outcomes: Mapping, named: Iterable[str]) -> Held:
    """What the release computed for its blocks (`named`: the programs it names), to be stored with it."""
    now = program_people(enrolled)
    kept = frozenset(named)
    members: dict[str, list[str]] = {}
    for p in sorted(now):
        members.setdefault(p if p in kept else SMALL_GROUPS, []).append(p)
    now_lines = lines(now, {**stage_people(enrolled, hires), **outcomes})
    figures: dict[str, dict[str, int]] = {}
    for line, sets in now_lines.items():
        sizes = {label: len(frozenset().union(*(sets.get(p, ()) for p in ps))) for label, ps in sorted(members.items())}
        figures[line] = {label: n for label, n in sizes.items() if n}
    return Held({p: label for label, ps in members.items() for p in ps}, figures)


def against(
    enrolled: list[Enrolled],
    hires: Iterable[Hire],
    earlier: Earlier | Iterable[Earlier],
    threshold: int = THRESHOLD,
    outcomes: Mapping[str, Mapping[str, frozenset[str]]] | None = None,
) -> Against:
    """Against one earlier release, or several (every earlier year's: each pair of this release and
    one of them, to a fixed point). `hires`: the referrals the release's funnel counts; `outcomes`:
    the program outcomes' sets (`outcome_sets`), when they are held too."""
    earliers = [earlier] if isinstance(earlier, Earlier) else list(earlier)
    now = program_people(enrolled)
    now_lines = lines(now, {**stage_people(enrolled, hires), **(outcomes or {})})
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


EARLIER_REST = "\0earlier rest"


def _small_components(
    earlier: Earlier, now: Mapping[str, frozenset[str]], now_lines: Mapping, named: set[str], threshold: int
) -> list[frozenset[str]]:
    if earlier.held is not None:
        programs = sorted(set(now) | set(earlier.held.blocks))
        counted = earlier.held.blocks
        before = {p: EARLIER_REST if counted.get(p) == SMALL_GROUPS else p for p in programs}
    else:
        programs = sorted(set(now) | set(earlier.people))
        before = _blocks(programs, earlier.named, earlier.people, EARLIER_REST)
    after = _blocks(programs, named, now, "\0rest")
    then_lines = lines(earlier.people, {k: v for k, v in earlier.reached.items() if k in LEDGER_LINES})
    shown = earlier.published or {}
    out = []
    for c in components(programs, (before, after)):
        for line, n in now_lines.items():
            then = _then(earlier, c, before, line, then_lines.get(line), shown.get(line, {}))
            # either way: `then` may be the later (a release made from a later ledger position stored first)
            if then is not None and 1 <= abs(_figure(c, after, n) - then) <= threshold:
                out.append(c)
                break
    return out


def _figure(component: frozenset[str], blocks: Mapping[str, str], people: Mapping[str, frozenset[str]]) -> int:
    """The component's figure as a reader adds it up: the sum of its blocks' rows, each its people's number."""
    members: dict[str, set[str]] = {}
    for p in component:
        members.setdefault(blocks[p], set()).update(people.get(p, ()))
    return sum(len(ks) for ks in members.values())


def _then(
    earlier: Earlier,
    component: frozenset[str],
    blocks: Mapping[str, str],
    line: str,
    read: Mapping[str, frozenset[str]] | None,
    shown: Mapping[str, int],
) -> int | None:
    """The earlier release's figure of the component in `line`: per block, the figure it published,
    else the one it computed (`held`), else the ledger's reading; None when a block has none of them
    (a line the ledger has no reading of, for a release stored without its figures)."""
    total = 0
    for label in {blocks[p] for p in component}:
        row = SMALL_GROUPS if label == EARLIER_REST else label
        if isinstance(figure := shown.get(row), int):
            total += figure
        elif earlier.held is not None:
            total += earlier.held.figures.get(line, {}).get(row, 0)
        elif read is not None:
            members = [p for p in component if blocks[p] == label]
            total += len(frozenset().union(*(read.get(p, frozenset()) for p in members)))
        else:
            return None
    return total
