"""The reports as CSV files (one per table) and as one self-contained HTML page.

The HTML page has no external assets and no script: inline SVG bar charts (each with a text
title and the figures also in a table), semantic tables with captions and header cells, and
every text from the data escaped. Suppressed cells show "—" for every kind of suppression
(a reader must not tell a small count from a cell suppressed to protect it); in CSV they read
`suppressed`. A suppressed funnel group (`"suppressed": true`, every count None) shows the
marker in every cell of its rows.

The funnel gives referrals and people side by side, labelled, for every line docs/pipeline.md
defines (`funnel.lines_of`), each with its short definition and the section of
docs/pipeline.md that gives it in full.
"""

from __future__ import annotations

import csv
import io
from html import escape

from services.outcomes.reports.credentials import FIGURES
from services.outcomes.reports.funnel import DIMENSIONS, PIPELINE, SMALL_GROUPS, lines_of
from services.outcomes.reports.supportive import SIDES, STATUSES

SUPPRESSED_CSV = "suppressed"
CONVERSIONS = ("work_based_learning", "converted", "to_full_time", "to_part_time", "conversion_rate",
               "converted_elsewhere", "elsewhere_to_full_time", "elsewhere_to_part_time", "converted_any",
               "conversion_rate_any")
SUPPRESSED_HTML = "—"


# A spreadsheet runs a cell that starts with one of these as a formula; skills, program and
# employer names come from tenants, so such a cell is written as text (OWASP's advice).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; a field holding \r or \n is quoted
    writer.writerow(header)
    writer.writerows([[cell(v) for v in row] for row in rows])
    return buffer.getvalue()


def _funnel_groups(reports: dict):
    f = reports["funnel"]
    yield "total", "all", f["total"]
    for dimension, groups in f["by"].items():
        for g in groups:
            yield dimension, g["group"], g


def _of(summary: dict, value, suppressed: str):
    """A funnel figure of `summary`, or the marker when the summary is suppressed."""
    return suppressed if summary.get("suppressed") else value


def _count(cell: dict, suppressed: str):
    return suppressed if cell["suppressed"] else cell["count"]


def _rate(row: dict, suppressed: str):
    return suppressed if row["placed"]["suppressed"] or row["referred"]["suppressed"] else row["placement_rate"]


def _wage(row: dict, suppressed: str):
    return suppressed if row["placed"]["suppressed"] else row["median_hourly_wage"]


def _reasons(falls_short: dict[str, int]) -> str:
    """Each reason a job fell short with its count: `no_health=2; unpaid=1`."""
    return "; ".join(f"{reason}={n}" for reason, n in falls_short.items())


