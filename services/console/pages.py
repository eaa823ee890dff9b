"""The console's pages: server-rendered HTML, a little JavaScript for the live stream only.

Everything shown is escaped; events are shown through plumbing.operations' allow-list (ids,
types, times, status fields), records no consumer can read by their position and reason,
dead letters and parked outbox rows without their payloads.

Buttons are plain HTML forms that POST: the session cookie is SameSite=Strict and
`sessions.operator` refuses a cross-origin POST, so another site cannot press them.
"""

from __future__ import annotations

from datetime import UTC
from html import escape
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from plumbing.auth import InvalidKey
from plumbing.operations import OperationError, ParkedOutboxRow
from plumbing.problems import Problem
from services.console.api import ops_of, outcomes
from services.console.sessions import COOKIE, LIFETIME_S, Operator, authenticate_operator, operator

router = APIRouter(include_in_schema=False)

NAV = (("/stream", "Live events"), ("/charts", "Funnel & good jobs"), ("/lag", "Lag"),
       ("/dead-letters", "Dead letters"), ("/outbox", "Parked outbox"), ("/health-checks", "Health"))

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#1d2733;color:#fff;padding:.6rem 1rem;display:flex;gap:1.2rem;align-items:center}
header a{color:#cfe3ff;text-decoration:none}header a.on{color:#fff;font-weight:600}
header form{margin-left:auto}main{padding:1rem 1.4rem}
table{border-collapse:collapse;background:#fff;width:100%;margin:.5rem 0 1.2rem}
th,td{border-bottom:1px solid #e3e6ea;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17723b}.bad{color:#b3261e;font-weight:600}.muted{color:#66717d}
.bar{background:#4b7bd1;height:.9rem;display:inline-block;vertical-align:middle}
.good{background:#2f9d5b}tr.undecodable td{color:#b3261e}form.inline{display:inline}.flash{background:#e7f3ea;border:1px solid #9fd1ae;padding:.5rem;margin:.5rem 0}
input,button{font:inherit;padding:.25rem .5rem}code{font-size:12px}
"""


def page(title: str, body: str, active: str = "", who: Operator | None = None) -> HTMLResponse:
    nav = "".join(f'<a href="{href}" class="{"on" if href == active else ""}">{escape(label)}</a>'
                  for href, label in NAV) if who else ""
    logout = (f'<span class="muted">{escape(who.principal.id)}</span>'
              '<form method="post" action="/logout"><button>Log out</button></form>') if who else ""
    html = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · TalentLoop</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body><header><strong>TalentLoop operators</strong>{nav}{logout}</header>'
            f'<main><h1>{escape(title)}</h1>{body}</main></body></html>')
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                       "Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                                       "script-src 'self'; frame-ancestors 'none'"})


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


@router.get("/login")
async def login_form(request: Request, failed: bool = False) -> Response:
    message = '<p class="bad">That is not a valid operator key.</p>' if failed else ""
    body = (f'{message}<form method="post" action="/login" autocomplete="off">'
            '<label>Operator API key <input type="password" name="key" id="key" size="70" required></label> '
            '<button type="submit" id="login">Log in</button></form>'
            '<p class="muted">Your key stays on the server; the browser gets a session cookie.</p>')
    return page("Log in", body)


@router.post("/login")
async def login(request: Request, key: Annotated[str, Form()]) -> Response:
    try:
        await authenticate_operator(request, key.strip())
    except InvalidKey:
        return RedirectResponse("/login?failed=true", status_code=303)
    token = request.app.state.sessions.create(key.strip())
    response = RedirectResponse("/stream", status_code=303)
    response.set_cookie(COOKIE, token, max_age=LIFETIME_S, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    request.app.state.sessions.drop(request.cookies.get(COOKIE))
    response = to_login()
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
async def home(request: Request) -> Response:
    return RedirectResponse("/stream", status_code=303)


@router.get("/stream")
async def stream_page(
    request: Request,
    type: Annotated[list[str], Query()] = [],  # noqa: B006
    partner: str = "",
    employer: str = "",
    referral: str = "",
) -> Response:
    who = await operator(request)
    if who is None:
        return to_login()
    chosen = ", ".join(t for t in type if t)

    def field(name: str, label: str, value: str) -> str:
        return (f'<label>{label} <input name="{name}" id="filter-{name}" value="{escape(value, quote=True)}" '
                'size="22"></label> ')

    query = urlencode([("type", t) for t in type if t] + [(k, v) for k, v in
                      (("partner", partner), ("employer", employer), ("referral", referral)) if v])
    body = (
        '<form method="get" action="/stream">' + field("type", "Type", chosen) + field("partner", "Partner", partner)
        + field("employer", "Employer", employer) + field("referral", "Referral", referral)
        + '<button type="submit">Filter</button></form>'
        + '<p>Stream: <span id="stream-state" data-state="connecting">connecting…</span> '
        '<span class="muted">(newest first; ids and status only)</span></p>'
        + f'<table id="events" data-query="{escape(query, quote=True)}"><thead><tr><th>time (UTC)</th><th>type</th>'
        '<th>referral</th><th>partner</th><th>employer</th><th>opening</th><th>status</th></tr></thead>'
        '<tbody></tbody></table><script src="/static/stream.js"></script>'
    )
    return page("Live events", body, "/stream", who)


STREAM_JS = """
(function () {
  var table = document.getElementById('events');
  var state = document.getElementById('stream-state');
  var body = table.tBodies[0];
  var query = table.dataset.query;
  var types = new URLSearchParams(query).getAll('type');
  var params = new URLSearchParams(query);
  params.delete('type');
  types.join(',').split(',').forEach(function (t) { if (t.trim()) params.append('type', t.trim()); });
  function setState(s, text) { state.dataset.state = s; state.textContent = text; }
  var source = new EventSource('/api/stream?' + params.toString());
  source.addEventListener('ready', function () { setState('live', 'live'); });
  source.addEventListener('event', function (m) {
    var v = JSON.parse(m.data), d = v.data || {};
    var referral = d.referral_id || (v.type.indexOf('referral.') === 0 ? v.subject : '');
    var status = ['status', 'previous_status', 'reason', 'outcome'].filter(function (k) { return d[k] !== undefined; })
      .map(function (k) { return k + '=' + d[k]; }).join(' ');
    var row = body.insertRow(0);
    row.dataset.referral = referral || '';
    row.dataset.type = v.type;
    [v.time.substring(0, 23).replace('T', ' '), v.type, referral, v.partner_id || d.partner_id || '',
     v.employer_id || d.employer_id || '', d.opening_id || '', status].forEach(function (text) {
      row.insertCell(-1).textContent = text;
    });
    while (body.rows.length > 500) { body.deleteRow(-1); }
  });
  source.addEventListener('undecodable', function (m) {
    var v = JSON.parse(m.data);
    var row = body.insertRow(0);
    row.className = 'undecodable';
    row.dataset.type = 'undecodable';
    [(v.time || '').substring(0, 23).replace('T', ' '), 'undecodable record' + (v.type ? ' (' + v.type + ')' : ''),
     v.key || '', '', '', '', v.topic + '@' + v.partition + ':' + v.offset + ' ' + v.reason].forEach(function (text) {
      row.insertCell(-1).textContent = text;
    });
    while (body.rows.length > 500) { body.deleteRow(-1); }
  });
  source.onerror = function () { setState('reconnecting', 'reconnecting…'); };
})();
"""


@router.get("/static/stream.js")
async def stream_js() -> Response:
    return Response(STREAM_JS, media_type="text/javascript", headers={"Cache-Control": "no-store"})


def _bars(rows: list[tuple[str, int]], css: str = "") -> str:
    top = max((n for _, n in rows), default=0) or 1
    return "<table>" + "".join(
        f'<tr><td>{escape(label)}</td><td class="num">{n}</td>'
        f'<td style="width:60%"><span class="bar {css}" style="width:{100 * n / top:.1f}%"></span></td></tr>'
        for label, n in rows) + "</table>"


@router.get("/charts")
async def charts(request: Request) -> Response:
    who = await operator(request)
    if who is None:
        return to_login()
    try:
        funnel = await outcomes(request, who, "/v1/funnel")
        good = (await outcomes(request, who, "/v1/reports"))["good_jobs"]
    except Problem as exc:
        return page("Funnel & good jobs", f'<p class="bad">{escape(str(exc))}</p>', "/charts", who)
    stages, ends, total = funnel["stages"], funnel["outcomes"], funnel["total"]
    # Every number is defined in docs/pipeline.md (the API's `definitions`).
    body = (f'<h2>Funnel</h2><p class="muted">Referrals (people in brackets). Stages are cumulative, outcomes '
            f'exclusive; definitions: {escape(funnel.get("definitions", "docs/pipeline.md"))}.</p>'
            '<div id="funnel">' + _bars([(f'{s} ({total["people"]["stages"][s]})', total["referrals"]["stages"][s])
                                         for s in stages]) + "</div>"
            '<h3>Where referrals stand now</h3><div id="outcomes">'
            + _bars([(f'{o} ({total["people"]["outcomes"][o]})', total["referrals"]["outcomes"][o]) for o in ends])
            + "</div>")
    partners = funnel.get("by_partner", {})
    if partners:
        rows = [(s, "stages") for s in stages] + [(o, "outcomes") for o in ends]
        body += ('<h3>By partner</h3><table><tr><th>referrals</th>'
                 + "".join(f"<th class=num>{escape(p)}</th>" for p in partners) + "</tr>"
                 + "".join(f"<tr><td>{escape(name)}</td>" + "".join(
                     f'<td class="num">{c["referrals"][kind][name]}</td>' for c in partners.values()) + "</tr>"
                           for name, kind in rows) + "</table>")
    total, policy = good["total"], good["policy"]
    rate = total.get("good_job_rate")
    body += (
        f'<h2>Good jobs</h2><p id="good-jobs">{total["good_jobs"]} of {total["assessed"]} assessed placements are good jobs'
        f'{f" ({rate:.0%})" if isinstance(rate, int | float) else ""}: at least {escape(str(policy["hourly_threshold"]))} '
        f'{escape(policy["currency"])}/hour with {escape(policy["basic_benefits"])}. '
        f'<span class="muted">Threshold: {escape(policy["threshold_source"])}</span></p>'
        + _bars([(g["group"], g["good_jobs"]) for g in good["by"].get("partner", [])], "good")
    )
    return page("Funnel & good jobs", body, "/charts", who)


@router.get("/lag")
async def lag_page(request: Request) -> Response:
    who = await operator(request)
    if who is None:
        return to_login()
    try:
        groups = await ops_of(request).lag()
    except OperationError as exc:
        return page("Consumer lag", f'<p class="bad">{escape(str(exc))}</p>', "/lag", who)
    rows = "".join(
        f'<tr data-group="{escape(g.group, quote=True)}"><td>{escape(g.service)}</td><td>{escape(g.topic)}</td>'
        f'<td>{escape(g.state)}</td><td class="num">{g.members}</td><td class="num {"bad" if g.lag else ""}">{g.lag}'
        "</td><td>" + " ".join(f"{p.partition}: {'-' if p.committed is None else p.committed}/{p.end}"
                               for p in g.partitions) + "</td></tr>"
        for g in groups)
    body = ('<table id="lag"><tr><th>service</th><th>topic</th><th>state</th><th class=num>members</th>'
            f'<th class=num>lag</th><th>partition: committed/end</th></tr>{rows}</table>')
    return page("Consumer lag", body, "/lag", who)


@router.get("/dead-letters")
async def dead_letters_page(request: Request, service: str = "", replayed: str = "", result: str = "") -> Response:
    who = await operator(request)
    if who is None:
        return to_login()
    flash = ""
    if replayed:
        flash = f'<p class="flash" id="flash">{escape(replayed)}: {escape(result or "done")}</p>'
    try:
        letters = await ops_of(request).dead_letters(service or None)
    except OperationError as exc:
        return page("Dead letters", f'<p class="bad">{escape(str(exc))}</p>', "/dead-letters", who)

    def row(d: Any) -> str:
        action = (f'<span class="ok">replayed {escape(d.replayed_at.strftime("%Y-%m-%d %H:%M:%S"))}</span>'
                  if d.replayed_at else
                  f'<form method="post" action="/dead-letters/{quote(d.id)}/replay">'
                  f'<button type="submit" data-replay="{escape(d.id, quote=True)}">Replay</button></form>')
        when = d.failed_at.strftime("%Y-%m-%d %H:%M:%S") if d.failed_at else "-"
        return (f'<tr data-id="{escape(d.id, quote=True)}"><td><code>{escape(d.id)}</code></td><td>{when}</td>'
                f'<td>{escape(d.error_type)}</td><td>{escape(d.original_topic)}@{d.original_partition}:'
                f'{d.original_offset}</td><td class="num">{d.attempts or "-"}</td>'
                f'<td class="reason">{escape(d.reason[:300])}</td><td>{action}</td></tr>')

    body = (flash + f'<p class="muted">{len(letters)} dead letters, newest first. Payloads are not shown here '
            "(they may be a partner's personal data): <code>talentloop dlq show ID</code>.</p>"
            '<table id="dead-letters"><tr><th>id</th><th>failed at (UTC)</th><th>error type</th><th>original</th>'
            '<th class=num>tries</th><th>reason</th><th></th></tr>'
            + "".join(row(d) for d in reversed(letters)) + "</table>")
    return page("Dead letters", body, "/dead-letters", who)


@router.post("/dead-letters/{letter_id}/replay")
async def replay_button(letter_id: str, request: Request) -> Response:
    who = await operator(request)
    if who is None:
        return to_login()
    try:
        result = await ops_of(request).replay_dead_letter(letter_id, by=f"console:{who.principal.id}")
        text = (f"replayed to {result.topic} offset {result.offset}" if result.status == "replayed"
                else "already replayed before; not sent again")
    except OperationError as exc:
        text = f"not replayed: {exc}"
    return RedirectResponse("/dead-letters?" + urlencode({"replayed": letter_id, "result": text}), status_code=303)


@router.get("/outbox")
async def outbox_page(request: Request, row: str = "", result: str = "") -> Response:
    who = await operator(request)
    if who is None:
        return to_login()
    flash = f'<p class="flash" id="flash">{escape(row)}: {escape(result or "done")}</p>' if row else ""
    try:
        rows = await ops_of(request).parked_outbox()
    except OperationError as exc:
        return page("Parked outbox", f'<p class="bad">{escape(str(exc))}</p>', "/outbox", who)

    def line(r: ParkedOutboxRow) -> str:
        ident = f"{r.service}:{r.id}"
        base = f"/outbox/{quote(r.service)}/{r.id}"
        actions = (
            f'<form class="inline" method="post" action="{base}/retry">'
            f'<button type="submit" data-retry="{escape(ident, quote=True)}">Retry</button></form> '
            f'<form class="inline" method="post" action="{base}/discard">'
            f'<label><input type="checkbox" name="confirm" value="yes" required> sure</label> '
            f'<button type="submit" data-discard="{escape(ident, quote=True)}">Discard</button></form>'
        )
        return (f'<tr data-id="{escape(ident, quote=True)}"><td>{escape(r.service)}</td><td class="num">{r.id}</td>'
                f'<td>{r.parked_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")}</td><td>{escape(r.topic)}</td>'
                f'<td><code>{escape(r.key)}</code></td><td class="num">{r.size}</td>'
                f'<td class="num {"bad" if r.waiting_behind else ""}">{r.waiting_behind}</td>'
                f'<td class="reason">{escape(r.reason[:300])}</td><td>{actions}</td></tr>')

    body = (
        flash + f'<p class="muted">{len(rows)} parked rows, oldest first. Kafka refused them (too large, a bad '
        "topic): each holds back the later rows of its key (<em>waiting</em>); other keys flow. "
        "<strong>Retry</strong> once the cause is fixed (e.g. the topic's limit raised); it is parked again if "
        "Kafka still refuses it. <strong>Discard</strong> gives the event up for good (the row stays, marked "
        "with your name) and lets its key flow. Contents are never shown here.</p>"
        '<table id="outbox"><tr><th>service</th><th class=num>id</th><th>parked at (UTC)</th><th>topic</th>'
        '<th>key</th><th class=num>bytes</th><th class=num>waiting</th><th>reason</th><th></th></tr>'
        + "".join(line(r) for r in rows) + "</table>"
    )
    return page("Parked outbox", body, "/outbox", who)


def _to_outbox(service: str, row_id: int, text: str) -> RedirectResponse:
    return RedirectResponse("/outbox?" + urlencode({"row": f"{service}:{row_id}", "result": text}), status_code=303)


@router.post("/outbox/{service}/{row_id}/retry")
async def outbox_retry_button(service: str, row_id: int, request: Request) -> Response:
    who = await operator(request)
    if who is None:
        return to_login()
    try:
        (change,) = await ops_of(request).retry_outbox(service, [row_id])
        text = "released: the relay tries it again" if change.done else "not parked (any more); nothing changed"
    except OperationError as exc:
        text = f"not released: {exc}"
    return _to_outbox(service, row_id, text)


@router.post("/outbox/{service}/{row_id}/discard")
async def outbox_discard_button(
    service: str, row_id: int, request: Request, confirm: Annotated[str, Form()] = ""
) -> Response:
    who = await operator(request)
    if who is None:
        return to_login()
    if confirm != "yes":
        return _to_outbox(service, row_id, "not discarded: tick 'sure' first")
    try:
        change = await ops_of(request).discard_outbox(service, [row_id], by=f"console:{who.principal.id}")
        text = "discarded: never published; its key flows again" if change.done else \
            "not parked (any more); nothing changed"
    except OperationError as exc:
        text = f"not discarded: {exc}"
    return _to_outbox(service, row_id, text)


@router.get("/health-checks")
async def health_page(request: Request) -> Response:
    who = await operator(request)
    if who is None:
        return to_login()
    report = await ops_of(request).health()

    def row(name: str, item: dict[str, Any]) -> str:
        state = '<span class="ok">ok</span>' if item["ok"] else '<span class="bad">down</span>'
        return (f'<tr data-name="{escape(name, quote=True)}"><td>{escape(name)}</td><td>{state}</td>'
                f'<td>{escape(item.get("url", ""))}</td><td>{escape(item["detail"])}</td></tr>')

    rows = row("broker", report["broker"]) + row("database", report["database"])
    rows += "".join(row(n, s) for n, s in report["services"].items())
    body = f'<table id="health"><tr><th>what</th><th>state</th><th>URL</th><th>detail</th></tr>{rows}</table>'
    return page("Health", body, "/health-checks", who)
