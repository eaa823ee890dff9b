"""Entry point: `python -m services.employer_gateway.main` runs the employer_gateway service as its own process."""

from plumbing.service import run
from services.employer_gateway.app import DEFINITION


def main() -> None:
    run(DEFINITION)


if __name__ == "__main__":
    main()