def to_csv(reports: dict) -> dict[str, str]:
    """File name -> CSV text, one file per report table."""
    files = {}
    files["funnel.csv"] = _csv(
        ["dimension", "group", "stage", "count", "conversion_from_previous", "conversion_from_referred", "people"],
        [[d, g, s["stage"], *(_of(summary, v, SUPPRESSED_CSV) for v in (
            s["count"], s["conversion_from_previous"], s["conversion_from_referred"],
            summary["people"]["stages"][s["stage"]]))]
         for d, g, summary in _funnel_groups(reports) for s in summary["stages"]],
    )
    files["funnel_lines.csv"] = _csv(
        ["dimension", "group", "section", "line", "referrals", "people", "definition"],
        [[d, g, line["section"], line["line"], _of(summary, line["referrals"], SUPPRESSED_CSV),
          _of(summary, line["people"], SUPPRESSED_CSV), line["definition"]]
         for d, g, summary in _funnel_groups(reports) for line in lines_of(summary)],
    )
    files["conversions.csv"] = _csv(
        ["dimension", "group", *CONVERSIONS],
        [[d, g, *(_of(summary, c[k], SUPPRESSED_CSV) for k in CONVERSIONS)]
         for d, g, summary in _funnel_groups(reports) for c in [summary["conversions"]]],
    )
    files["funnel_days.csv"] = _csv(
        ["dimension", "group", "from_stage", "to_stage", "records", "median_days"],
        [[d, g, m["from"], m["to"], _of(summary, m["records"], SUPPRESSED_CSV),
          _of(summary, m["median_days"], SUPPRESSED_CSV)]
         for d, g, summary in _funnel_groups(reports) for m in summary["median_days"]],
    )
    gj = reports["good_jobs"]
    good_rows = [("total", "all", gj["total"])] + [
        (d, g["group"], g) for d, groups in gj["by"].items() for g in groups
    ]
    files["good_jobs.csv"] = _csv(
        ["dimension", "group", "placements", "good_jobs", "good_job_rate", "at_or_above_threshold", "with_health",
         "with_paid_leave", "with_basic_benefits", "with_retirement", "good_jobs_with_retirement", "p25_hourly",
         "median_hourly", "p75_hourly", "assessed", "type_not_counted", "unpaid", "hourly_wage_unknown",
         "schedule_not_reported", "with_predictable_schedule", "falls_short", "converted", "converted_good_jobs",
         "converted_elsewhere", "converted_elsewhere_good_jobs"],
        [[d, g, s["placements"], s["good_jobs"], s["good_job_rate"], s["at_or_above_threshold"], s["with_health"],
          s["with_paid_leave"], s["with_basic_benefits"], s["with_retirement"], s["good_jobs_with_retirement"],
          s["wages"]["p25_hourly"], s["wages"]["median_hourly"], s["wages"]["p75_hourly"], s["assessed"],
          s["type_not_counted"], s["unpaid"], s["hourly_wage_unknown"], s["schedule_not_reported"],
          s["with_predictable_schedule"], _reasons(s["falls_short"]), s["converted"], s["converted_good_jobs"],
          s["converted_elsewhere"], s["converted_elsewhere_good_jobs"]]
         for d, g, s in good_rows],
    )
    files["wage_growth.csv"] = _csv(
        ["point", "milestone_days", "checkins", "with_wages", "median_hourly_at_placement", "median_hourly_at_checkin",
         "median_growth_pct", "raised", "promoted"],
        [[w["point"], w["milestone_days"], w["checkins"], w["with_wages"], w["median_hourly_at_placement"],
          w["median_hourly_at_checkin"], w["median_growth_pct"], w["raised"], w["promoted"]]
         for w in gj["wage_growth"]],
    )
    files["wioa.csv"] = _csv(
        ["indicator", "name", "numerator", "denominator", "value", "not_yet_measurable", "pirl_elements",
         "pirl_names", "method"],
        [[i["indicator"], i["name"], i["numerator"], i["denominator"], i["value"], i.get("not_yet_measurable"),
          " ".join(str(p["element"]) for p in i["pirl"]), "; ".join(p["name"] for p in i["pirl"]), i["method"]]
         for i in reports["wioa"]["indicators"]],
    )
    files["wioa_by_employment_type.csv"] = _csv(
        ["employment_type", "indicator", "numerator", "denominator", "value", "not_yet_measurable"],
        [[g["group"], i["indicator"], i["numerator"], i["denominator"], i["value"], i.get("not_yet_measurable")]
         for g in reports["wioa"]["by"]["employment_type"] for i in g["indicators"]],
    )
    files["wioa_training.csv"] = _csv(
        ["dimension", "group", "indicator", "numerator", "denominator", "value", "not_yet_measurable",
         "outside_program_year", "enrollments", "people"],
        [[d, g, i["indicator"], *(SUPPRESSED_CSV if s["suppressed"] else v for v in (
            i["numerator"], i["denominator"], i["value"], i["not_yet_measurable"], i.get("outside_program_year"),
            s["enrollments"], s["people"]))]
         for d, g, s in _grouped(reports.get("wioa_training")) for i in s["indicators"]],
    )
    occupations = reports["skills_gap"]["occupations"]
    files["skills_demanded.csv"] = _csv(
        ["occupation", "rank", "skill", "required", "preferred", "share_of_openings"],
        [[o["occupation"], n, s["skill"], s["required"], s["preferred"], s["share"]]
         for o in occupations for n, s in enumerate(o["demanded"], 1)],
    )
    files["skills_missing.csv"] = _csv(
        ["occupation", "rank", "skill", "missing_required", "missing_preferred", "share_of_candidates"],
        [[o["occupation"], n, s["skill"], s["missing_required"], s["missing_preferred"], s["share"]]
         for o in occupations for n, s in enumerate(o["missing"], 1)],
    )
    files["transparency.csv"] = _csv(
        ["dimension", "category", "placed", "not_placed", "referred", "placement_rate", "median_hourly_wage"],
        [[name, row["category"], _count(row["placed"], SUPPRESSED_CSV), _count(row["not_placed"], SUPPRESSED_CSV),
          _count(row["referred"], SUPPRESSED_CSV), _rate(row, SUPPRESSED_CSV), _wage(row, SUPPRESSED_CSV)]
         for name, table in reports["transparency"]["tables"].items() for row in [*table["rows"], table["total"]]],
    )
    services = reports.get("services")
    if services:
        files.update(_services_csv(services))
    files["pipeline.csv"] = _csv(
        ["dimension", "group", "section", "line", "people"],
        [[dimension, group, line["section"], line["line"],
          SUPPRESSED_CSV if summary["suppressed"] else line["people"]]
         for dimension, group, summary in _pipeline_groups(reports) for line in summary["lines"]],
    )
    if reports.get("credentials"):
        files.update(_credentials_csv(reports["credentials"]))
    if reports.get("benchmarks"):
        files["benchmarks.csv"] = _benchmarks_csv(reports["benchmarks"])
    if reports.get("demand"):
        files["skills_forecast.csv"] = _csv(
            ["occupation", "rank", "skill", "forecast_slots_6_months", "forecast_slots_12_months"],
            [[o["occupation"], n, s["skill"], s["slots_6_months"], s["slots_12_months"]]
             for o in occupations for n, s in enumerate(o.get("forecast_skills", []), 1)],
        )
        files.update(_demand_csv(reports["demand"]))
    return files


