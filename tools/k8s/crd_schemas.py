"""Turn CustomResourceDefinitions into the JSON Schemas kubeconform reads, one per kind and
version at `<out>/<group>/<kind>_<version>.json` (kubeconform's `{{.Group}}/{{.ResourceKind}}_
{{.ResourceAPIVersion}}.json`), as openapi2jsonschema does: strict (an object with declared
properties takes no others, unless the CRD preserves unknown fields), `x-kubernetes-int-or-string`
as an integer or a string, and apiVersion and kind pinned to the resource's.

    python tools/k8s/crd_schemas.py OUT_DIR CRD.yaml...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def strict(node: Any) -> Any:
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node and "additionalProperties" not in node and not node.get(
        "x-kubernetes-preserve-unknown-fields"
    ):
        out["additionalProperties"] = False
    return out


def schemas(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`<group>/<kind>_<version>.json` -> its JSON Schema, for every version the CRD serves."""
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    out = {}
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        schema = strict(version["schema"]["openAPIV3Schema"])
        schema["properties"]["apiVersion"] = {"type": "string", "enum": [f"{group}/{version['name']}"]}
        schema["properties"]["kind"] = {"type": "string", "enum": [kind]}
        schema["properties"]["metadata"] = {"type": "object"}
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        out[f"{group}/{kind.lower()}_{version['name']}.json"] = schema
    return out


def main(out_dir: str, *crd_files: str) -> None:
    for crd_file in crd_files:
        for document in yaml.safe_load_all(Path(crd_file).read_text()):
            if not document or document.get("kind") != "CustomResourceDefinition":
                continue
            for name, schema in schemas(document).items():
                path = Path(out_dir) / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(schema, indent=1))
                print(path)


if __name__ == "__main__":
    main(*sys.argv[1:])
