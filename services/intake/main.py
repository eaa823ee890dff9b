"""Entry point: `python -m services.intake.main` runs the intake service as its own process."""

from plumbing.service import run
from services.intake.app import DEFINITION


def main() -> None:
    run(DEFINITION)


if __name__ == "__main__":
    main()
