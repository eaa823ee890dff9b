"""Miami's first year, reproduced (issue 15, "Tests that prove it") through the running services.

A known dataset (tests/support/miami.py: 551 enrollments in six programs of three training
providers, 137 completions, 47 internship placements, 4 full-time placements, 40 supportive
services asked for and 30 delivered) goes in through the providers' and employers' own entry
paths: the college's and the bootcamp's training CSVs (their adapters, copies of Riverbend's
columns, added to the adapters folder and reloaded), the tech hub's POST /v1/enrollments, the
providers' referrals of their participants (the same contact, so the same person), routed by
skill to five openings of the right employment type, and the employers' acknowledgements,
interviews, offers, placements, declines and two conversions to full time; a community
organisation joins the support service's directory and accepts, delivers or declines what the
providers ask it for their participants.

Outcomes must then count exactly the dataset's funnel: each provider's own GET /v1/funnel, the
operators' by provider and program in the report (JSON and pipeline.csv), and the coalition's
total as the difference between before and after (the network is shared with the other e2e
tests, whose people are not ours; both snapshots are taken on a settled network). A provider's
own report is suppressed: the small pilot program is never named, and its transparency tables
leave nothing for the attacker of tests/unit/test_reports_suppression.py to recover. The
reports count the service requests by status, the fulfilment rate and the money, and compare
the outcomes of the people served with the others'.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import pytest

from plumbing.operations import Operations
from services.outcomes.reports.groups import SMALL_GROUPS
from services.outcomes.reports.suppression import with_margins
from talentloop import demo
from tests.e2e.helpers import OPERATOR, Api, business_today, poll
from tests.support import miami
from tests.support.miami import Entry, Fate, Participant, Year
from tests.unit.test_reports_suppression import attack, recovered

pytestmark = pytest.mark.slow

CONCURRENCY = 16  # requests in flight: the services commit concurrent requests in groups
TEMPLATE = "riverbend-community-college.training.csv.yaml"  # the college's columns are Riverbend's


def lines_of(pipeline: dict[str, Any]) -> dict[tuple[str, str], int]:
    """GET /v1/funnel's pipeline as (section, line) -> people."""
    people = pipeline["people"]
    out = {("training", s): n for s, n in people["training"].items()}
    out[("training", "completions_recorded")] = people["completions_recorded"]
    out |= {("jobs", s): n for s, n in people["jobs"].items()}
    return out | {("placed_by_type", k): n for k, n in people["placed_by_type"].items()}


def summary_lines(summary: dict[str, Any]) -> dict[tuple[str, str], int]:
    """A report's coalition-funnel summary (total or group) as (section, line) -> people."""
    return {(line["section"], line["line"]): line["people"] for line in summary["lines"]}


