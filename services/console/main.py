"""`python -m services.console.main`: the operators' console (started by `talentloop up`)."""

from __future__ import annotations

from plumbing.service import run
from services.console.app import DEFINITION


def main() -> None:
    # Live streams (server-sent events) never end by themselves: do not wait for them on stop.
    run(DEFINITION, graceful_shutdown_s=3)


if __name__ == "__main__":
    main()
