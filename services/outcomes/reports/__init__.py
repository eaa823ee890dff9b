"""The coalition's reports (issue #7 item 4) as pure functions of the report records.

    reports = build_reports(records, gaps, openings, ReportSettings(GoodJobPolicy(Decimal("25.00"), "…")))
    reports = build_reports(records, gaps, openings, settings, (enrolled, hires))  # with the coalition funnel
    reports = build_reports(records, gaps, openings, settings, (enrolled, hires), enrollments)  # and WIOA over training
    reports = build_reports(records, gaps, openings, settings, (enrolled, hires), enrollments, requests)  # and services
    reports = build_reports(..., requests, programs, provider)  # and credential outcomes, peer benchmarks
    reports = build_reports(..., provider, DemandInputs(openings, forecasts, standards))  # and the demand board
    files = to_csv(reports)            # {"funnel.csv": "...", "pipeline.csv": "...", ...}
    page = to_html(reports, "Q1 outcomes", "2024-04-02", "all partners")

Every value in `reports` is JSON-ready (str, int, float, None, lists and dicts). The
definitions are in each module's docstring and in docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, tzinfo

from services.outcomes.pipeline import Enrolled, Hire
from services.outcomes.records import GapRecord, OpeningRecord, ReferralRecord
from services.outcomes.reports.benchmarks import MIN_PROVIDERS, benchmarks
from services.outcomes.reports.coalition import coalition_funnel
from services.outcomes.reports.credentials import Inputs, credential_outcomes
from services.outcomes.reports.demand import MIN_EMPLOYERS, board, forecast_by_occupation
from services.outcomes.reports.funnel import funnels
from services.outcomes.reports.good_jobs import GoodJobPolicy, good_jobs
from services.outcomes.reports.render import to_csv, to_html
from services.outcomes.reports.skills_gap import skills_gap
from services.outcomes.reports.supportive import Request, participants, services_report
from services.outcomes.reports.suppression import THRESHOLD
from services.outcomes.reports.transparency import transparency
from services.outcomes.reports.wioa import indicators
from services.outcomes.reports.wioa_training import Participation, training_indicators

__all__ = ["DemandInputs", "Enrolled", "GoodJobPolicy", "Inputs", "ReportSettings", "Request", "build_reports", "program_reports",
           "to_csv", "to_html"]


@dataclass(frozen=True)
class ReportSettings:
    good_jobs: GoodJobPolicy
    period: str = "month"  # or "quarter": how the funnel buckets referred_at
    as_of: date | None = None  # WIOA windows must have closed by then; None: measure every exiter
    top_skills: int = 10
    suppression_threshold: int = THRESHOLD  # counts from 1 to this are suppressed
    # Wage growth's medians (check-in and conversion wages) only over at least this many
    # people: 1 for operators; a partner's report sets it above the suppression threshold.
    growth_min_wages: int = 1
    # The funnel's groups suppressed (groups of `suppression_threshold` people or fewer
    # combined, docs/reports.md): for reports a non-operator reads; operators see every record.
    suppress_funnel: bool = False
    # Peer benchmarks: a statistic only over programs of at least this many other providers.
    benchmark_min_providers: int = MIN_PROVIDERS
    # The demand board: a cell or line only from at least this many employers.
    demand_min_employers: int = MIN_EMPLOYERS
    # The business time zone (TALENTLOOP_BUSINESS_TIMEZONE), whose calendar a service's days
    # to fulfilment are counted on: support dates deliveries by it.
    business_timezone: tzinfo = UTC


@dataclass(frozen=True)
class DemandInputs:
    """What the demand board reads (reports/inputs.demand_inputs): open openings, forecasts, standards."""

    openings: tuple = ()
    forecasts: tuple = ()
    standards: tuple = ()


def build_reports(
    records: Iterable[ReferralRecord],
    gaps: Iterable[GapRecord],
    openings: Iterable[OpeningRecord],
    settings: ReportSettings,
    training: tuple[Iterable[Enrolled], Iterable[Hire]] = ((), ()),
    enrollments: Iterable[Participation] = (),
    requests: Iterable[Request] = (),
    programs: Inputs | None = None,
    provider: str | None = None,
    demand: DemandInputs | None = None,
) -> dict:
    """Every report; `training` is what the coalition funnel counts (store.pipeline_report_inputs:
    the enrollments and the referrals of the same people), none by default; `enrollments` the
    enrollments the WIOA indicators over training count (reports/inputs.training_participations);
    `requests` the supportive-service requests the report sees (reports/inputs.service_requests);
    `programs` what credential and program outcomes and peer benchmarks read, coalition-wide
    (reports/inputs.credential_inputs), cut to `provider`'s view when the reader is a partner.
    Their groups (and the services' outcome comparison) are suppressed as the referral funnel's
    (`suppress_funnel`). `demand`: the demand board's inputs; the skills gap then shows the
    board's forecast beside today's openings."""
    records = list(records)
    shown = board(demand.openings, demand.forecasts, demand.standards, settings.demand_min_employers) if demand else None
    enrolled, hires = list(training[0]), list(training[1])
    groups_threshold = settings.suppression_threshold if settings.suppress_funnel else None
    return {
        "funnel": funnels(records, settings.period, groups_threshold),
        "good_jobs": good_jobs(records, settings.good_jobs, settings.growth_min_wages),
        "wioa": indicators(records, settings.as_of),
        "wioa_training": training_indicators(enrollments, settings.as_of, groups_threshold),
        # Demand by occupation under the board's employer rule for a non-operator (docs/reports.md).
        "skills_gap": skills_gap(gaps, openings, settings.top_skills,
                                 forecast_by_occupation(shown["forecast"]) if shown else None,
                                 settings.demand_min_employers if settings.suppress_funnel else None),
        "transparency": transparency(records, settings.suppression_threshold),
        "pipeline": coalition_funnel(enrolled, hires, groups_threshold),
        "services": services_report(requests, participants(records, enrolled, hires), groups_threshold,
                                    settings.business_timezone),
        **(program_reports(programs, settings, provider) if programs is not None else {}),
        **({"demand": shown} if shown else {}),
    }


def program_reports(programs: Inputs, settings: ReportSettings, provider: str | None = None) -> dict:
    """Credential and program outcomes and peer benchmarks as `provider` (None: an operator) reads
    them; suppressed (groups and wage medians) as the other grouped reports when
    `suppress_funnel`."""
    groups_threshold = settings.suppression_threshold if settings.suppress_funnel else None
    return {
        "credentials": credential_outcomes(programs, settings.good_jobs, provider, groups_threshold,
                                           settings.growth_min_wages),
        "benchmarks": benchmarks(programs, settings.good_jobs, provider, settings.suppression_threshold,
                                 settings.benchmark_min_providers, settings.suppress_funnel),
    }
