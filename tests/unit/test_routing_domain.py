import pytest

from services.routing.domain import Candidate, Opening, Routed, Unmatched, decide, skills

pytestmark = pytest.mark.unit


def opening(oid, required, preferred=(), remaining=5, soc="15-1252.00"):
    return Opening(oid, f"emp-{oid}", f"title {oid}", soc, skills(list(required)), skills(list(preferred)), remaining)


def cand(*have, soc=None, target=None):
    return Candidate("ref", skills(list(have)), soc, target)


def test_routes_to_opening_whose_required_skills_are_all_covered():
    d = decide(cand("Python", " SQL "), [opening("a", ["python", "java"]), opening("b", ["python", "sql"])])
    assert isinstance(d, Routed) and d.opening.opening_id == "b"
    assert d.matched == ["python", "sql"] and d.score == 0.95  # location unknown: half of its 0.1


def test_preferred_skills_decide_between_eligible_openings_and_are_explained():
    d = decide(cand("python", "docker"), [opening("a", ["python"], ["aws"]), opening("b", ["python"], ["docker", "aws"])])
    assert d.opening.opening_id == "b"
    assert d.missing_preferred == ["aws"]
    assert "lacks preferred: aws" in d.explanation


def test_full_openings_are_never_chosen():
    d = decide(cand("python"), [opening("a", ["python"], remaining=0)])
    assert isinstance(d, Unmatched) and d.reason == "openings that fit are full"


def test_unmatched_names_missing_required_skills_of_nearest_openings():
    d = decide(cand("python"), [opening("a", ["python", "sql"]), opening("b", ["java", "spring", "sql"])])
    assert isinstance(d, Unmatched)
    assert d.nearest[0].opening.opening_id == "a" and d.nearest[0].missing_required == ["sql"]
    assert d.missing_skills == ["java", "spring", "sql"]


def test_target_occupation_limits_the_pool():
    d = decide(cand("python", soc="15-1232.00"), [opening("a", ["python"])])
    assert isinstance(d, Unmatched) and "15-1232.00" in d.reason


def test_target_opening_wins_when_eligible():
    d = decide(cand("python", "docker", target="a"), [opening("a", ["python"]), opening("b", ["python"], ["docker"])])
    assert d.opening.opening_id == "a"


def test_decision_is_deterministic_whatever_the_catalogue_order():
    ops = [opening(x, ["python"], remaining=3) for x in "dcba"]
    assert decide(cand("python"), ops).opening.opening_id == decide(cand("python"), ops[::-1]).opening.opening_id == "a"


def test_skills_match_through_the_vocabulary_aliases():
    d = decide(cand("JS", "HTML5", "CSS3"), [opening("web", ["JavaScript", "html", "css"])])
    assert isinstance(d, Routed) and d.matched == ["css", "html", "javascript"]
