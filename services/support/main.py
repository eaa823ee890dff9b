"""Entry point: `python -m services.support.main` runs the support service as its own process."""

from plumbing.service import run
from services.support.app import DEFINITION


def main() -> None:
    run(DEFINITION)


if __name__ == "__main__":
    main()
