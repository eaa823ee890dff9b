"""The compatibility checker: each rule fails with the field and the rule's name."""

import copy

import pytest

from contracts import compat, schemas
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
