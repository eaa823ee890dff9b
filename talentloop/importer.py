"""Client side of a bulk CSV import: stream the file up, follow the server's progress.

The file is streamed from disk (never read whole); intake answers with one NDJSON line
per committed batch (bytes and rows processed so far) and the summary last.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

Progress = Callable[[dict[str, Any]], None]


class ImportFailed(Exception):
    pass


def import_csv(
    intake_url: str,
    api_key: str,
    path: Path,
    on_progress: Progress | None = None,
    *,
    idempotency_key: str | None = None,
    timeout: float = 3600.0,
) -> dict[str, Any]:
    """Import `path`; returns the import's summary (see `GET /v1/imports/{id}`)."""
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/x-ndjson"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    with path.open("rb") as f, httpx.Client(timeout=timeout) as http:
        files = {"file": (path.name, f, "text/csv")}
        with http.stream("POST", f"{intake_url}/v1/imports", files=files, headers=headers) as r:
            if r.status_code >= 400:
                r.read()
                raise ImportFailed(_problem(r))
            if not r.headers.get("content-type", "").startswith("application/x-ndjson"):
                r.read()
                return r.json()  # an idempotent replay answers with the stored summary at once
            last: dict[str, Any] = {}
            for line in r.iter_lines():
                if line.strip():
                    last = json.loads(line)
                    if on_progress and "status" not in last:
                        on_progress(last)
    if last.get("status") != "done":
        raise ImportFailed(f"import {last.get('import_id')} {last.get('status')}: {last.get('failure')}")
    return last


def _problem(r: httpx.Response) -> str:
    try:
        doc = r.json()
    except ValueError:
        return f"HTTP {r.status_code}: {r.text[:500]}"
    return f"HTTP {r.status_code} {doc.get('title')}: {doc.get('detail') or ''}".strip()


def error_report(intake_url: str, api_key: str, summary: dict[str, Any]) -> str:
    r = httpx.get(f"{intake_url}{summary['error_report']}", headers={"Authorization": f"Bearer {api_key}"}, timeout=60)
    r.raise_for_status()
    return r.text
