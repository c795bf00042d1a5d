#!/usr/bin/env python3
"""Checks real responses against docs/openapi.yaml, field by field.

Usage: check_openapi.py OPENAPI_YAML SAMPLES_JSON
SAMPLES_JSON is a list of {"path": "/api/v1/status", "method": "get", "status": 200, "body": <json>}, where "path"
is the path template as written in the spec. Every sample is validated against the response schema of that
path/method/status with JSON Schema 2020-12 (OpenAPI 3.1 schemas are JSON Schema). Strict: an object may not carry a
field the spec does not describe (unevaluatedProperties: false is added to every object schema), so the spec stays
true in both directions. Prints one JSON line {"checked": N, "errors": [...]} and exits 1 on any error.
"""

import copy
import json
import sys

import yaml
from jsonschema import Draft202012Validator


def strict(node, in_all_of=False):
    """Adds unevaluatedProperties: false to object schemas (at the allOf level for compositions)."""
    if isinstance(node, dict):
        if "allOf" in node:
            node["allOf"] = [strict(s, in_all_of=True) for s in node["allOf"]]
            node.setdefault("unevaluatedProperties", False)
            return node
        if "properties" in node and not in_all_of and "additionalProperties" not in node:
            node.setdefault("unevaluatedProperties", False)
        return {k: (strict(v) if k not in ("allOf",) else v) for k, v in node.items()}
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


def main() -> None:
    spec = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
    samples = json.load(open(sys.argv[2], encoding="utf-8"))
    root = strict(copy.deepcopy(spec))
    errors = []
    for s in samples:
        path, method, status = s["path"], s.get("method", "get"), str(s.get("status", 200))
        op = spec["paths"].get(path, {}).get(method)
        if op is None:
            errors.append(f"{method.upper()} {path} is not in the spec")
            continue
        resp = op["responses"].get(status)
        if resp is None:
            errors.append(f"{method.upper()} {path} has no {status} response in the spec")
            continue
        if "$ref" in resp:
            name = resp["$ref"].split("/")[-1]
            resp = spec["components"]["responses"][name]
        pointer = "/".join(["#", "paths", path.replace("~", "~0").replace("/", "~1"), method, "responses", status,
                            "content", "application~1json", "schema"])
        if "$ref" in op["responses"][status]:
            pointer = op["responses"][status]["$ref"] + "/content/application~1json/schema"
        schema = dict(root)
        schema["$ref"] = pointer
        for e in Draft202012Validator(schema).iter_errors(s["body"]):
            where = "/".join(str(p) for p in e.absolute_path)
            errors.append(f"{method.upper()} {path} {status} at /{where}: {e.message[:300]}")
    print(json.dumps({"checked": len(samples), "errors": errors}))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