def minus(after: dict[tuple[str, str], int], before: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    return {k: n - before.get(k, 0) for k, n in after.items()}


async def gather_bounded(calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


class Coalition:
    """The dataset's principals on the running network: keys issued by the operator."""

    def __init__(self, api: Api, y: Year) -> None:
        self.api, self.y = api, y
        self.keys: dict[str, dict[str, str]] = {}

    async def issue_keys(self) -> None:
        async def issue(kind: str, principal: str) -> None:
            r = await self.api.http.post(
                self.api.url("intake", "/v1/keys"),
                headers=self.api.net.auth(OPERATOR),
                json={"principal": {"kind": kind, "id": principal}, "scopes": ["read", "write"], "label": "miami year"},
            )
            assert r.status_code == 201, r.text
            self.keys[principal] = {"Authorization": f"Bearer {r.json()['key']}"}

        partners = [p.id for p in self.y.providers] + [self.y.service_provider]
        await asyncio.gather(
            *(issue("partner", p) for p in partners), *(issue("employer", e) for e in self.y.employers)
        )

    async def post(self, service: str, path: str, who: str, **kw: Any) -> dict[str, Any]:
        r = await self.api.http.post(self.api.url(service, path), headers=self.keys[who], timeout=60.0, **kw)
        assert r.status_code in (200, 201), f"{path}: {r.text}"
        return r.json()

    async def get(self, service: str, path: str, who: str, **kw: Any) -> Any:
        r = await self.api.http.get(self.api.url(service, path), headers=self.keys[who], timeout=60.0, **kw)
        assert r.status_code == 200, f"{path}: {r.text}"
        return r.json() if "json" in r.headers["content-type"] else r.text


async def settle(api: Api) -> None:
    """Wait until every service's outbox is empty and every consumer group has caught up (the
    demo's test of a settled network); on a timeout, say what was still busy."""
    net = api.net.network
    assert net.clock_file is not None
    async with Operations(net.bootstrap, net.database_url, net.urls) as ops:
        groups = {g: topics for g, (_, topics, _, _) in (await ops.groups()).items()}
    async with demo.LagReader(net.bootstrap, groups) as lag:
        view = demo.Network(api.http, net.urls, api.net.keys, net.clock_file, lag)
        try:
            await view.settled(None, timeout=60.0)
        except TimeoutError as exc:
            busy = {s: (h.get("status"), h.get("outbox_backlog")) for s, h in (await view.health()).items()}
            raise TimeoutError(f"{exc}: lag {await lag()}, (status, outbox backlog) {busy}") from None


async def operators_view(api: Api) -> tuple[dict[tuple[str, str], int], dict[str, Any]]:
    """The operators' pipeline lines from GET /v1/funnel, and the report (GET /v1/reports)."""
    funnel = lines_of((await api.funnel())["pipeline"])
    r = await api.http.get(api.url("outcomes", "/v1/reports"), headers=api.net.auth(OPERATOR), timeout=120.0)
    assert r.status_code == 200, r.text
    return funnel, r.json()


# --- the providers' and employers' side ------------------------------------------------------


def add_csv_adapter(folder: Path, provider: str) -> Path:
    """A provider's training CSV adapter: Riverbend's columns under the provider's partner id."""
    template = (folder / TEMPLATE).read_text()
    assert "partner_id: riverbend-community-college\n" in template
    path = folder / f"{provider}.training.csv.yaml"
    path.write_text(template.replace("partner_id: riverbend-community-college\n", f"partner_id: {provider}\n"))
    return path


async def reload_adapters(api: Api) -> None:
    r = await api.http.post(api.url("intake", "/v1/adapters/reload"), headers=api.net.auth(OPERATOR))
    assert r.status_code == 200, r.text


async def enroll(c: Coalition) -> dict[int, str]:
    """Every provider's programs, then its enrollments through its entry path; the enrollment
    ids intake answered the API's (participant n -> enrollment id)."""
    y = c.y
    await asyncio.gather(*(c.post("intake", "/v1/programs", p.provider.id, json=p.body()) for p in y.programs))

    async def by_csv(provider: miami.Provider, people: list[Participant]) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, miami.TRAINING_CSV_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(p.csv_row() for p in people)
        files = {"file": ("term.csv", text.getvalue().encode(), "text/csv")}
        summary = await c.post("intake", "/v1/imports/training", provider.id, files=files)
        assert (summary["status"], summary["accepted"], summary["rejected"]) == ("done", len(people), 0), summary

    by_api = [p for p in y.participants if p.provider.entry is Entry.api]
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda p=p: c.post("intake", "/v1/enrollments", p.provider.id, json=p.enrollment()) for p in by_api
    ]
    calls += [lambda pr=pr: by_csv(pr, y.of(pr)) for pr in y.providers if pr.entry is Entry.csv]
    answers = await gather_bounded(calls)
    return {p.n: a["enrollment_id"] for p, a in zip(by_api, answers[: len(by_api)], strict=True)}


async def refer(c: Coalition) -> dict[int, str]:
    """Each provider refers its participants the dataset refers: participant n -> referral id."""
    people = c.y.referred()
    answers = await gather_bounded(
        [lambda p=p: c.post("intake", "/v1/referrals", p.provider.id, json=p.referral_body()) for p in people]
    )
    return {p.n: a["referral_id"] for p, a in zip(people, answers, strict=True)}


async def routed(c: Coalition, opening_ids: dict[str, str], referral_ids: dict[int, str]) -> None:
    """Every referral meant for an opening is in its employer's inbox for that opening."""
    for opening in c.y.openings:
        wanted = {referral_ids[p.n] for p in c.y.referred() if p.referral.opening == opening}

        async def arrived(opening: miami.Opening = opening, wanted: set[str] = wanted) -> bool | None:
            page = await c.get(
                "employer_gateway",
                "/v1/referrals",
                opening.employer,
                params={"opening_id": opening_ids[opening.key], "limit": 500},
            )
            return True if wanted <= {i["referral_id"] for i in page["items"]} else None

        await poll(f"{len(wanted)} referrals routed to {opening.key}", arrived, timeout=60.0)


def terms(p: Participant, kind: str) -> dict[str, Any]:
    start = p.start_date()
    body: dict[str, Any] = {
        "job_title": p.referral.opening.title,
        "onet_soc_code": "15-1232.00",
        "employment_type": kind,
        "start_date": start.isoformat(),
    }
    if kind == "internship":
        return body | {
            "wage": {"amount": "17.50", "unit": "hour"},
            "hours_per_week": 20,
            "end_date": (start + timedelta(weeks=12)).isoformat(),
        }
    return body | {
        "wage": {"amount": "26.00", "unit": "hour"},
        "hours_per_week": 40,
        "benefits": {"health": True, "paid_leave": True},
    }


async def employers_act(c: Coalition, referral_ids: dict[int, str]) -> None:
    """What each employer does with the referrals it got, by the dataset's fate of each."""

    async def steps(p: Participant) -> None:
        fate, employer, rid = p.referral.fate, p.referral.opening.employer, referral_ids[p.n]

        async def act(path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            return await c.post("employer_gateway", f"/v1/referrals/{rid}/{path}", employer, json=body)

        if fate is Fate.declined:
            await act("decline", {"reason": "no_capacity"})
            return
        await act("acknowledge")
        when = datetime.combine(p.start_date() - timedelta(days=14), clock_time(14), UTC)
        await act("interviews", {"scheduled_for": when.isoformat(), "mode": "in_person"})
        if fate is Fate.interviewing:
            return
        kind = "full_time" if fate is Fate.hired else "internship"
        if fate is Fate.hired:  # interns are placed without a written offer
            await act("offers", terms(p, kind))
        await act("placement", terms(p, kind))
        if fate is Fate.converted:
            body = {k: v for k, v in terms(p, "full_time").items() if k != "start_date"}
            await act("conversion", body | {"converted_on": (p.start_date() + timedelta(days=60)).isoformat()})

    await gather_bounded([lambda p=p: steps(p) for p in c.y.referred() if p.referral.opening])


async def support(c: Coalition, enrollment_ids: dict[int, str], referral_ids: dict[int, str]) -> None:
    """The community organisation joins the directory; each provider asks it for the services
    the dataset says (once the support service knows the person: a 404 until it has read the
    enrollment or referral); it accepts, delivers (today: a delivery is not in the future nor
    before the request) or declines each."""
    org = c.y.service_provider
    await c.post(
        "support",
        "/v1/service-provider",
        org,
        json={"name": "Overtown Community Alliance", "service_types": list(miami.SERVICE_TYPES)},
    )

    async def serve(p: Participant) -> None:
        s = p.service
        body: dict[str, Any] = {"provider_id": org, "service_type": s.service_type, "reason": s.reason}
        body |= {"enrollment_id": enrollment_ids[p.n]} if s.by == "enrollment" else {"referral_id": referral_ids[p.n]}
        if s.amount:
            body["amount_requested"] = {"amount": s.amount}

        async def asked() -> str | None:
            r = await c.api.http.post(
                c.api.url("support", "/v1/service-requests"), json=body, headers=c.keys[p.provider.id]
            )
            assert r.status_code in (201, 404), r.text
            return r.json()["request_id"] if r.status_code == 201 else None

        request_id = await poll(f"support to know participant {p.n}", asked)
        if s.outcome == "declined":
            await c.post(
                "support", f"/v1/service-requests/{request_id}/decline", org, json={"reason_code": "no_capacity"}
            )
        if s.outcome in ("accepted", "delivered"):
            await c.post("support", f"/v1/service-requests/{request_id}/accept", org)
        if s.outcome == "delivered":
            value = {"value": {"amount": s.amount}} if s.amount else {}
            await c.post(
                "support",
                f"/v1/service-requests/{request_id}/deliver",
                org,
                json={"delivered_on": business_today().isoformat()} | value,
            )

    await gather_bounded([lambda p=p: serve(p) for p in c.y.served()])


def services_lines(summary: dict[str, Any]) -> dict[str, Any]:
    """A services report's summary, as far as the dataset decides it (miami.services_summary)."""
    return {
        k: summary[k]
        for k in (
            "requests",
            "status",
            "stale_open",
            "settled",
            "fulfilment_rate",
            "value_delivered",
            "amount_requested",
        )
    }


# --- what the providers and the operators read --------------------------------------------------


def program_groups(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {g["group"]: g for g in report["pipeline"]["by"]["program"]}


def transparency_leaks(report: dict[str, Any], people: list[Participant]) -> dict:
    """The attacker of tests/unit/test_reports_suppression.py against a provider's transparency
    tables as the service published them; the true tables are the dataset's."""
    grids, hidden_sets = [], []
    for dimension, categories in miami.TRANSPARENCY.items():
        table = report["transparency"]["tables"][dimension]
        rows = {row["category"]: row for row in table["rows"]} | {"total": table["total"]}
        assert [r["category"] for r in table["rows"]] == list(categories)
        grid = with_margins(miami.transparency_counts(people, dimension))
        hidden = set()
        for i, label in enumerate([*categories, "total"]):
            for j, column in enumerate(("placed", "not_placed", "referred")):
                cell = rows[label][column]
                if cell["suppressed"]:
                    hidden.add((i, j))
                else:
                    assert cell["count"] == grid[i][j], (dimension, label, column)
        grids.append(grid)
        hidden_sets.append(hidden)
    assert any(hidden_sets), "nothing suppressed: the attack would prove nothing"
    return recovered(attack(grids, hidden_sets))


async def test_miamis_first_year_reproduced(api: Api, adapters_dir: Path) -> None:
    t0 = time.monotonic()
    y = miami.year(run=f"m{int(time.time() * 1000) % 10**9}")
    college = y.providers[0]
    c = Coalition(api, y)
    await c.issue_keys()
    adapters = [add_csv_adapter(adapters_dir, p.id) for p in y.providers if p.entry is Entry.csv]
    try:
        await reload_adapters(api)
        await settle(api)
        before = await operators_view(api)

        posted = await asyncio.gather(
            *(c.post("employer_gateway", "/v1/openings", o.employer, json=o.body()) for o in y.openings)
        )
        opening_ids = {o.key: p["opening_id"] for o, p in zip(y.openings, posted, strict=True)}
        await asyncio.gather(*(api.wait_in_catalogue(i) for i in opening_ids.values()))
        enrollment_ids = await enroll(c)
        referral_ids = await refer(c)
        await routed(c, opening_ids, referral_ids)
        await asyncio.gather(employers_act(c, referral_ids), support(c, enrollment_ids, referral_ids))

        # Each provider's own funnel (exact: only it and the operators read it).
        for provider in y.providers:
            expected = miami.pipeline_lines(y.of(provider))

            async def counted(provider: miami.Provider = provider, expected: dict = expected) -> bool | None:
                return (
                    True
                    if lines_of((await c.get("outcomes", "/v1/funnel", provider.id))["pipeline"]) == expected
                    else None
                )

            await poll(f"{provider.id}'s funnel to count its year", counted, timeout=90.0)
        expected = miami.services_summary(y.participants)

        async def services_counted() -> bool | None:
            mine = (await c.get("outcomes", "/v1/reports", y.service_provider))["services"]["total"]
            return True if services_lines(mine) == expected else None

        await poll("the community organisation's report to count its requests", services_counted, timeout=60.0)
        fed_s = time.monotonic() - t0
        await settle(api)
        after = await operators_view(api)
    finally:
        for path in adapters:
            path.unlink()
        await reload_adapters(api)

    # The coalition: Miami's four numbers, and every other line of the dataset's funnel, in
    # GET /v1/funnel and in the report's total.
    year_lines = miami.pipeline_lines(y.participants)
    (funnel_before, report_before), (funnel_after, report) = before, after
    for added in (
        minus(funnel_after, funnel_before),
        minus(summary_lines(report["pipeline"]["total"]), summary_lines(report_before["pipeline"]["total"])),
    ):
        assert added == year_lines
        assert (
            added[("training", "enrolled")],
            added[("training", "completed_training")],
            added[("placed_by_type", "internship")],
            added[("placed_by_type", "full_time")],
        ) == (551, 137, 47, 4)

    # What the operators' and each provider's reports say (read at once: each is built on request).
    operators_csv, college_csv, *reports = await asyncio.gather(
        api.http.get(api.url("outcomes", "/v1/reports/pipeline.csv"), headers=api.net.auth(OPERATOR), timeout=120.0),
        c.get("outcomes", "/v1/reports/pipeline.csv", college.id),
        *(c.get("outcomes", "/v1/reports", provider.id) for provider in y.providers),
    )
    theirs = dict(zip(y.providers, reports, strict=True))

    # The operators' report by provider and by program: exact, and the same in pipeline.csv.
    providers = {g["group"]: g for g in report["pipeline"]["by"]["provider"]}
    programs = program_groups(report)
    for provider in y.providers:
        assert summary_lines(providers[provider.id]) == miami.pipeline_lines(y.of(provider))
    for program in y.programs:
        assert summary_lines(programs[program.id]) == miami.pipeline_lines(
            p for p in y.participants if p.program == program
        )
    assert operators_csv.status_code == 200, operators_csv.text
    rows = list(csv.DictReader(io.StringIO(operators_csv.text)))

    def csv_lines(dimension: str, group: str) -> dict[tuple[str, str], int]:
        return {
            (r["section"], r["line"]): int(r["people"])
            for r in rows
            if (r["dimension"], r["group"]) == (dimension, group)
        }

    assert csv_lines("total", "all") == summary_lines(report["pipeline"]["total"])  # nothing ran in between
    for provider in y.providers:
        assert csv_lines("provider", provider.id) == summary_lines(providers[provider.id])

    # A provider's own report is suppressed: groups of 10 people or fewer are never named, and
    # the transparency tables leave the attacker nothing to recover.
    for provider, mine in theirs.items():
        assert summary_lines(mine["pipeline"]["total"]) == miami.pipeline_lines(y.of(provider))
        for dimension, groups in mine["pipeline"]["by"].items():  # provider, program, credential
            for group in groups:  # named with more than 10 people, or combined (and hidden if still small)
                shown = group["suppressed"] is False and group["people"] > 10
                assert shown or (group["group"], group["people"]) == (SMALL_GROUPS, None), (dimension, group)
        assert transparency_leaks(mine, y.of(provider)) == {}, provider.id
    # The pilot (8 people) is combined with the smallest named program, which then is not named either.
    it_support, cyber, pilot = y.programs[:3]
    college_programs = program_groups(theirs[college])
    assert set(college_programs) == {it_support.id, SMALL_GROUPS}
    assert summary_lines(college_programs[SMALL_GROUPS]) == miami.pipeline_lines(
        p for p in y.of(college) if p.program in (pilot, cyber)
    )
    assert pilot.id not in college_csv and pilot.name not in college_csv

    # Supportive services: the operators' report counts the community organisation's requests
    # and each provider's exactly; a provider's report its own, and whether the people who
    # received a service completed training and were placed, against those who did not (hidden
    # where one side is 10 people or fewer).
    services = report["services"]["by"]
    assert services_lines({g["group"]: g for g in services["provider"]}[y.service_provider]) == (
        miami.services_summary(y.participants)
    )
    requesters = {g["group"]: g for g in services["requester"]}
    for provider, mine in theirs.items():
        expected = miami.services_summary(y.served(provider))
        assert services_lines(requesters[provider.id]) == services_lines(mine["services"]["total"]) == expected
        assert mine["services"]["total"]["delivered_with_days"] == expected["status"]["delivered"]
        compared, sides = mine["services"]["outcomes"], miami.services_outcomes(y.of(provider))
        if all(side["people"] > 10 for side in sides.values()):
            assert compared["suppressed"] is False
            for name, side in sides.items():
                assert {k: compared[name][k] for k in side} == side, (provider.id, name)
        else:
            assert compared["suppressed"] is True and compared["received"]["placed"] is None
    assert not theirs[y.providers[2]]["services"]["outcomes"]["suppressed"]  # the tech hub: 18 and 82 people

    print(
        f"Miami's year: fed and counted in {fed_s:.1f}s, {time.monotonic() - t0:.1f}s in all "
        f"({len(y.participants)} enrollments, {len(referral_ids)} referrals)"
    )
