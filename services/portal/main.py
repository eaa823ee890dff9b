"""`python -m services.portal.main`: the portal (started by `talentloop up`)."""

from __future__ import annotations

import uvicorn

from plumbing.settings import Settings
from services.portal.app import NAME, create_app


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.port_for(NAME),
        log_config=None,
        access_log=False,
        proxy_headers=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
