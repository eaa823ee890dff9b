"""`python -m contracts check` (CI) and `python -m contracts write` (after changing a model)."""

from __future__ import annotations

import sys

from contracts import schemas


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command == "write":
        for path in schemas.write():
            print(f"wrote {path}")
        command = "check"
    if command == "check":
        found = schemas.problems()
        for line in found:
            print(line)
        print("contracts: OK" if not found else f"contracts: {len(found)} problem(s)")
        return 1 if found else 0
    print("usage: python -m contracts [check|write]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
