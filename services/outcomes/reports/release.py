"""The annual open-data release (issue 16 item 5; docs/transparency.md, "The annual release"):
pure, from the reports to the files of a static site.

    files = build(year, position, reports, min_employers)   # {"index.html": b"...", "tables/pipeline.csv": ...}

`reports` holds the coalition funnel (`pipeline`), the credential outcomes (`credentials`), the
demand board (`demand`) and hiring by employer with demographics (`hiring`), each already
suppressed as a non-operator reads it (the release is public). Every table is written three times (an HTML page, CSV, JSON) beside a data dictionary
(every column's meaning, unit and suppression), a methods page and `release.json` (the year, the
ledger position and every file's sha256).

The files depend on their inputs only: no time of the run, keys sorted, rows in the reports'
order (each report sorts its own), floats as Python's shortest round-trip decimal (the reports
round rates to 4 decimals and days to 2) and a whole one as an integer, money as the reports'
strings ("23.50"). So the same
ledger gives the same bytes, whenever and wherever it is published.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, replace
from typing import Any

from services.outcomes.pipeline import ERASED_PREFIX, Enrolled, Hire
from services.outcomes.reports.across_years import Against, Earlier, against, held, named_programs, outcome_sets
from services.outcomes.reports.coalition import coalition_funnel
from services.outcomes.reports.credentials import FIGURES, Inputs, credential_outcomes, credentials_of
from services.outcomes.reports.demand import board
from services.outcomes.reports.good_jobs import GoodJobPolicy
from services.outcomes.reports.hiring import DIMENSIONS as HIRING_DIMENSIONS
from services.outcomes.reports.hiring import HiringInputs, hiring_by_employer, published_employers
from services.outcomes.reports.release_dictionary import entry
from services.outcomes.reports.render import CREDENTIAL_COLUMNS, PROGRAM_COLUMNS, SUPPRESSED_CSV, cell
from services.outcomes.reports.suppression import THRESHOLD

# What the release leaves out and why (the methods page and release.json say so).
NOT_PUBLISHED = (
    "Hiring by employer counts only employers who opted in to publication for the year (their last"
    " choice before the release's ledger position) and only hires of candidates who consented to"
    " aggregate reporting: other employers' hiring, and hires of candidates who did not consent, are"
    " not published, nor how many there are. Peer benchmarks are not published: they are a"
    " provider's view of its own programs."
)


Nameable = Callable[[str, Set[str]], bool]


@dataclass(frozen=True)
class Position:
    """The ledger position a release is made from, in terms a rebuild keeps (sequence numbers are
    renumbered by a rebuild, so they are not used): how many events, the last event's time, and
    the sha256 of their sorted event ids."""

    events: int
    last_event_at: str | None
    event_ids_sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {"events": self.events, "last_event_at": self.last_event_at, "event_ids_sha256": self.event_ids_sha256}


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def public_reports(
    training: tuple[list[Enrolled], list[Hire]],
    programs: Inputs,
    demand: Any,
    policy: GoodJobPolicy,
    min_employers: int,
    hiring: HiringInputs | None = None,
    earlier: Earlier | list[Earlier] | None = None,
) -> dict[str, Any]:
    """The release's reports as the public reads them: the coalition funnel and the credential and
    program outcomes over every participant (every referral of theirs: no provider's view), suppressed
    by groups as a partner's report is (wage medians only over more than THRESHOLD placements), a
    provider or credential named only as a union of named programs, and against the `earlier` years'
    releases when there are some (reports/across_years.py; `held`: what it computed for its program
    blocks, for `publish` to store with it); the demand board (`demand`:
    reports.DemandInputs) under the N-employer rule, as every reader gets it; the year's hiring by the
    employers who opted in, of consenting candidates (`hiring`)."""
    earliers = [] if earlier is None else [earlier] if isinstance(earlier, Earlier) else earlier
    training, programs, tainted = erased_credentials_unnamed(training, programs)
    outcomes = outcome_sets(programs, policy)
    rule = against(training[0], training[1], earliers, THRESHOLD, outcomes) if earliers else Against()
    # Every people figure suppressed: a threshold no group reaches.
    threshold = THRESHOLD if not rule.whole else len(training[0]) + len(programs.enrollments) + THRESHOLD
    nameable = covered_by_named_programs(training[0], rule.forced)

    def credential_nameable(label: str, people: Set[str]) -> bool:
        return label not in tainted and nameable(label, people)

    return {
        "pipeline": coalition_funnel(training[0], training[1], threshold, credential_nameable),
        "credentials": credential_outcomes(programs, policy, None, threshold, THRESHOLD + 1, credential_nameable),
        "demand": board(demand.openings, demand.forecasts, demand.standards, min_employers),
        "hiring": hiring_report(hiring or HiringInputs(), earliers),
        "earlier": earliers,
        # what the release computed for its program blocks, published or not: stored with it (not a
        # file) for the releases after it to be held to (across_years.Held)
        "held": held(training[0], training[1], outcomes, named_programs(training[0], rule.forced, threshold)),
    }


# An earned credential erased with its earner (records.EarnedCredentialRecord.erased): earned, but
# which one is gone. The release counts it as a credential of its own that is never named.
ERASED_NAME, ERASED_CTID = "\0", "\0erased"


def erased_credentials_unnamed(
    training: tuple[list[Enrolled], list[Hire]], programs: Inputs
) -> tuple[tuple[list[Enrolled], list[Hire]], Inputs, frozenset[str]]:
    """The release's inputs with every erased earned credential counted as a credential never named
    (ERASED_NAME, ERASED_CTID), and the credential outcomes' keys of the credentials any of their
    earners' enrollments lead to (`tainted`: never named either). So the credentials a past year's
    release named before such an erasure go to the combined row made again, where the erased one is
    still counted as earned: the figures stay, only which credential is gone (docs/transparency.md,
    "A past year")."""
    gone = {
        (e.person_key, e.record.program) for e in programs.enrollments if any(c.erased for c in e.record.credentials)
    }
    if not gone:
        return training, programs, frozenset()
    enrolled = [
        replace(e, credentials=(*e.credentials, ERASED_NAME)) if (e.trainee.person_key, e.program) in gone else e
        for e in training[0]
    ]
    enrollments = tuple(
        replace(
            e,
            record=replace(
                e.record,
                credentials=tuple(
                    replace(c, name=ERASED_NAME, ctdl_id=ERASED_CTID) if c.erased else c for c in e.record.credentials
                ),
            ),
        )
        for e in programs.enrollments
    )
    inputs = replace(programs, enrollments=enrollments)
    creds, leading = credentials_of(inputs), {p.program_id: p for p in inputs.programs if p.credential_name}
    tainted = {ERASED_NAME}  # the funnel's label of it
    for e in inputs.enrollments:
        if (e.person_key, e.record.program) in gone:
            tainted |= {creds.key(c.name, c.ctdl_id) for c in e.record.credentials}
            if (p := leading.get(e.record.program)) is not None:
                tainted.add(creds.key(p.credential_name, p.credential_ctid))
    return (enrolled, training[1]), inputs, frozenset(tainted)


def hiring_report(hiring: HiringInputs, earliers: Iterable[Earlier] = ()) -> dict[str, Any]:
    """Hiring by employer, every count suppressed (0 too) when a hire of the year at a published
    employer is of a person erased since: counted nowhere (their demographics no longer open), it
    would make the year's release made again differ from the one stored before the erasure by that
    person's hire, in their categories (docs/transparency.md, "A past year"). The same when a
    release of the same year from another ledger position (in `earliers`) published a table that
    differs in any cell from this one: a hire reported late, or an employer's late choice, would
    come out by subtraction (docs/transparency.md, "Hiring by employer")."""
    report = hiring_by_employer(hiring, THRESHOLD)
    published = {e for e, _ in published_employers(hiring.choices, hiring.year)}
    table = _hiring(report)
    shown = hiring_cells(table.columns, table.rows)
    if not any(e.year == hiring.year and e.hiring is not None and e.hiring != shown for e in earliers) and not any(
        (r.person_key or "").startswith(ERASED_PREFIX)
        and r.placement is not None
        and r.placement.employer_id in published
        and r.placement.start_date.year == hiring.year
        for r in hiring.records
    ):
        return report
    return {**report, "tables": {d: [{**r, "hires": None} for r in rows] for d, rows in report["tables"].items()}}


def covered_by_named_programs(enrolled: list[Enrolled], forced: frozenset[str] = frozenset()) -> Nameable:
    """Whether a group may be named: not a `forced` program (across_years), and its people exactly
    the people of the named programs within it (programs of more than THRESHOLD people, as the
    release names them). Else a named provider less its named programs would give the people of its
    other programs, a group of any size (docs/transparency.md, "Nested groups")."""
    named_sets = [
        frozenset(e.trainee.person_key for e in enrolled if e.program == p) for p in named_programs(enrolled, forced)
    ]

    def nameable(label: str, people: Set[str]) -> bool:
        return label not in forced and people == frozenset().union(*(p for p in named_sets if p <= people))

    return nameable


def _suppressed(summary: dict, value: Any) -> Any:
    return SUPPRESSED_CSV if summary["suppressed"] else value


def _pipeline(p: dict) -> Table:
    groups = [("total", "all", p["total"])] + [(d, g["group"], g) for d, gs in p["by"].items() for g in gs]
    return Table(
        "pipeline",
        "Coalition funnel from training",
        ("dimension", "group", "section", "line", "people"),
        tuple(
            (d, g, line["section"], line["line"], _suppressed(s, line["people"]))
            for d, g, s in groups
            for line in s["lines"]
        ),
    )


def _figures(row: dict) -> tuple[Any, ...]:
    return tuple(_suppressed(row, row[f]) for f in FIGURES)


def _credentials(c: dict) -> list[Table]:
    return [
        Table(
            "credential_outcomes",
            "Credential outcomes",
            (*CREDENTIAL_COLUMNS, *FIGURES),
            tuple(tuple(r[k] for k in CREDENTIAL_COLUMNS) + _figures(r) for r in c["credentials"]),
        ),
        Table(
            "program_outcomes",
            "Program outcomes",
            (*PROGRAM_COLUMNS, "onet_soc_codes", *FIGURES),
            tuple(
                tuple(r[k] for k in PROGRAM_COLUMNS) + (" ".join(r["onet_soc_codes"]),) + _figures(r)
                for r in c["programs"]
            ),
        ),
    ]


def _demand(d: dict) -> list[Table]:
    def today(c: dict, line: str, name: str = "", *rest: Any) -> tuple[Any, ...]:
        return (
            c["occupation"],
            c["employment_type"],
            c["openings"],
            c["open_slots"],
            line,
            name,
            *rest,
            *([None] * (5 - len(rest))),
        )

    def ahead(c: dict, line: str, name: str = "", *rest: Any) -> tuple[Any, ...]:
        return (
            c["occupation"],
            c["employment_type"],
            c["horizon_months"],
            c["slots"],
            line,
            name,
            *(rest or (None, None)),
        )

    return [
        Table(
            "demand_today",
            "Demand today: open openings by occupation and employment type",
            (
                "occupation",
                "employment_type",
                "openings",
                "open_slots",
                "line",
                "name",
                "required_or_openings",
                "preferred",
                "min",
                "median",
                "max",
            ),
            tuple(
                row
                for c in d["today"]
                for row in (
                    today(c, "cell"),
                    *(today(c, "skill", x["skill"], x["required"], x["preferred"]) for x in c["skills"]),
                    *(today(c, "credential", x["credential"], x["openings"]) for x in c["credentials"]),
                    *(
                        today(
                            c,
                            "wage",
                            f"{w['currency']} per {w['unit']}",
                            w["openings"],
                            None,
                            w["min"],
                            w["median"],
                            w["max"],
                        )
                        for w in c["wages"]
                    ),
                )
            ),
        ),
        Table(
            "demand_forecast",
            "Demand forecast: what employers expect to need in 6 and 12 months",
            ("occupation", "employment_type", "horizon_months", "slots", "line", "name", "line_slots", "employers"),
            tuple(
                row
                for c in d["forecast"]
                for row in (
                    ahead(c, "cell"),
                    *(
                        ahead(c, kind, x[kind], x["slots"], x["employers"])
                        for kind in ("skill", "credential")
                        for x in c[f"{kind}s"]
                    ),
                )
            ),
        ),
        Table(
            "demand_withheld",
            "Demand cells and lines withheld (fewer employers than the rule)",
            ("part", "withheld"),
            tuple((k, d["withheld"][k]) for k in ("today", "forecast")),
        ),
        Table(
            "hiring_standards",
            "Hiring standards, as employers published them",
            (
                "employer",
                "occupation",
                "opening",
                "stages",
                "interview_format",
                "portfolio_expected",
                "assessment_expected",
                "degree_requirement_dropped",
                "accepted_equivalents",
                "published_at",
            ),
            tuple(
                (
                    h["employer_name"],
                    h["occupation"],
                    h["opening_title"] or "",
                    " > ".join(h["stages"]),
                    h["interview_format"],
                    h["portfolio_expected"],
                    h["assessment_expected"],
                    h["degree_requirement_dropped"],
                    "; ".join(c["name"] for c in h["accepted_equivalents"]),
                    h["published_at"],
                )
                for h in d["hiring_standards"]
            ),
        ),
    ]


def _hiring(h: dict) -> Table:
    return Table(
        "hiring_by_employer",
        "Hiring by employer with demographics (employers who opted in; consenting candidates)",
        ("employer", "employer_id", "dimension", "category", "hires"),
        tuple(
            (r["employer"], r["employer_id"], d, r["category"], SUPPRESSED_CSV if r["hires"] is None else r["hires"])
            for d in HIRING_DIMENSIONS
            for r in h["tables"][d]
        ),
    )


def hiring_cells(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> dict[tuple[str, str, str], Any]:
    """A hiring_by_employer table's cells: (employer_id, dimension, category) -> hires as shown."""
    c = {name: i for i, name in enumerate(columns)}
    return {(r[c["employer_id"]], r[c["dimension"]], r[c["category"]]): r[c["hires"]] for r in rows}


def _number(value: Any) -> Any:
    """One form per number: a whole float as an int (a median of days is 31 from an odd count and
    31.0 from an even one; a rate of 1.0 is 1), so a column reads the same whatever the data."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def tables(reports: dict) -> list[Table]:
    """Every table of the release, in the order of the index."""
    found = [
        _pipeline(reports["pipeline"]),
        *_credentials(reports["credentials"]),
        *_demand(reports["demand"]),
        _hiring(reports["hiring"]),
    ]
    return [replace(t, rows=tuple(tuple(_number(v) for v in row) for row in t.rows)) for t in found]


# --- writing -------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A value as CSV and HTML show it: empty for none, true/false, floats in their shortest form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _json(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, ensure_ascii=False, indent=1, default=str) + "\n").encode()


def _csv(columns: tuple[str, ...], rows: Any) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180
    writer.writerow(columns)
    writer.writerows([[cell(_text(v)) for v in row] for row in rows])
    return buffer.getvalue().encode()


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}caption{font-weight:bold;text-align:left}"
)


def _page(title: str, body: str) -> bytes:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    ).encode()


def _html_table(table_id: str, caption: str, columns: tuple[str, ...], rows: Any) -> str:
    head = "".join(f'<th scope="col">{html.escape(c)}</th>' for c in columns)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(_text(v))}</td>" for v in row) + "</tr>" for row in rows)
    return (
        f'<table id="{table_id}"><caption>{html.escape(caption)}</caption>\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table>"
    )


def dictionary(found: list[Table]) -> list[tuple[str, str, str, str, str]]:
    """(table, column, meaning, unit, suppression) of every column; a column without an entry is an error."""
    out = []
    for t in found:
        for c in t.columns:
            known = entry(t.name, c)
            if known is None:
                raise ValueError(f"column {c!r} of table {t.name!r} is not in the data dictionary")
            out.append((t.name, c, *known))
    return out


def _against(earliers: list[Earlier]) -> list[dict[str, Any]]:
    """The releases release.json lists: not those of this very ledger position (the same events, held
    to only for what an erasure may have moved: listing them would make the same events give other
    bytes)."""
    return [
        {"year": e.year, "release_sha256": e.release_sha256} for e in sorted(earliers, key=lambda e: e.year) if e.listed
    ]


def _methods(year: int, position: Position, min_employers: int, earliers: list[Earlier]) -> str:
    p = html.escape
    earliers = [e for e in earliers if e.listed]
    listed = ", ".join(
        f"{e.year} (release.json sha256 <code>{p(e.release_sha256)}</code>)"
        for e in sorted(earliers, key=lambda e: e.year)
    )
    across = (
        f"""<p id="across-years">Suppressed against the release of {listed}: every release counts
everyone up to its ledger position, so the rows two releases both publish give, by subtraction, the
people who joined in between, and those who reached a line of the funnel in between (completed
training, earned a credential, referred to retained 180 days: placed, for one; placed by employment
type), and the program outcomes' other counts (people still in training, placements, good jobs
assessed, good jobs); no group named here lets that subtraction give a group of 1 to {THRESHOLD}
people or placements (groups that would are combined, and if the whole coalition grew by 1 to
{THRESHOLD} in one of these every people figure is suppressed).</p>"""
        if earliers
        else '<p id="across-years">No release of an earlier year was stored when this one was made.</p>'
    )
    return f"""<section id="methods">
