"""The AsyncAPI documents: what FastStream generates, valid for the official parser, documented."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from talentloop import specs

pytestmark = pytest.mark.unit
TOOL = Path(__file__).parents[2] / "tools" / "asyncapi"
DOCS = sorted(p for p in specs.documents() if p.parent.name == "asyncapi")


def test_there_is_one_document_per_service():
    assert [p.stem for p in DOCS] == sorted(d.name for d in specs.definitions())


def test_documents_validate_with_the_official_asyncapi_parser():
    if shutil.which("node") is None or not (TOOL / "node_modules" / "@asyncapi" / "parser").exists():
        if os.environ.get("CI"):
            pytest.fail("the AsyncAPI parser is not installed: `make tools` should have installed it")
        pytest.skip("run `make tools` to install the AsyncAPI parser (Node.js + npm)")
    result = subprocess.run(
        ["node", str(TOOL / "validate.mjs"), *map(str, DOCS)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": valid (AsyncAPI 3.0.0") == len(DOCS), result.stdout


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.stem)
def test_every_message_is_a_described_cloudevent_with_examples(path):
    doc = json.loads(path.read_text())
    schemas = doc["components"]["schemas"]
    messages = doc["components"]["messages"]
    assert messages, "no messages documented"
    for name, message in messages.items():
        payload = message["payload"]
        if "$ref" in payload:
            payload = schemas[payload["$ref"].rsplit("/", 1)[-1]]
        if ":talentloop.inbound." in name:  # a partner's own records, not our events
            assert "adapter" in payload.get("description", ""), name
            continue
        branches = payload.get("oneOf", [payload])
        for branch in branches:
            assert branch.get("description", "").startswith("CloudEvents message"), name
            data = branch["properties"]["data"]
            if "$ref" in data:
                data = schemas[data["$ref"].rsplit("/", 1)[-1]]
            assert data.get("description") and data.get("examples"), f"{name}: data lacks description or examples"
            undocumented = [f for f, p in data["properties"].items() if not p.get("description")]
            assert not undocumented, f"{name}: undocumented fields {undocumented}"


def test_referrals_consumers_document_both_versions():
    routing = json.loads((specs.CONTRACTS / "asyncapi" / "routing.json").read_text())
    text = json.dumps(routing["components"])
    assert "referral.submitted.v1" in text and "referral.submitted.v2" in text
