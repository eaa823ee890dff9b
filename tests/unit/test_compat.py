"""The compatibility checker: each rule fails with the field and the rule's name."""

import copy

import pytest

from contracts import compat, schemas
from contracts.bounds import TEXT_PATTERN
from contracts.events import ReferralRoutedV1

pytestmark = pytest.mark.unit

BASE = schemas.writer_schema(ReferralRoutedV1)


def evolve(change) -> dict:
    new = copy.deepcopy(BASE)
    change(new)
    return new


def violations(*history: dict) -> list[compat.Violation]:
    return compat.check_history({f"1.{i}": s for i, s in enumerate(history)})


def test_adding_an_optional_field_is_compatible_both_ways():
    def add_optional(s):
        s["properties"]["note"] = {"type": "string"}

    assert violations(BASE, evolve(add_optional)) == []


def test_documentation_changes_are_compatible():
    def redocument(s):
        s["properties"]["score"]["description"] = "A new description"
        s["properties"]["score"]["examples"] = [0.5]

    assert violations(BASE, evolve(redocument)) == []


def test_changing_a_fields_type_names_the_field_and_rule():
    def retype(s):
        s["properties"]["score"] = {"type": "string"}

    [v] = violations(BASE, evolve(retype))
    assert (v.field, v.rule) == ("score", "type-changed")
    assert str(v).startswith("1.0 -> 1.1: field 'score' breaks type-changed")


def test_removing_a_required_field_names_the_field_and_rule():
    def remove(s):
        del s["properties"]["explanation"]
        s["required"].remove("explanation")

    [v] = violations(BASE, evolve(remove))
    assert (v.field, v.rule) == ("explanation", "required-field-removed")


def test_adding_a_required_field_in_a_minor_version_names_the_field_and_rule():
    def add_required(s):
        s["properties"]["region"] = {"type": "string"}
        s["required"].append("region")

    [v] = violations(BASE, evolve(add_required))
    assert (v.field, v.rule) == ("region", "required-field-added")


def test_required_optional_flips_break():
    def loosen(s):
        s["required"].remove("score")

    assert [(v.field, v.rule) for v in violations(BASE, evolve(loosen))] == [("score", "required-field-made-optional")]
    assert [(v.field, v.rule) for v in violations(evolve(loosen), BASE)] == [("score", "optional-field-made-required")]


def test_nested_and_array_item_changes_are_found_with_their_path():
    def retype_nested(s):
        s["$defs"]["Credential"]["properties"]["awarded_on"] = {"type": "integer"}
        s["properties"]["matched_skills"]["items"] = {"type": "integer"}

    found = {(v.field, v.rule) for v in violations(BASE, evolve(retype_nested))}
    assert ("credentials[].awarded_on", "type-changed") in found
    assert ("matched_skills[]", "type-changed") in found


def test_a_removed_optional_field_reused_with_another_type_is_caught_transitively():
    def add_note_string(s):
        s["properties"]["note"] = {"type": "string"}

    def add_note_integer(s):
        s["properties"]["note"] = {"type": "integer"}

    v0, v1, v2 = evolve(add_note_string), BASE, evolve(add_note_integer)
    assert violations(v1, v2) == []  # neighbours look fine...
    [v] = violations(v0, v1, v2)  # ...but 1.0's data has note: string
    assert (v.old_version, v.new_version, v.field, v.rule) == ("1.0", "1.2", "note", "type-changed")


def test_only_documentation_changes_count_as_the_same_published_version():
    def redocument(s):
        s["properties"]["score"]["description"] = "Reworded"

    def add_optional(s):
        s["properties"]["note"] = {"type": "string"}

    assert schemas.same_shape(BASE, evolve(redocument))
    assert not schemas.same_shape(BASE, evolve(add_optional))  # compatible, but a new minor version


# --- bounds: tightening and loosening are their own rules -------------------------------


def without_bounds(node):
    """The schema as it was before bounds: no maxLength/maxItems/maxProperties/maximum, no text pattern."""
    if isinstance(node, list):
        return [without_bounds(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: without_bounds(v) for k, v in node.items() if k not in compat.UPPER_BOUNDS}
    if out.get("type") == "string" and out.get("pattern") == TEXT_PATTERN:
        del out["pattern"]
    return out


def rules(found) -> set[tuple[str, str]]:
    return {(v.field, v.rule) for v in found}


def test_a_bound_raised_or_removed_is_loosened_and_always_breaks():
    def raise_explanation(s):
        s["properties"]["explanation"]["maxLength"] += 1

    def unpattern(s):
        del s["properties"]["explanation"]["pattern"]

    assert rules(violations(BASE, evolve(raise_explanation))) == {("explanation", "bound-loosened")}
    [v] = violations(BASE, evolve(unpattern))
    assert (v.field, v.rule) == ("explanation", "bound-loosened") and "removed" in v.detail
    # Even for a family whose bounds were accepted: only tightening can be accepted.
    history = {"1.1": BASE, "1.2": evolve(raise_explanation)}
    assert rules(compat.check_history(history, "referral.routed")) == {("explanation", "bound-loosened")}


def test_a_bound_introduced_or_lowered_is_tightened_and_named_with_its_path():
    def lower(s):
        s["properties"]["explanation"]["maxLength"] = 100
        s["properties"]["credentials"]["maxItems"] = 5
        s["$defs"]["Credential"]["properties"]["issuer"]["anyOf"][0]["maxLength"] = 50
        s["$defs"]["MatchDetails"]["properties"]["score_parts"]["maxProperties"] = 3

    found = violations(BASE, evolve(lower))
    assert rules(found) == {
        ("explanation", "bound-tightened"),
        ("credentials", "bound-tightened"),
        ("credentials[].issuer", "bound-tightened"),
        ("details.score_parts", "bound-tightened"),
    }
    assert "maxLength 30000 became 100" in next(str(v) for v in found if v.field == "explanation")


def test_introducing_bounds_is_reported_field_by_field_not_as_another_type():
    found = violations(without_bounds(BASE), BASE)
    assert {rule for _, rule in rules(found)} == {"bound-tightened"}
    fields = {field for field, _ in rules(found)}
    assert {"explanation", "credentials", "credentials[].issuer", "details.score_parts{key}", "matched_skills[]"} <= fields


def test_a_changed_pattern_is_another_type():
    def repattern(s):
        s["properties"]["explanation"]["pattern"] = "^[a-z]*$"

    assert rules(violations(BASE, evolve(repattern))) == {("explanation", "type-changed")}


def test_tightening_passes_only_through_a_version_listed_as_accepting_it():
    old = without_bounds(BASE)
    history = {"1.0": old, "1.1": old, "1.2": BASE}  # referral.routed put its bounds in 1.2
    assert compat.check_history(history, "referral.routed") == []
    assert compat.check_history(history, "referral.unknown") != []  # not accepted for another family
    assert {v.rule for v in compat.check_history(history)} == {"bound-tightened"}

    def lower(s):
        s["properties"]["explanation"]["maxLength"] = 100

    later = {**history, "1.3": evolve(lower)}  # a further tightening after the accepted one
    found = compat.check_history(later, "referral.routed")
    assert {(v.old_version, v.new_version, v.field, v.rule) for v in found} == {
        ("1.2", "1.3", "explanation", "bound-tightened")
    }


def test_the_accepted_tightenings_name_published_versions():
    published = schemas.published()
    for family, version in compat.ACCEPTED_TIGHTENINGS:
        assert version in published.get(family, {}), (family, version)