<h2>What this release is</h2>
<p>The coalition's figures at the end of the calendar year {year} (1 January to 31 December, UTC):
cumulative, everyone enrolled and every outcome reported up to then, computed from the network's
event ledger as of its last event in the year: {position.events} events, the
last at {p(position.last_event_at or "none")} (sha256 of their sorted event ids:
<code>{p(position.event_ids_sha256)}</code>). The same ledger gives the same files, byte for byte.</p>
<h2>Who is counted</h2>
<p>The coalition funnel and the credential and program outcomes count every participant of every
registered program (a person once, by a key of their identity), with the referrals of the same
people. Rates are over participants, people still in training included; nothing is adjusted.
Definitions: docs/pipeline.md ("From training") and docs/transparency.md ("Credential and program
outcomes") in the TalentLoop repository. The demand board counts the openings open at the ledger
position and each employer's current forecast; hiring standards are published by the employers
under their own name.</p>
<p id="hiring">Hiring by employer with demographics counts, for each employer that opted in to
publication for {year} (its last choice before the ledger position), its hires starting in {year}
(a placement's start date) of candidates who consented to aggregate reporting and whose
demographics could be read, one per person and employer: by race/ethnicity (self-identified; two or
more in two_or_more), gender, educational background (highest degree reported) and training (as
the referring partner reported it).</p>
<h2>Suppression</h2>
<p>This release is public, so every table is suppressed as the strictest (non-operator) view: a
group of 1 to {THRESHOLD} people is never named alone; the small groups are combined into one row
("(smaller groups combined)"), and a combined row still that small has every figure shown as
"suppressed". Wage medians are shown only over more than {THRESHOLD} placements. A demand cell or
line is shown only when what it counts comes from at least {min_employers} employers; what is left
out is counted in the table demand_withheld. No employer is named in a demand count.</p>
<p>A provider or a credential is named only when its people are exactly those of the programs named
within it, so that no named row less others gives a smaller group. A credential earned by a person
since erased is counted as earned, in the combined row: which credential it was is erased with the
person, and a credential that person's enrollment leads to is not named.</p>
<p id="erased-hires">Hiring by employer publishes no count (every one "suppressed") when one of the
year's hires at a published employer is of a person erased since: the erased person's hire is counted
nowhere, and the table made again would otherwise differ by it from the one published before. The
same when a release of {year} made from another ledger position was published before this one and
its table differs from this one's in any cell (a placement reported late, an employer's late
choice): a hire counted in one and not the other would come out by subtraction.</p>
{across}
<h2>Not published</h2>
<p id="not-published">{p(NOT_PUBLISHED)}</p>
</section>"""


def build(year: int, position: Position, reports: dict, min_employers: int) -> dict[str, bytes]:
    """Every file of the release: path -> bytes."""
    found = tables(reports)
    entries = dictionary(found)
    files: dict[str, bytes] = {}
    for t in found:
        files[f"tables/{t.name}.csv"] = _csv(t.columns, t.rows)
        files[f"tables/{t.name}.json"] = _json(
            {
                "table": t.name,
                "title": t.title,
                "year": year,
                "columns": list(t.columns),
                "rows": [list(r) for r in t.rows],
                "ledger_position": position.as_dict(),
            }
        )
        links = (
            f'<p><a href="{t.name}.csv">CSV</a> · <a href="{t.name}.json">JSON</a> · '
            f'<a href="../dictionary.html#{t.name}">columns</a> · <a href="../index.html">index</a></p>'
        )
        files[f"tables/{t.name}.html"] = _page(
            f"{t.title} ({year})", links + _html_table(t.name, t.title, t.columns, t.rows)
        )
    columns = ("table", "column", "meaning", "unit", "suppression")
    files["dictionary.csv"] = _csv(columns, entries)
    files["dictionary.json"] = _json([dict(zip(columns, e, strict=True)) for e in entries])
    files["dictionary.html"] = _page(
        f"Data dictionary ({year})",
        "\n".join(_html_table(t.name, t.name, columns[1:], [e[1:] for e in entries if e[0] == t.name]) for t in found),
    )
    earlier = reports.get("earlier") or []
    files["methods.html"] = _page(f"Methods ({year})", _methods(year, position, min_employers, earlier))
    items = "\n".join(
        f'<li><a href="tables/{t.name}.html">{html.escape(t.title)}</a> '
        f'(<a href="tables/{t.name}.csv">CSV</a>, <a href="tables/{t.name}.json">JSON</a>)</li>'
        for t in found
    )
    files["index.html"] = _page(
        f"TalentLoop coalition open data {year}",
        f'<ul id="tables">\n{items}\n</ul>\n<p><a href="methods.html">Methods</a> · '
        f'<a href="dictionary.html">Data dictionary</a> (<a href="dictionary.csv">CSV</a>, '
        f'<a href="dictionary.json">JSON</a>) · <a href="release.json">release.json</a></p>',
    )
    files["release.json"] = _json(
        {
            "year": year,
            "period": {"from": f"{year}-01-01", "to": f"{year}-12-31"},
            "ledger_position": position.as_dict(),
            "suppression_threshold": THRESHOLD,
            "demand_min_employers": min_employers,
            "tables": [t.name for t in found],
            "not_published": NOT_PUBLISHED,
            "suppressed_against": _against(earlier),
            "files": {path: hashlib.sha256(data).hexdigest() for path, data in sorted(files.items())},
        }
    )
    return dict(sorted(files.items()))
