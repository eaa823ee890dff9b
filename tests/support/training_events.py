"""Training events for outcomes' tests (issue 15 slice 6): a program, enrollments and what
happens to them, as intake publishes them on talentloop.programs and talentloop.training."""

from __future__ import annotations

from datetime import date

from contracts import events

SEALED = events.Sealed(kid="cand#1", nonce="bm9uY2U", ciphertext="c2VhbGVk")
PROVIDER = "trainer"


def program(pid: str = "prog_1", partner: str = PROVIDER, name: str = "Web Development") -> events.ProgramRegisteredV1:
    return events.ProgramRegisteredV1(
        program_id=pid, partner_id=partner, name=name, modality="hybrid", length_weeks=12,
        credential=events.CredentialRequirement(name="Canary A+"), cost_to_participant=events.Money(amount="0"),
    )


def _ids(enr: str, cand: str, pid: str, partner: str) -> dict[str, str]:
    return {"enrollment_id": enr, "program_id": pid, "partner_id": partner, "candidate_id": cand}


def enrolled(enr: str, cand: str, pid: str = "prog_1", partner: str = PROVIDER, *,
             consent: bool = True, share_outcomes: bool = False,
             on: date = date(2026, 9, 1)) -> events.TrainingEnrolledV1:
    return events.TrainingEnrolledV1(
        **_ids(enr, cand, pid, partner), enrolled_on=on,
        consent=events.TrainingConsent(aggregate_reports=consent, share_outcomes_with_provider=share_outcomes,
                                       given_at="2026-08-30T00:00:00Z"),
        contact_sealed=SEALED, demographics_sealed=SEALED if consent else None,
    )


def progressed(enr: str, cand: str, percent: int | None = 50, pid: str = "prog_1",
               partner: str = PROVIDER) -> events.TrainingProgressedV1:
    return events.TrainingProgressedV1(**_ids(enr, cand, pid, partner), as_of=date(2026, 10, 1),
                                       milestone=events.TrainingMilestone.module_completed, percent_complete=percent)


def completed(enr: str, cand: str, on: date = date(2026, 12, 1), pid: str = "prog_1",
              partner: str = PROVIDER) -> events.TrainingCompletedV1:
    return events.TrainingCompletedV1(**_ids(enr, cand, pid, partner), completed_on=on)


def exited(enr: str, cand: str, on: date = date(2026, 10, 15), pid: str = "prog_1",
           partner: str = PROVIDER) -> events.TrainingExitedV1:
    return events.TrainingExitedV1(**_ids(enr, cand, pid, partner), exited_on=on,
                                   reason=events.TrainingExitReason.childcare)


def earned(enr: str, cand: str, name: str = "Canary A+", on: date = date(2026, 12, 20), pid: str = "prog_1",
           partner: str = PROVIDER) -> events.CredentialEarnedV1:
    return events.CredentialEarnedV1(**_ids(enr, cand, pid, partner), awarded_on=on,
                                     credential=events.EarnedCredential(name=name, ctdl_id="ce-1"))


def erased(cand: str, refs: list[str], enrollments: list[str]) -> events.CandidateErasedV1:
    return events.CandidateErasedV1(candidate_id=cand, referral_ids=refs, enrollment_ids=enrollments,
                                    requested_by=events.ErasureRequester.operator, erased_at="2026-12-30T00:00:00Z")