def _demand_csv(d: dict) -> dict[str, str]:
    """The demand board as flat tables: a line per cell and skill, credential or wage."""
    return {
        "demand_today.csv": _csv(
            ["occupation", "employment_type", "openings", "open_slots", "line", "name", "required_or_openings",
             "preferred", "min", "median", "max"],
            [[c["occupation"], c["employment_type"], c["openings"], c["open_slots"], "cell", "", "", "", "", "", ""]
             for c in d["today"]]
            + [[c["occupation"], c["employment_type"], c["openings"], c["open_slots"], "skill", x["skill"],
                x["required"], x["preferred"], "", "", ""] for c in d["today"] for x in c["skills"]]
            + [[c["occupation"], c["employment_type"], c["openings"], c["open_slots"], "credential", x["credential"],
                x["openings"], "", "", "", ""] for c in d["today"] for x in c["credentials"]]
            + [[c["occupation"], c["employment_type"], c["openings"], c["open_slots"], "wage",
                f"{w['currency']} per {w['unit']}", w["openings"], "", w["min"], w["median"], w["max"]]
               for c in d["today"] for w in c["wages"]],
        ),
        "demand_forecast.csv": _csv(
            ["occupation", "employment_type", "horizon_months", "slots", "line", "name", "line_slots", "employers"],
            [[c["occupation"], c["employment_type"], c["horizon_months"], c["slots"], "cell", "", "", ""]
             for c in d["forecast"]]
            + [[c["occupation"], c["employment_type"], c["horizon_months"], c["slots"], kind, x[kind], x["slots"],
                x["employers"]] for c in d["forecast"] for kind in ("skill", "credential")
               for x in c[f"{kind}s"]],
        ),
        "hiring_standards.csv": _csv(
            ["employer", "occupation", "opening", "stages", "interview_format", "portfolio_expected",
             "assessment_expected", "degree_requirement_dropped", "accepted_equivalents", "published_at"],
            [[h["employer_name"], h["occupation"], h["opening_title"] or "", " > ".join(h["stages"]),
              h["interview_format"],
              h["portfolio_expected"], h["assessment_expected"], h["degree_requirement_dropped"],
              "; ".join(c["name"] for c in h["accepted_equivalents"]), h["published_at"]]
             for h in d["hiring_standards"]],
        ),
    }


CREDENTIAL_COLUMNS = ("credential", "name", "ctid", "programs", "cost_low", "cost_high", "currency")
PROGRAM_COLUMNS = ("program", "name", "provider", "credential", "cost", "currency")
BENCHMARK_STATS = ("peer_programs", "peer_providers", "median", "p25", "p75", "withheld")


def _figures(row: dict) -> list:
    return [SUPPRESSED_CSV if row["suppressed"] else row[f] for f in FIGURES]


def _credentials_csv(c: dict) -> dict[str, str]:
    """credential_outcomes.csv and program_outcomes.csv: a row per credential or program."""
    return {
        "credential_outcomes.csv": _csv([*CREDENTIAL_COLUMNS, *FIGURES],
                                        [[r[k] for k in CREDENTIAL_COLUMNS] + _figures(r) for r in c["credentials"]]),
        "program_outcomes.csv": _csv([*PROGRAM_COLUMNS, "onet_soc_codes", *FIGURES],
                                     [[r[k] for k in PROGRAM_COLUMNS] + [" ".join(r["onet_soc_codes"])] + _figures(r)
                                      for r in c["programs"]]),
    }


def _benchmarks_csv(b: dict) -> str:
    """A row per program and metric: its own value beside its comparison group's statistics."""
    return _csv(["program", "name", "provider", "basis", "group", "metric", "value", *BENCHMARK_STATS],
                [[r["program"], r["name"], r["provider"], r["basis"], r["group"], m["metric"],
                  SUPPRESSED_CSV if r["suppressed"] else m["value"], *(m[k] for k in BENCHMARK_STATS)]
                 for r in b["programs"] for m in r["metrics"]])


SERVICE_COLUMNS = ("requests", *(f"status.{s}" for s in STATUSES), "stale_open", "settled", "fulfilment_rate",
                   "median_days_to_fulfilment", "delivered_with_days", "value_delivered", "amount_requested")
OUTCOME_COLUMNS = ("people", "enrolled", "completed_training", "completion_rate", "placed", "placement_rate")


def _service_row(summary: dict) -> list:
    """A services summary's figures in SERVICE_COLUMNS' order (amounts as "120.00 USD; ...")."""
    def value(column: str):
        if column.startswith("status."):
            return summary["status"][column.removeprefix("status.")]
        if column in ("value_delivered", "amount_requested"):
            return "; ".join(f"{m['amount']} {m['currency']}" for m in summary[column])
        return summary[column]

    return [value(c) for c in SERVICE_COLUMNS]


def _services_csv(services: dict) -> dict[str, str]:
    rows = [["total", "all", *_service_row(services["total"])]]
    rows += [[d, g["group"], *_service_row(g)] for d, groups in services["by"].items() for g in groups]
    outcomes = services["outcomes"]
    return {
        "services.csv": _csv(["dimension", "group", *SERVICE_COLUMNS], rows),
        "services_outcomes.csv": _csv(
            ["group", *OUTCOME_COLUMNS],
            [[side, *(SUPPRESSED_CSV if outcomes["suppressed"] else outcomes[side][c] for c in OUTCOME_COLUMNS)]
             for side in SIDES]),
    }


def _grouped(report: dict | None):
    """(dimension, group, summary) of a report with a `total` and groups `by` dimension: the
    total, then every group."""
    if not report:
        return
    yield "total", "all", report["total"]
    for dimension, groups in report["by"].items():
        for g in groups:
            yield dimension, g["group"], g


def _pipeline_groups(reports: dict):
    """(dimension, group, summary) of the coalition funnel: the total, then every group."""
    return _grouped(reports.get("pipeline"))


