"""Entry point: `python -m services.routing.main` runs the routing service as its own process."""

from plumbing.service import run
from services.routing.app import DEFINITION


def main() -> None:
    run(DEFINITION)


if __name__ == "__main__":
    main()
