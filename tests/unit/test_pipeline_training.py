"""The coalition funnel from training (`pipeline.pipeline_funnel`, docs/pipeline.md "From
training"): people, not enrollments nor referrals; cumulative stages, monotone whatever the data;
joined with referrals by person_key; placed by employment type not exclusive."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.outcomes import pipeline
from services.outcomes.pipeline import Hire, Trainee


def test_a_known_cohort() -> None:
    trainees = [
        Trainee("a", "completed", True), Trainee("a", "exited", False),  # two enrollments, one person
        Trainee("b", "completed", False),
        Trainee("c", "exited", True),  # a credential without a reported completion: counted as completed
        Trainee("d", "enrolled", False),
    ]
    hires = [
        Hire("a", frozenset({"referred", "routed", "placed"}), ("retained_180_days",), ("internship", "full_time")),
        Hire("a", frozenset({"referred"})),
        Hire("b", frozenset({"referred", "routed", "interviewed"})),
        Hire("z", frozenset({"referred", "placed"}), (), ("full_time",)),  # never enrolled: not here
    ]
    people = (out := pipeline.pipeline_funnel(trainees, hires))["people"]
    assert out["enrollments"] == 5
    assert people["training"] == {"enrolled": 4, "completed_training": 3, "credential_earned": 2}
    assert people[pipeline.COMPLETIONS_RECORDED] == 2
    assert people["jobs"] == {"referred": 2, "routed": 2, "acknowledged": 2, "interviewed": 2, "offered": 1,
                              "placed": 1, "retained_90_days": 1, "retained_180_days": 1}
    assert people["placed_by_type"] == {"full_time": 1, "part_time": 0, "apprenticeship": 0, "internship": 1,
                                        "micro_internship": 0}


def test_nothing_gives_every_line_zero() -> None:
    assert pipeline.pipeline_funnel([], [Hire("x", frozenset({"referred"}))]) == pipeline.empty_pipeline()


persons = st.sampled_from(["p1", "p2", "p3", "p4"])
trainee = st.builds(Trainee, persons, st.sampled_from(["enrolled", "in_training", "completed", "exited"]), st.booleans())
hire = st.builds(Hire, persons, st.frozensets(st.sampled_from(pipeline.STAGES)),
                 st.lists(st.sampled_from(pipeline.FLAGS), unique=True).map(tuple),
                 st.lists(st.sampled_from(pipeline.EMPLOYMENT_TYPES), unique=True, max_size=2).map(tuple))


@settings(max_examples=60)
@given(st.lists(trainee, max_size=8), st.lists(hire, max_size=8))
def test_stages_are_monotone_and_count_people_once(trainees: list[Trainee], hires: list[Hire]) -> None:
    people = pipeline.pipeline_funnel(trainees, hires)["people"]
    line = [*people["training"].values()]
    assert line == sorted(line, reverse=True)
    assert people["training"]["enrolled"] == len({t.person_key for t in trainees})
    assert people[pipeline.COMPLETIONS_RECORDED] <= people["training"]["completed_training"]
    jobs = [*people["jobs"].values()]
    assert jobs == sorted(jobs, reverse=True) and jobs[0] <= people["training"]["enrolled"]
    assert all(n <= people["training"]["enrolled"] for n in people["placed_by_type"].values())
