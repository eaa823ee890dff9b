"""`talentloop funnel` prints the coalition funnel from training when the API gives it
(cli.format_funnel), every line in the API's order, and nothing of it when absent."""

from __future__ import annotations

from services.outcomes import pipeline
from services.outcomes.pipeline import Hire, Trainee
from talentloop.cli import format_funnel


def doc(with_pipeline: bool) -> dict:
    out = {"stages": list(pipeline.STAGES), "outcomes": list(pipeline.OUTCOMES), "placed": list(pipeline.PLACED_DETAILS),
           "total": pipeline.empty(), "by_partner": {}}
    if with_pipeline:
        counted = pipeline.pipeline_funnel([Trainee("a", "completed", True), Trainee("b", "exited", False)],
                                           [Hire("a", frozenset({"placed"}), (), ("internship",))])
        out["pipeline"] = {"training_stages": list(pipeline.TRAINING_STAGES), "job_stages": list(pipeline.JOB_STAGES),
                           "employment_types": list(pipeline.EMPLOYMENT_TYPES), **counted}
    return out


def test_the_training_lines_follow_the_referral_table() -> None:
    text = format_funnel(doc(True))
    tail = text.split("from training: people (2 enrollments)\n")[1].splitlines()
    got = {line.rsplit(maxsplit=1)[0].strip(): int(line.rsplit(maxsplit=1)[1]) for line in tail}
    assert list(got)[:3] == ["enrolled", "completed_training", "credential_earned"]
    assert got["enrolled"] == 2 and got["completed_training"] == 1 and got["completions recorded"] == 1
    assert got["then placed"] == 1 and got["then retained_180_days"] == 0 and got["placed as internship"] == 1
    assert len(got) == 3 + 1 + len(pipeline.JOB_STAGES) + len(pipeline.EMPLOYMENT_TYPES)


def test_no_pipeline_no_training_lines() -> None:
    assert "from training" not in format_funnel(doc(False))
