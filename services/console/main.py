"""`python -m services.console.main`: the operators' console (started by `talentloop up`)."""

from __future__ import annotations

import uvicorn

from plumbing.service import create_app
from plumbing.settings import Settings
from services.console.app import DEFINITION


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(DEFINITION, settings),
        host=settings.http_host,
        port=settings.port_for(DEFINITION.name),
        log_config=None,
        access_log=False,
        timeout_keep_alive=75,  # as the services (plumbing.service.run)
        # Live streams (server-sent events) never end by themselves: do not wait for them on stop.
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
