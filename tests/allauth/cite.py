#!/usr/bin/env python3
"""List every `fixture.json#N` citation in README.md with what that exchange is.

    python3 tests/allauth/cite.py

After changing a scenario, exchange numbers after the change shift: run this and read
each line against the README sentence that cites it. Exits 1 if a citation points past
the end of its fixture.
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "allauth")


def main() -> int:
    text = open(os.path.join(HERE, "README.md"), encoding="utf-8").read()
    cache: dict[str, dict] = {}
    bad = 0
    for m in re.finditer(r"`(\w+\.json)#(\d+)`(?:–`#(\d+)`)?", text):
        name, first, last = m.group(1), int(m.group(2)), m.group(3)
        doc = cache.setdefault(
            name, json.load(open(os.path.join(FIXTURES, name), encoding="utf-8"))
        )
        for i in range(first, int(last or first) + 1):
            if i >= len(doc["exchanges"]):
                print(f"{name}#{i}: MISSING (only {len(doc['exchanges'])} exchanges)")
                bad += 1
                continue
            e = doc["exchanges"][i]
            body = e["response"]["body"]
            errors = body.get("errors", []) if isinstance(body, dict) else []
            codes = ",".join(x["code"] + ("/" + x["param"] if "param" in x else "") for x in errors)
            print(f"{name}#{i}: {e.get('comment')} -> {e['response']['status']} {codes}".rstrip())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