# --- HTML ------------------------------------------------------------------------------------

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1a1a1a}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:right}
th[scope=row],caption{text-align:left}caption{font-weight:600;padding:.25rem 0}
svg text{font-size:12px;fill:#1a1a1a}.bar{fill:#2b6cb0}.bar2{fill:#c05621}.note{font-size:.9rem;color:#444}
"""


def _pct(value) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _cell(value) -> str:
    return escape("" if value is None else str(value))


def _bars(title: str, rows: list[tuple[str, float, str]], css: str = "bar") -> str:
    """A horizontal bar chart: (label, value, text shown at the bar's end)."""
    width, label_w, bar_h, gap = 640, 200, 18, 6
    top = max((v for _, v, _ in rows), default=0) or 1
    height = len(rows) * (bar_h + gap) + gap
    parts = [f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}"'
             f' viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for n, (label, value, text) in enumerate(rows):
        y = gap + n * (bar_h + gap)
        w = int((width - label_w - 120) * (value / top))
        parts.append(f'<text x="0" y="{y + 13}">{escape(label)}</text>'
                     f'<rect class="{css}" x="{label_w}" y="{y}" width="{w}" height="{bar_h}"/>'
                     f'<text x="{label_w + w + 4}" y="{y + 13}">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(caption: str, header: list[str], rows: list[list], row_headers: bool = True) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = []
    for row in rows:
        first = f'<th scope="row">{_cell(row[0])}</th>' if row_headers else f"<td>{_cell(row[0])}</td>"
        body.append("<tr>" + first + "".join(f"<td>{_cell(v)}</td>" for v in row[1:]) + "</tr>")
    return (f"<table><caption>{escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>")


def _pair(summary: dict, referrals, people) -> str:
    """A cell of a grouped funnel table: referrals / people, or the marker when suppressed."""
    return SUPPRESSED_HTML if summary.get("suppressed") else f"{referrals} / {people}"


def _funnel_by(dimension: str, groups: list[dict]) -> str:
    name = dimension.replace("_", " ")
    stages = _table(f"Funnel by {name}: referrals / people at each stage (cumulative)",
                    [name, *(s["stage"].replace("_", " ") for s in groups[0]["stages"])] if groups else [name],
                    [[g["group"], *(_pair(g, s["count"], g["people"]["stages"][s["stage"]]) for s in g["stages"])]
                     for g in groups])
    outcomes = list(groups[0]["referrals"]["outcomes"]) if groups else []
    exits = _table(f"Funnel by {name}: referrals / people by outcome (exclusive, adding up to referred) and declined"
                   " at least once",
                   [name, *(o.replace("_", " ") for o in outcomes), "declined at least once"] if groups else [name],
                   [[g["group"], *(_pair(g, g["referrals"]["outcomes"][o], g["people"]["outcomes"][o]) for o in outcomes),
                     _pair(g, g["referrals"]["flags"]["declined_at_least_once"],
                           g["people"]["flags"]["declined_at_least_once"])]
                    for g in groups])
    return stages + exits


def _funnel_section(f: dict) -> str:
    total = f["total"]
    stages = total["stages"]
    mark = SUPPRESSED_HTML if total.get("suppressed") else None
    intro = ('<p class="note">Every figure is defined in <code>' + PIPELINE + '</code>. <strong>Referrals</strong>'
             " count each partner's referral once; <strong>people</strong> count a person once however many"
             " referrals they have. Stages are <strong>cumulative</strong> (a referral at a later stage counts at"
             " every earlier one, so no stage exceeds the one before it); outcomes are <strong>exclusive</strong>"
             " (each referral has exactly one, where it stands now; they add up to referred); placed's sub-lines"
             " and the decline flags are not exclusive.</p>")
    if f.get("suppression_threshold") is not None:
        intro += (f'<p class="note" id="funnel-suppression">{SUPPRESSED_HTML} marks a suppressed figure. A group is'
                  f" shown only if it counts more than {f['suppression_threshold']} people; smaller groups are"
                  f" combined into one row ({escape(SMALL_GROUPS)}), with the smallest other groups while it"
                  f" counts {f['suppression_threshold']} people or fewer; a row (or total) that small is suppressed."
                  f" Median days are given over more than {f['suppression_threshold']} records only.</p>")
    chart = "" if mark else _bars("Funnel: referrals reaching each stage", [
        (s["stage"], s["count"], f"{s['count']}" + (f" ({_pct(s['conversion_from_previous'])} of previous)"
                                                     if s["conversion_from_previous"] is not None else ""))
        for s in stages])
    lines = lines_of(total)
    conversion = {s["stage"]: s for s in stages}
    table = _table("Funnel: referrals and people at each stage (cumulative)",
                   ["stage", "referrals", "from previous stage", "from referred", "people", "definition"],
                   [[line["line"].replace("_", " "), mark or line["referrals"],
                     (mark or _pct(conversion[line["line"]]["conversion_from_previous"]))
                     if line["section"] == "stage" else "",
                     (mark or _pct(conversion[line["line"]]["conversion_from_referred"]))
                     if line["section"] == "stage" else "", mark or line["people"], line["definition"]]
                    for line in lines if line["section"] in ("stage", "interviews_recorded")])
    exits = _table("Where each referral stands now: outcomes (exclusive, adding up to referred) and placed's"
                   " sub-lines (not exclusive)",
                   ["outcome", "referrals", "people", "definition"],
                   [[("of which " if line["section"] == "placed" else "") + line["line"].replace("_", " "),
                     mark or line["referrals"], mark or line["people"], line["definition"]]
                    for line in _outcomes_then_sub_lines(lines)])
    flags = _table("Declines (flags beside the outcomes; a line for referrals or people only is empty on the other"
                   " side)", ["flag", "referrals", "people", "definition"],
                   [[line["line"].replace("_", " "), _flag(mark, line["referrals"]), _flag(mark, line["people"]),
                     line["definition"]] for line in lines if line["section"] == "flag"])
    days = _table("Median days between stages (records that reached both)", ["from", "to", "records", "median days"],
                  [[m["from"], m["to"], mark or m["records"], mark or m["median_days"]]
                   for m in total["median_days"]])
    c = total["conversions"]
    converted = (f"<p>Conversions: {_cell(mark or c['converted'])} of {_cell(mark or c['work_based_learning'])}"
                 " placed in internships, micro-internships and apprenticeships were hired full-time"
                 f" ({_cell(mark or c['to_full_time'])}) or part-time ({_cell(mark or c['to_part_time'])}) at the"
                 f" same employer; {_cell(mark or c['converted_elsewhere'])} were hired full-time"
                 f" ({_cell(mark or c['elsewhere_to_full_time'])}) or part-time"
                 f" ({_cell(mark or c['elsewhere_to_part_time'])}) at another employer (a person once;"
                 f" docs/pipeline.md, \"Conversions\"). Either way: {_cell(mark or c['converted_any'])}"
                 f" ({_cell(mark or _pct(c['conversion_rate_any']))}).</p>")
    by = "".join(_funnel_by(d, f["by"][d]) for d in DIMENSIONS if f["by"].get(d))
    return (f'<section id="funnel"><h2>Funnel</h2>{intro}{chart}{table}{exits}{flags}{converted}{days}{by}'
            "</section>")


def _outcomes_then_sub_lines(lines: list[dict]) -> list[dict]:
    """The outcomes in order, placed's sub-lines right after placed."""
    out = []
    for line in lines:
        if line["section"] == "outcome":
            out.append(line)
            if line["line"] == "placed":
                out += [sub for sub in lines if sub["section"] == "placed"]
    return out


def _flag(mark: str | None, value) -> object:
    """A flag's count: "" where the line is not one of that side's (not the suppression marker)."""
    return "" if value is None and mark is None else (mark or value)


POINT_NAMES = {"conversion": "conversion (same employer)", "conversion_elsewhere": "hired at another employer"}


def _good_jobs_section(gj: dict) -> str:
    t, policy = gj["total"], gj["policy"]
    schedule = ""
    if policy["require_predictable_schedule"]:
        schedule = " and a predictable schedule"
        if policy["min_advance_notice_days"]:
            schedule += f" given at least {policy['min_advance_notice_days']} days ahead"
    intro = (f"<p>A good job is a {escape(', '.join(t.replace('_', ' ') for t in policy['counted_types']))} job"
             f" that pays at least {escape(str(policy['hourly_threshold']))} {escape(policy['currency'])}"
             f" an hour ({escape(policy['threshold_source'])}) and offers {escape(policy['basic_benefits'])}"
             f"{escape(schedule)}; unpaid work never is."
             f" Good-job rate: <strong>{escape(_pct(t['good_job_rate']) or 'n/a')}</strong> of {t['assessed']}"
             f" placements assessed ({t['type_not_counted']} of other kinds not assessed)."
             f" Hourly wage p25 / median / p75: {_cell(t['wages']['p25_hourly'])} /"
             f" {_cell(t['wages']['median_hourly'])} / {_cell(t['wages']['p75_hourly'])}.</p>")
    reasons = _table("Why assessed placements were not good jobs", ["reason", "placements"],
                     [[reason.replace("_", " "), n] for reason, n in t["falls_short"].items()])
    growth = _table("Wage growth from placement to a conversion and to each retention check-in (still employed,"
                    " wage stated)",
                    ["point", "check-ins (conversions)", "with wages", "median hourly at placement",
                     "median hourly then", "median growth %", "raised", "promoted"],
                    [[f"{w['milestone_days']} days" if w["milestone_days"] else POINT_NAMES[w["point"]], w["checkins"],
                      w["with_wages"], w["median_hourly_at_placement"],
                      w["median_hourly_at_checkin"], w["median_growth_pct"], w["raised"], w["promoted"]]
                     for w in gj["wage_growth"]])
    chart = _bars("Good-job rate by partner", [
        (g["group"], g["good_job_rate"] or 0, f"{_pct(g['good_job_rate'])} of {g['assessed']}")
        for g in gj["by"]["partner"]], "bar2")
    tables = "".join(
        _table(f"Good jobs by {d.replace('_', ' ')}",
               [d.replace("_", " "), "placements", "assessed", "good jobs", "rate", "with retirement", "median hourly"],
               [[g["group"], g["placements"], g["assessed"], g["good_jobs"], _pct(g["good_job_rate"]),
                 g["with_retirement"], g["wages"]["median_hourly"]] for g in groups])
        for d, groups in gj["by"].items())
    return f'<section id="good-jobs"><h2>Good jobs</h2>{intro}{chart}{reasons}{tables}{growth}</section>'


def _wioa_section(w: dict) -> str:
    rows = [[i["name"], i["numerator"], i["denominator"],
             i["value"] if isinstance(i["value"], str) or i["value"] is None else _pct(i["value"]),
             "; ".join(f"{p['element']} {p['name']}" for p in i["pirl"]) or "none", i["method"]]
            for i in w["indicators"]]
    note = (f'<p class="note">Exit cohort: {w["exit_cohort"]} referrals with a training completion date'
            f' ({w["not_in_cohort"]} without one are not in it). Measured as of {_cell(w["as_of"] or "all dates")}.'
            " Every figure is a proxy from employer reports, not UI wage records.</p>")
    by_type = _table("WIOA indicators by the kind of job placed in (numerator / denominator)",
                     ["employment type", "exit cohort", *(i["name"] for i in w["indicators"])],
                     [[g["group"], g["exit_cohort"], *(f"{i['numerator']} / {i['denominator']}" for i in g["indicators"])]
                      for g in w["by"]["employment_type"]])
    return (f'<section id="wioa"><h2>WIOA primary indicators</h2>{note}'
            + _table("WIOA indicators with their PIRL data elements",
                     ["indicator", "numerator", "denominator", "value", "PIRL elements", "method"], rows)
            + by_type + "</section>")


def _wioa_training_section(w: dict | None) -> str:
    """Credential attainment and skill gains over enrollments: a row per group (total first)."""
    columns = list(_grouped(w))
    if not columns:
        return ""
    note = ('<p class="note">Over training enrollments (one participant in one program): credential attainment'
            " counts those that ended with a credential earned during participation or within a year after exit;"
            " measurable skill gains those with a reported skill gain, exam passed or module completed. Proxies:"
            " see docs/reports.md.")
    if w.get("suppression_threshold") is not None:
        note += (f" Groups of {w['suppression_threshold']} people or fewer are combined; {SUPPRESSED_HTML} marks a"
                 " suppressed figure.")
    note += "</p>"
    names = [i["name"] for i in columns[0][2]["indicators"]]
    rows = [[f"{d}: {g}" if d != "total" else "total", *(
        SUPPRESSED_HTML if s["suppressed"] else v for v in (s["enrollments"], s["people"], s["exit_cohort"])),
        *(SUPPRESSED_HTML if s["suppressed"] else f"{i['numerator']} / {i['denominator']} ({_pct(i['value'])})"
          for i in s["indicators"])] for d, g, s in columns]
    table = _table("WIOA indicators over training enrollments (numerator / denominator)",
                   ["group", "enrollments", "people", "exited", *names], rows)
    return f'<section id="wioa-training"><h2>WIOA indicators over training</h2>{note}{table}</section>'


def _services_section(services: dict | None) -> str:
    if not services:
        return ""
    t = services["total"]
    intro = (f"<p>{t['requests']} requests for supportive services; {t['status']['delivered']} delivered of"
             f" {t['settled']} settled (ended, or open past the stale limit): fulfilment rate"
             f" <strong>{escape(_pct(t['fulfilment_rate']) or 'n/a')}</strong>; median"
             f" {_cell(t['median_days_to_fulfilment'])} calendar days from request to delivery"
             f" (over {t['delivered_with_days']}). Definitions: docs/reports.md, \"Supportive services\".</p>")
    header = ["group", "requests", *STATUSES, "stale (open)", "fulfilment rate", "median days", "value delivered"]

    def row(name: str, s: dict) -> list:
        return [name, s["requests"], *(s["status"][x] for x in STATUSES), s["stale_open"], _pct(s["fulfilment_rate"]),
                s["median_days_to_fulfilment"], "; ".join(f"{m['amount']} {m['currency']}" for m in s["value_delivered"])]

    tables = _table("Supportive services in total", header, [row("total", t)])
    tables += "".join(_table(f"Supportive services by {d.replace('_', ' ')}", header,
                             [row(g["group"], g) for g in groups]) for d, groups in services["by"].items() if groups)
    o = services["outcomes"]
    mark = SUPPRESSED_HTML if o["suppressed"] else None
    comparison = _table("Outcomes of people who received a delivered service and of those who did not (a comparison,"
                        " not a causal effect)", ["people", *(c.replace("_", " ") for c in OUTCOME_COLUMNS)],
                        [[side.replace("_", " "), *(mark or (_pct(o[side][c]) if c.endswith("rate") else o[side][c])
                                                    for c in OUTCOME_COLUMNS)] for side in SIDES])
    note = f'<p class="note">{escape(o["note"])}'
    if o["suppression_threshold"] is not None:
        note += (f" When either side counts {o['suppression_threshold']} people or fewer, both are suppressed"
                 f" ({SUPPRESSED_HTML}).")
    return (f'<section id="services"><h2>Supportive services</h2>{intro}{tables}{comparison}{note}</p>'
            "</section>")


def _skills_section(s: dict) -> str:
    parts = ['<section id="skills-gap"><h2>Skills gap by occupation</h2>']
    for o in s["occupations"]:
        occ = o["occupation"]
        parts.append(f"<h3>{escape(occ)}</h3>")
        openings = (f"{o['openings']} openings" if o["openings"] is not None
                    else f"openings of fewer than {s.get('min_employers')} employers (withheld)")
        parts.append(_bars(f"Skills most demanded by {openings} for {occ}",
                           [(x["skill"], x["required"] + x["preferred"],
                             f"{x['required']} required, {x['preferred']} preferred") for x in o["demanded"]]))
        parts.append(_bars(f"Skills most often missing among {o['candidates_not_through']} candidates not through, {occ}",
                           [(x["skill"], x["missing_required"] + x["missing_preferred"],
                             f"{x['missing_required']} required, {x['missing_preferred']} preferred")
                            for x in o["missing"]], "bar2"))
        parts.append(_table(f"Skills demanded and missing, {occ}", ["skill", "required", "preferred", "share"],
                            [[x["skill"], x["required"], x["preferred"], _pct(x["share"])] for x in o["demanded"]]))
        parts.append(_table(f"Skills missing among candidates not through, {occ}",
                            ["skill", "missing (required)", "missing (preferred)", "share"],
                            [[x["skill"], x["missing_required"], x["missing_preferred"], _pct(x["share"])]
                             for x in o["missing"]]))
        slots = o.get("forecast_slots") or {}
        if o.get("forecast_skills"):
            # The forecast beside today's openings, in columns of its own: never added to them.
            parts.append(_table(
                f"Skills employers forecast for {occ} (slots expected: {_cell(slots.get('6_months'))} in 6 months,"
                f" {_cell(slots.get('12_months'))} in 12 months)",
                ["skill", "forecast slots, 6 months", "forecast slots, 12 months"],
                [[x["skill"], x["slots_6_months"], x["slots_12_months"]] for x in o["forecast_skills"]]))
    parts.append("</section>")
    return "".join(parts)


def _shown(cell: dict) -> str:
    return SUPPRESSED_HTML if cell["suppressed"] else str(cell["count"])


def _transparency_section(t: dict) -> str:
    population = SUPPRESSED_HTML if t["population"] is None else str(t["population"])
    parts = ['<section id="transparency"><h2>Placements and wages by demographics</h2>',
             f"<p>Counted: {escape(t['population_definition'])}: {escape(population)} referrals.</p>"]
    for name, table in t["tables"].items():
        rows = [[r["category"], _shown(r["placed"]), _shown(r["not_placed"]), _shown(r["referred"]),
                 _rate(r, SUPPRESSED_HTML) if _rate(r, SUPPRESSED_HTML) == SUPPRESSED_HTML else _pct(r["placement_rate"]),
                 _wage(r, SUPPRESSED_HTML)]
                for r in [*table["rows"], table["total"]]]
        parts.append(_table(f"Placements by {name.replace('_', ' ')}",
                            [name.replace("_", " "), "placed", "not placed", "referred", "placement rate",
                             "median hourly wage (placed)"], rows))
    parts.append(f'<p class="note" id="suppression-note">{SUPPRESSED_HTML} marks a suppressed cell: a count from 1'
                 f" to {t['threshold']}, or a cell suppressed with it so that it cannot be worked out from the totals"
                 " (no published figure pins a suppressed cell to one value or to fewer than three). Rates and median"
                 " wages of suppressed cells are suppressed too.</p></section>")
    return "".join(parts)


def _pipeline_section(reports: dict) -> str:
    """The coalition funnel from training: one table, a column per group (total first)."""
    columns = list(_pipeline_groups(reports))
    if not columns:
        return ""
    p = reports["pipeline"]
    note = ('<p class="note">People, from enrollment in training to retention (docs/pipeline.md, "From training").'
            " A person is in every provider, program and credential group they have an enrollment in:"
            " groups overlap and do not add up to the total.")
    if p.get("suppression_threshold") is not None:
        note += (f" Groups of {p['suppression_threshold']} people or fewer are combined;"
                 f" {SUPPRESSED_HTML} marks a suppressed count.")
    note += "</p>"
    header = ["line"] + [f"{d}: {g}" if d != "total" else "total" for d, g, _ in columns]
    rows = [[f"{line['section']}: {line['line']}"]
            + [SUPPRESSED_HTML if s["suppressed"] else s["lines"][n]["people"] for _, _, s in columns]
            for n, line in enumerate(columns[0][2]["lines"])]
    table = _table("Coalition funnel from training (people)", header, rows)
    return f'<section id="pipeline"><h2>Coalition funnel from training</h2>{note}{table}</section>'


RATE_FIGURES = {"completion_rate", "credential_attainment", "placement_rate", "good_job_rate"}
SHOWN_FIGURES = ("participants", "still_in_training", "completion_rate", "credential_attainment", "placement_rate",
                 "median_days_to_placement", "median_hourly_at_placement", "median_hourly_90_days",
                 "median_hourly_180_days", "good_job_rate")


def _figure(row: dict, name: str) -> object:
    if row["suppressed"]:
        return SUPPRESSED_HTML
    return _pct(row[name]) if name in RATE_FIGURES else row[name]


def _credentials_section(c: dict | None) -> str:
    """Credential and program outcomes: one table of credentials, one of programs."""
    if not c:
        return ""
    note = ('<p class="note">People enrolled (participants), through training and into jobs; rates over'
            " participants, those still in training included; wages are median hourly wages in"
            f" {escape(c['currency'])} over their placements. Definitions: docs/transparency.md.")
    if c["suppression_threshold"] is not None:
        note += (f" Groups of {c['suppression_threshold']} people or fewer are combined; {SUPPRESSED_HTML} marks a"
                 " suppressed figure.")
    note += "</p>"
    header = [f.replace("_", " ") for f in SHOWN_FIGURES]
    creds = _table("Outcomes by credential", ["credential", "cost", *header],
                   [[r["name"], "" if r["cost_low"] is None else f"{r['cost_low']}–{r['cost_high']} {r['currency']}",
                     *(_figure(r, f) for f in SHOWN_FIGURES)] for r in c["credentials"]])
    programs = _table("Outcomes by training program", ["program", "provider", "cost", *header],
                      [[r["name"] or r["program"], r["provider"],
                        "" if r["cost"] is None else f"{r['cost']} {r['currency']}",
                        *(_figure(r, f) for f in SHOWN_FIGURES)] for r in c["programs"]])
    return (f'<section id="credential-outcomes"><h2>Credential and program outcomes</h2>{note}{creds}{programs}'
            "</section>")


def _benchmarks_section(b: dict | None) -> str:
    """Peer benchmarks: a row per program and metric, its value beside its group's median and IQR."""
    if not b:
        return ""
    note = (f'<p class="note">Each program beside comparable programs of other providers (the same credential, else'
            f" the same occupation family), with more than {b['peer_min_participants'] - 1} participants each."
            f" A median only over programs of at least {b['min_providers']} other providers; quartiles from"
            f" {2 * b['min_providers']}. Nothing is adjusted. Definitions: docs/transparency.md.</p>")

    def stat(m: dict, key: str) -> object:
        value = m[key]
        if value is None:
            return ""
        return f"{value:g}" if m["metric"] == "median_days_to_placement" else _pct(value)

    rows = [[f"{r['name']} ({r['provider']})", m["metric"].replace("_", " "),
             SUPPRESSED_HTML if r["suppressed"] else stat(m, "value"),
             "" if r["basis"] is None else f"{r['basis'].replace('_', ' ')} {r['group']}",
             stat(m, "median"), stat(m, "p25"), stat(m, "p75"), m["withheld"] or ""]
            for r in b["programs"] for m in r["metrics"]]
    table = _table("Programs beside their peers", ["program", "metric", "value", "compared with", "peer median",
                                                   "peer 25th percentile", "peer 75th percentile", "not given"], rows)
    return f'<section id="benchmarks"><h2>Peer benchmarks</h2>{note}{table}</section>'


def _demand_section(d: dict | None) -> str:
    """The demand board: today's openings and the forecast (no employer named; cells from fewer
    than `min_employers` employers withheld), then the hiring standards employers published."""
    if d is None:
        return ""
    n = d["min_employers"]
    note = (f"<p>Only cells and lines from at least {n} employers are shown ({d['withheld']['today']} of today's and"
            f" {d['withheld']['forecast']} of the forecast's withheld). Today's openings and the forecast are"
            " separate: never add them.</p>")
    today = _table("Open openings by occupation and employment type",
                   ["occupation", "employment type", "openings", "open slots", "top skills (required)", "credentials",
                    "wages (min / median / max)"],
                   [[c["occupation"], c["employment_type"], c["openings"], c["open_slots"],
                     ", ".join(f"{x['skill']} ({x['required']})" for x in c["skills"][:5]),
                     ", ".join(f"{x['credential']} ({x['openings']})" for x in c["credentials"][:5]),
                     "; ".join(f"{w['min']} / {w['median']} / {w['max']} {w['currency']} per {w['unit']}"
                               for w in c["wages"])] for c in d["today"]])
    ahead = _table("Hiring forecast by occupation, employment type and horizon",
                   ["occupation", "employment type", "horizon (months)", "slots expected", "top skills (slots)",
                    "credentials (slots)"],
                   [[c["occupation"], c["employment_type"], c["horizon_months"], c["slots"],
                     ", ".join(f"{x['skill']} ({x['slots']})" for x in c["skills"][:5]),
                     ", ".join(f"{x['credential']} ({x['slots']})" for x in c["credentials"][:5])]
                    for c in d["forecast"]])
    standards = _table("Hiring standards employers published",
                       ["employer", "occupation", "opening", "stages", "format", "portfolio", "assessment",
                        "degree dropped", "accepted instead of a degree"],
                       [[h["employer_name"], h["occupation"], h["opening_title"] or "(every opening)",
                         " > ".join(h["stages"]), h["interview_format"],
                         _yes(h["portfolio_expected"]), _yes(h["assessment_expected"]),
                         _yes(h["degree_requirement_dropped"]), ", ".join(c["name"] for c in h["accepted_equivalents"])]
                        for h in d["hiring_standards"]])
    return (f'<section id="demand"><h2>Demand board</h2>{note}{today}{ahead}</section>'
            f'<section id="hiring-standards"><h2>Hiring standards</h2>{standards}</section>')


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def to_html(reports: dict, title: str, generated_on: str, scope: str) -> str:
    body = (_funnel_section(reports["funnel"]) + _good_jobs_section(reports["good_jobs"])
            + _wioa_section(reports["wioa"]) + _wioa_training_section(reports.get("wioa_training"))
            + _skills_section(reports["skills_gap"])
            + _transparency_section(reports["transparency"]) + _pipeline_section(reports)
            + _services_section(reports.get("services")) + _credentials_section(reports.get("credentials"))
            + _benchmarks_section(reports.get("benchmarks")) + _demand_section(reports.get("demand")))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><header><h1>{escape(title)}</h1>"
            f"<p>Generated {escape(generated_on)}. Scope: {escape(scope)}.</p></header><main>{body}</main></body></html>")
