"""The credential outcomes' CTDL JSON-LD (reports/ctdl.py) against the pinned CTDL vocabulary
(tests/data/ctdl: the published context, unmodified, and the schema's entries of the terms used)."""

import json
from datetime import date
from pathlib import Path

import pytest
from pyld import jsonld

from services.outcomes.reports.credentials import credential_outcomes
from services.outcomes.reports.ctdl import CONTEXT, to_jsonld
from tests.unit.test_reports_credentials import INPUTS, POLICY

pytestmark = pytest.mark.unit

PINNED = Path(__file__).parents[1] / "data" / "ctdl"
CONTEXT_DOC = json.loads((PINNED / "context.json").read_text())
TERMS = {t["@id"]: t for t in json.loads((PINNED / "terms.json").read_text())["@graph"]}
KEYWORDS = {"@context", "@graph", "@type"}


def nodes(value):
    """Every node object (a dict with an @type) in a JSON-LD value, depth first."""
    if isinstance(value, list):
        for v in value:
            yield from nodes(v)
    elif isinstance(value, dict):
        if "@type" in value:
            yield value
        for k, v in value.items():
            if k not in KEYWORDS:
                yield from nodes(v)


def superclasses(cls: str) -> set[str]:
    out = {cls}
    for parent in TERMS.get(cls, {}).get("rdfs:subClassOf", []):
        out |= superclasses(parent)
    return out


def document(provider=None, threshold=None):
    return to_jsonld(credential_outcomes(INPUTS, POLICY, provider, threshold), "2024-12-01")


def test_every_term_is_in_the_pinned_context_with_the_right_domain_range_and_literal_type():
    doc = document()
    assert doc["@context"] == CONTEXT
    context = CONTEXT_DOC["@context"]
    literal = {"xsd:integer": (int,), "xsd:decimal": (int, float), "xsd:float": (int, float), "xsd:string": (str,),
               "xsd:date": (str,)}
    checked = 0
    for node in nodes(doc["@graph"]):
        cls = node["@type"]
        assert TERMS[cls]["@type"] == "rdfs:Class", cls
        for prop, value in node.items():
            if prop in KEYWORDS:
                continue
            assert prop in context, f"{prop} is not in the pinned CTDL context"
            assert superclasses(cls) & set(TERMS[prop]["schema:domainIncludes"]), f"{prop} on {cls}"
            ranges = set(TERMS[prop].get("schema:rangeIncludes", []))
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, dict) and "@type" in v:
                    assert superclasses(v["@type"]) & ranges, f"{prop} -> {v['@type']}"
                elif context[prop] and context[prop].get("@container") == "@language":
                    assert isinstance(v, dict) and all(isinstance(t, str) for t in v.values())
                else:
                    kinds = tuple(k for r in ranges if r in literal for k in literal[r])
                    assert kinds and isinstance(v, kinds) and not isinstance(v, bool), (prop, v)
                    if "xsd:date" in ranges:
                        date.fromisoformat(v)
            checked += 1
    assert checked > 40


def test_it_expands_with_pyld_against_the_pinned_context():
    def loader(url, options=None):
        assert url == CONTEXT
        return {"contextUrl": None, "documentUrl": url, "document": CONTEXT_DOC}

    expanded = jsonld.expand(document(), {"documentLoader": loader})
    ceterms = "https://purl.org/ctdl/terms/"
    types = {t for n in expanded for t in n.get("@type", [])}
    assert {ceterms + "Credential", ceterms + "LearningOpportunityProfile"} <= types
    credential = next(n for n in expanded if ceterms + "Credential" in n["@type"])
    assert credential[ceterms + "ctid"] == [{"@value": "ce-aaa", "@type": "http://www.w3.org/2001/XMLSchema#string"}]
    profiles = credential[ceterms + "aggregateData"]
    assert {ceterms + "AggregateDataProfile", ceterms + "EarningsProfile", ceterms + "EmploymentOutcomeProfile"} == {
        t for p in profiles for t in p["@type"]}
    # Nothing dropped in expansion: every property of the document is a CTDL IRI.
    assert all(k.startswith(("@", ceterms, "https://schema.org/", "https://credreg.net/qdata/terms/"))
               for n in expanded for k in n)


def test_the_figures_are_the_credential_outcomes():
    [aggregate, *_] = document()["@graph"][0]["ceterms:aggregateData"]
    assert aggregate["ceterms:numberAwarded"] == 2
    assert aggregate["ceterms:jobsObtained"][0]["schema:value"] == 2
    assert aggregate["ceterms:jobsObtained"][0]["qdata:percentage"] == 40.0
    program = next(n for n in document()["@graph"] if n["ceterms:name"] == {"en-US": "Help desk"})
    assert program["ceterms:estimatedCost"][0]["ceterms:price"] == 500.0
    earnings = [p for p in program["ceterms:aggregateData"] if p["@type"] == "ceterms:EarningsProfile"]
    assert [p["ceterms:medianEarnings"] for p in earnings] == [25.0, 32.0]


def test_a_suppressed_row_has_no_aggregate_data_and_the_combined_row_is_not_exported():
    doc = document(provider="A", threshold=10)
    assert all("ceterms:aggregateData" not in n for n in doc["@graph"])
    names = [n["ceterms:name"]["en-US"] for n in doc["@graph"]]
    assert "(smaller groups combined)" not in names and "CompTIA A+" not in names
