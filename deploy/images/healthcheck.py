"""The TalentLoop image's HEALTHCHECK: the service in this container answers GET /health with 200.

Standard library only (a check every few seconds in every container must cost milliseconds,
not the settings' imports); the port is TALENTLOOP_HTTP_PORT, which the compose file sets for
every service. A container without it (a one-off job) has nothing to check.
"""

import os
import sys
import urllib.request


def main() -> int:
    port = os.environ.get("TALENTLOOP_HTTP_PORT")
    if not port:
        return 0
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=4) as answer:
            return 0 if answer.status == 200 else 1
    except OSError as exc:
        print(f"GET /health on port {port}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
