"""`projection.project_enrollment` (issue 15 slice 6): an enrollment from its training events,
the same in any order, and as a record the store keeps as JSON and loads back."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, date, datetime, timedelta

from contracts import build
from services.outcomes import projection, records, records_json
from tests.support import training_events as t

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def ledger(*payloads, hours: list[int] | None = None) -> list[projection.LedgerEvent]:  # type: ignore[no-untyped-def]
    out = []
    for i, p in enumerate(payloads):
        env = build(p, source="/t", correlation_id="c", time=T0 + timedelta(hours=(hours or range(99))[i]))
        out.append(projection.LedgerEvent(env.type, env.time, None, json.loads(env.model_dump_json())["data"]))
    return out


def test_a_completed_enrollment_with_a_credential_in_any_order() -> None:
    evs = ledger(t.enrolled("e1", "c1"), t.progressed("e1", "c1", 40), t.progressed("e1", "c1", 80),
                 t.completed("e1", "c1"), t.earned("e1", "c1"), t.earned("e1", "c1"))
    seen = [projection.project_enrollment("e1", "trainer", "prog_1", list(order))
            for order in itertools.permutations(evs)]
    p = seen[0]
    assert all(s == p for s in seen)
    r = p.record
    assert (r.status, r.candidate_id, r.enrolled_on, r.completed_on) == ("completed", "c1", date(2026, 9, 1),
                                                                         date(2026, 12, 1))
    assert r.percent_complete == 80 and r.milestones == ("module_completed", "module_completed")
    assert r.credentials == (records.EarnedCredentialRecord("Canary A+", None, "ce-1", date(2026, 12, 20)),)  # once
    assert r.aggregate_consent and p.demographics_sealed is not None
    assert records_json.load(records.EnrollmentRecord, json.loads(json.dumps(records_json.dump(r)))) == r


def test_status_is_enrolled_in_training_or_exited_and_demographics_need_consent() -> None:
    only = projection.project_enrollment("e", "trainer", "prog_1", ledger(t.enrolled("e", "c", consent=False)))
    assert only.record.status == "enrolled" and only.demographics_sealed is None and not only.record.aggregate_consent
    training = projection.project_enrollment("e", "trainer", "prog_1",
                                             ledger(t.enrolled("e", "c"), t.progressed("e", "c", None)))
    assert training.record.status == "in_training" and training.record.percent_complete is None
    left = projection.project_enrollment("e", "trainer", "prog_1", ledger(t.enrolled("e", "c"), t.exited("e", "c")))
    assert (left.record.status, left.record.exited_on, left.record.exit_reason) == (
        "exited", date(2026, 10, 15), "childcare")


def test_the_later_of_completion_and_exit_decides_the_status() -> None:
    def status(*payloads) -> str:  # type: ignore[no-untyped-def]
        return projection.project_enrollment("e", "trainer", "prog_1", ledger(*payloads)).record.status

    assert status(t.enrolled("e", "c"), t.exited("e", "c", on=date(2026, 10, 1)),
                  t.completed("e", "c", on=date(2026, 12, 1))) == "completed"  # came back and finished
    assert status(t.enrolled("e", "c"), t.completed("e", "c", on=date(2026, 10, 1)),
                  t.exited("e", "c", on=date(2026, 12, 1))) == "exited"
    assert status(t.enrolled("e", "c"), t.completed("e", "c", on=date(2026, 10, 1)),
                  t.exited("e", "c", on=date(2026, 10, 1))) == "completed"


def test_events_before_the_enrollment_still_name_the_candidate() -> None:
    r = projection.project_enrollment("e", "trainer", "prog_1", ledger(t.completed("e", "c"))).record
    assert (r.candidate_id, r.enrolled_on, r.status) == ("c", None, "completed")


def test_an_erased_persons_credential_still_counts_as_earned_but_names_no_credential() -> None:
    """An erasure strips `credential` from credential.earned (plumbing.scrub): projecting the
    redacted rows again must not fail (it raised KeyError, failing the erasure in outcomes), and
    the enrollment still earned a credential, which no credential's row may name."""
    from plumbing import scrub
    from services.outcomes import pipeline

    evs = [projection.LedgerEvent(e.event_type, e.occurred_at, e.employer_id, scrub.strip(e.data))
           for e in ledger(t.enrolled("e1", "c1"), t.completed("e1", "c1"), t.earned("e1", "c1"))]
    assert "credential" not in evs[-1].data
    r = projection.project_enrollment("e1", "trainer", "prog_1", evs).record
    assert r.status == "completed" and [c.erased for c in r.credentials] == [True]
    assert pipeline.trainee_of("erased:x", r).credential
    assert pipeline.enrolled_of("erased:x", r).credentials == ()
    assert records_json.load(records.EnrollmentRecord, json.loads(json.dumps(records_json.dump(r)))) == r
