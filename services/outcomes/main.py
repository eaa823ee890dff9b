"""Entry point: `python -m services.outcomes.main` runs the outcomes service as its own process."""

from plumbing.service import run
from services.outcomes.app import DEFINITION


def main() -> None:
    run(DEFINITION)


if __name__ == "__main__":
    main()
