#!/usr/bin/env python3
"""Validate recorded hallpass responses against django-allauth's OpenAPI schemas.

Usage: validate_responses.py SPEC.yaml RESPONSES.jsonl

RESPONSES.jsonl is written by the integration tests when HALLPASS_RECORD_RESPONSES is set
(tests/it/web_util.rs). Every response to a path the spec describes under
/_allauth/{client}/v1 (client = app), with a status the spec documents for that operation, must
validate against the documented JSON schema. Statuses the spec does not document (ours: 413,
503, ...) are counted and listed, not failed. Exits 1 on any schema violation.
"""
import json
import re
import sys
import warnings
from collections import Counter

import yaml

# RefResolver is deprecated in favour of `referencing`, but still resolves local $refs exactly.
warnings.filterwarnings("ignore", category=DeprecationWarning)
from jsonschema import Draft7Validator, RefResolver  # noqa: E402


def openapi_to_jsonschema(node):
    """OpenAPI 3.0 `nullable: true` -> JSON Schema type unions, recursively."""
    if isinstance(node, dict):
        out = {k: openapi_to_jsonschema(v) for k, v in node.items()}
        if out.pop("nullable", False):
            if "type" in out:
                types = out["type"] if isinstance(out["type"], list) else [out["type"]]
                out["type"] = types + ["null"]
            elif "$ref" in out or "allOf" in out or "oneOf" in out or "anyOf" in out:
                out = {"anyOf": [out, {"type": "null"}]}
            if "enum" in out:
                out["enum"] = list(out["enum"]) + [None]
        return out
    if isinstance(node, list):
        return [openapi_to_jsonschema(v) for v in node]
    return node


def resolve(spec, node):
    while isinstance(node, dict) and "$ref" in node:
        path = node["$ref"].lstrip("#/").split("/")
        node = spec
        for part in path:
            node = node[part]
    return node


# Where the wire contract (what the real allauth server does, ../shared/reference/WIRE_CONTRACT.md)
# and the upstream spec disagree, the contract wins. Each entry: (status, JSON path, value).
CONTRACT_OVERRIDES = {
    # A dead session answers 410 with meta.is_authenticated = null; the spec says boolean.
    (410, "meta/is_authenticated", None),
} | {
    # --- password change and reset ---
    # With ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED every unauthenticated flows list ends with
    # {"id": "password_reset_by_code", "is_pending": true|false}
    # (tests/fixtures/allauth/password_reset_by_code.json#10); the spec's Flow enum lacks the
    # id and allows is_pending only true.
    (status, f"data/flows/{n}/{field}", value)
    for status in (401, 410)
    for n in range(1, 6)
    for field, value in (("id", "password_reset_by_code"), ("is_pending", False))
}


def overridden(status, error):
    if ambiguous_one_of(error) or password_reset_method(error):
        return True
    try:
        return (status, "/".join(map(str, error.path)), error.instance) in CONTRACT_OVERRIDES
    except TypeError:  # an object or array instance is never an override
        return False


def password_reset_method(error):
    """A `methods` entry `{method: password_reset, at}`: what allauth lists for a login by
    `ACCOUNT_LOGIN_ON_PASSWORD_RESET` (tests/fixtures/allauth/password_reset_by_key_login_on_reset.json#18)
    and the spec's `AuthenticationMethod` does not name."""
    instance = error.instance
    return (
        isinstance(instance, dict)
        and instance.get("method") == "password_reset"
        and set(instance) == {"method", "at"}
    )


def ambiguous_one_of(error):
    """A `oneOf` that fails only because the body fits more than one alternative: the spec's
    `AuthenticationOrReauthentication` (allauth's 401 asking for reauthentication also has the
    `flows` and `meta` of a plain `AuthenticationResponse`). Fitting none still fails."""
    return error.validator == "oneOf" and "is valid under each of" in error.message


def main():
    spec = openapi_to_jsonschema(yaml.safe_load(open(sys.argv[1])))
    resolver = RefResolver.from_schema(spec)
    templates = []
    for template in spec["paths"]:
        pattern = re.escape(template).replace(r"\{client\}", "(app|browser)")
        templates.append((re.compile("^" + pattern + "$"), template))
    checked, undocumented, unknown_path, failures = Counter(), Counter(), Counter(), []
    for line in open(sys.argv[2]):
        rec = json.loads(line)
        path = rec["path"].split("?")[0]
        match = next((t for rx, t in templates if rx.match(path)), None)
        if match is None:
            unknown_path[path] += 1
            continue
        operation = spec["paths"][match].get(rec["method"].lower())
        if operation is None:
            undocumented[(rec["method"], match, "method")] += 1
            continue
        response = operation.get("responses", {}).get(str(rec["status"]))
        if response is None:
            undocumented[(rec["method"], match, rec["status"])] += 1
            continue
        response = resolve(spec, response)
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        errors = sorted((e for e in Draft7Validator(schema, resolver=resolver)
                         .iter_errors(rec["body"]) if not overridden(rec["status"], e)),
                        key=lambda e: list(map(str, e.path)))
        checked[(rec["method"], match, rec["status"])] += 1
        for e in errors[:3]:
            failures.append(f'{rec["method"]} {path} {rec["status"]}: {e.message} at '
                            f'{"/".join(map(str, e.path))}\n    body: {json.dumps(rec["body"])[:300]}')
    for key, n in sorted(checked.items(), key=str):
        print(f"validated {n:4d} x {key[0]} {key[1]} {key[2]}")
    for key, n in sorted(undocumented.items(), key=str):
        print(f"not in the spec {n:4d} x {key[0]} {key[1]} {key[2]}")
    for path, n in sorted(unknown_path.items()):
        print(f"path not in the spec {n:4d} x {path}")
    if failures:
        print(f"\n{len(failures)} schema violations:")
        print("\n".join(failures[:50]))
        sys.exit(1)
    total = sum(checked.values())
    if total == 0:
        print("no response was validated")
        sys.exit(1)
    print(f"openapi: {total} responses validated against the allauth schemas, 0 violations")


if __name__ == "__main__":
    main()
