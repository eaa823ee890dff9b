"""Operator commands: `talentloop tail`, `lag`, `dlq list|show|replay`, `replay`, `health`,
`outbox list|retry|discard`, `adapters reload` (docs/operators.md). All of it is
plumbing/operations.py; this is the terminal."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer

from plumbing.operations import (
    CONSUMERS,
    OUTBOX_SERVICES,
    DeadLetter,
    OperationError,
    Operations,
    OutboxChange,
    ParkedOutboxRow,
    TailFilter,
    parse_time,
)
from talentloop import credentials, network
from talentloop.network import NetworkConfig

T = TypeVar("T")
Home = Annotated[Path | None, typer.Option(help="State directory (default: $TALENTLOOP_HOME or ./.talentloop)")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of the pretty view")]
Service = Annotated[str | None, typer.Option(help=f"One of: {', '.join(CONSUMERS)}")]

dlq_app = typer.Typer(help="Dead letters: list them with their reasons, show one, replay them to their original topic.")
adapters_app = typer.Typer(help="Partner adapters (intake's mappings).")
outbox_app = typer.Typer(
    help="Parked outbox rows: events a service could not publish (Kafka refused them); later events of "
    "their key wait behind them. List them, retry them once the cause is fixed, or discard them."
)
OutboxService = Annotated[str | None, typer.Option(help=f"One of: {', '.join(OUTBOX_SERVICES)}")]


def operations(cfg: NetworkConfig) -> Operations:
    urls = {s.name: s.url for s in cfg.services()}
    return Operations(network.bootstrap(cfg), network.database_url(cfg), urls)


def _run(cfg: NetworkConfig, action: Callable[[Operations], Awaitable[T]]) -> T:
    async def go() -> T:
        async with operations(cfg) as ops:
            return await action(ops)

    try:
        return asyncio.run(go())
    except OperationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def _time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except OperationError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _dump(doc: Any) -> None:
    typer.echo(json.dumps(doc, indent=2, default=str))


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def event_line(view: dict[str, Any]) -> str:
    """One event, pretty: time, type, then the ids and status fields that it has."""
    if view.get("undecodable"):
        return "  ".join([
            (view["time"] or "")[11:23].ljust(12), f"{'UNDECODABLE':<28}",
            f"{view['topic']}@{view['partition']}:{view['offset']}", f"key={view['key'] or '-'}",
            *([f"type={view['type']}"] if view["type"] else []), f"reason={view['reason']}",
        ])
    data = view["data"]
    parts = [view["time"][11:23], f"{view['type']:<28}"]
    for label, value in (
        ("referral", data.get("referral_id") or (view["subject"] if view["type"].startswith("referral.") else None)),
        ("partner", view["partner_id"] or data.get("partner_id")),
        ("employer", view["employer_id"] or data.get("employer_id")),
        ("opening", data.get("opening_id")),
    ):
        if value:
            parts.append(f"{label}={value}")
    parts += [f"{k}={data[k]}" for k in ("status", "previous_status", "reason", "outcome") if k in data]
    return "  ".join(parts)


def tail(
    type_: Annotated[list[str] | None, typer.Option("--type", help="Event type or its prefix (repeatable)")] = None,
    partner: Annotated[str | None, typer.Option(help="Only this partner's events")] = None,
    employer: Annotated[str | None, typer.Option(help="Only this employer's events")] = None,
    referral: Annotated[str | None, typer.Option(help="Only this referral's events")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Start at a time (ISO 8601, or 10m, 2h ago); default now")]
    = None,
    count: Annotated[int | None, typer.Option(help="Stop after this many events")] = None,
    for_s: Annotated[float | None, typer.Option("--for", help="Stop after this many seconds")] = None,
    idle: Annotated[float | None, typer.Option(
        "--idle", help="Stop once no event came for this many seconds after the last one shown")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Follow the network's events as they happen (ids and status only, never personal data)."""
    cfg = NetworkConfig.load(home)
    filt = TailFilter(tuple(type_ or ()), partner, employer, referral)
    since = _time(from_, "--from")

    undecodable = 0
    went_quiet = False

    async def follow(ops: Operations) -> int:
        nonlocal undecodable, went_quiet
        seen = shown = 0
        async with ops.tail(filt, since) as t:
            try:
                # --idle counts from the last line shown, never from the start: reading --from a
                # time may take longer than the quiet period before its first event arrives.
                async for view in t.events(idle_s=idle or 1.0):
                    if view is None and idle is not None and shown:
                        went_quiet = True
                        break
                    if view is not None:
                        shown += 1
                        typer.echo(json.dumps(view) if as_json else event_line(view))
                        if view.get("undecodable"):
                            continue  # not an event: --count counts events
                        seen += 1
                        if count is not None and seen >= count:
                            break
            finally:
                undecodable = t.undecodable
        return seen

    async def bounded(ops: Operations) -> int:
        if for_s is None:
            return await follow(ops)
        try:
            return await asyncio.wait_for(follow(ops), for_s)
        except TimeoutError:
            return -1

    try:
        seen = _run(cfg, bounded)
    except KeyboardInterrupt:
        seen = 0
    if undecodable:
        typer.echo(f"{undecodable} record(s) could not be read (their consumers dead-letter them: "
                   "`talentloop dlq list`)", err=True)
    if seen == -1 and count is not None:
        typer.echo(f"stopped after {for_s:g} s before {count} events", err=True)
        raise typer.Exit(1)
    if went_quiet and count is not None and seen < count:
        typer.echo(f"stopped after {idle:g} s without an event, before {count} events", err=True)
        raise typer.Exit(1)


def lag(service: Service = None, as_json: AsJson = False, home: Home = None) -> None:
    """Consumer lag of each service's consumer groups: committed offsets against the end of each partition."""
    groups = _run(NetworkConfig.load(home), lambda ops: ops.lag(service))
    if as_json:
        _dump([g.to_dict() for g in groups])
        return
    if not groups:
        typer.echo("No consumer groups yet (are the services up? `talentloop health`)")
        return
    typer.echo(f"{'service':<17}{'topic':<44}{'state':<12}{'members':>8}{'lag':>8}  partitions (committed/end)")
    for g in groups:
        parts = " ".join(f"{p.partition}:{'-' if p.committed is None else p.committed}/{p.end}" for p in g.partitions)
        typer.echo(f"{g.service:<17}{g.topic:<44}{g.state:<12}{g.members:>8}{g.lag:>8}  {parts}")


def health(as_json: AsJson = False, home: Home = None) -> None:
    """Every service's /health, the broker and the database; exit 1 if anything is down."""
    report = _run(NetworkConfig.load(home), lambda ops: ops.health())
    if as_json:
        _dump(report)
    else:
        for name in ("broker", "database"):
            typer.echo(f"{name:<17}{'ok  ' if report[name]['ok'] else 'DOWN'}  {report[name]['detail']}")
        for name, svc in report["services"].items():
            typer.echo(f"{name:<17}{'ok  ' if svc['ok'] else 'DOWN'}  {svc['url']:<24}{svc['detail']}")
    if not report["ok"]:
        raise typer.Exit(1)


@dlq_app.command("list")
def dlq_list(
    service: Service = None,
    topic: Annotated[str | None, typer.Option(help="Only those from this original topic")] = None,
    since: Annotated[str | None, typer.Option(help="Only those dead-lettered since (ISO 8601, or 10m, 2h ago)")]
    = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Dead letters, oldest first, with the reason, error type, original topic/offset, attempts and time."""
    when = _time(since, "--since")
    letters = _run(NetworkConfig.load(home), lambda ops: ops.dead_letters(service, topic, when))
    if as_json:
        _dump([d.to_dict() for d in letters])
        return
    if not letters:
        typer.echo("No dead letters.")
        return
    typer.echo(f"{'id':<22}{'failed at (UTC)':<21}{'error type':<16}{'original':<48}{'tries':>5}  {'replayed':<9} reason")
    for d in letters:
        original = f"{d.original_topic}@{d.original_partition}:{d.original_offset}"
        replayed = "yes" if d.replayed_at else "no"
        typer.echo(f"{d.id:<22}{_when(d.failed_at):<21}{d.error_type:<16}{original:<48}{d.attempts or '-':>5}  "
                   f"{replayed:<9} {d.reason[:160]}")


def _show(d: DeadLetter) -> str:
    lines = [
        f"id              {d.id}",
        f"reason          {d.reason}",
        f"error type      {d.error_type}",
        f"original        {d.original_topic} partition {d.original_partition} offset {d.original_offset}",
        f"attempts        {d.attempts}",
        f"failed at       {_when(d.failed_at)} UTC",
        f"replayed        {_when(d.replayed_at) + ' UTC by ' + str(d.replayed_by) if d.replayed_at else 'no'}",
    ]
    if d.replay_of:
        lines.append(f"replay of       {d.replay_of}")
    for e in d.errors or []:
        lines.append(f"field error     {e.get('field') or '(record)'}: {e.get('code')}: {e.get('message')}")
    lines.append(f"key             {d.key.decode('utf-8', 'backslashreplace') if d.key else '-'}")
    payload = d.payload()
    lines.append("payload")
    lines.append(json.dumps(payload, indent=2) if not isinstance(payload, str) else payload)
    return "\n".join(lines)


@dlq_app.command("show")
def dlq_show(
    letter_id: Annotated[str, typer.Argument(metavar="ID", help="<service>:<partition>:<offset>, from `dlq list`")],
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """One dead letter in full, with the original payload."""
    d = _run(NetworkConfig.load(home), lambda ops: ops.dead_letter(letter_id))
    if as_json:
        _dump(d.to_dict())
    else:
        typer.echo(_show(d))


@dlq_app.command("replay")
def dlq_replay(
    letter_id: Annotated[str | None, typer.Argument(metavar="[ID]", help="The dead letter to replay")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every dead letter not replayed yet (of --service, …)")] = False,
    service: Service = None,
    topic: Annotated[str | None, typer.Option(help="With --all: only those from this original topic")] = None,
    since: Annotated[str | None, typer.Option(help="With --all: only those dead-lettered since")] = None,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Send dead letters back to their original topic; each one at most once."""
    if (letter_id is None) == (not all_):
        raise typer.BadParameter("give a dead letter ID or --all")
    cfg = NetworkConfig.load(home)
    when = _time(since, "--since")
    by = _operator_name()
    if all_:
        results = _run(cfg, lambda ops: ops.replay_dead_letters(service, topic, when, by=by))
    else:
        results = [_run(cfg, lambda ops: ops.replay_dead_letter(letter_id, by=by))]  # type: ignore[arg-type]
    if as_json:
        _dump([r.to_dict() for r in results])
        return
    for r in results:
        if r.status == "replayed":
            also = f" (the same record that {', '.join(r.also)} dead-lettered)" if r.also else ""
            typer.echo(f"{r.id}: replayed to {r.topic} partition {r.partition} offset {r.offset}{also}")
        else:
            typer.echo(f"{r.id}: already replayed at {_when(r.replayed_at)} UTC (to {r.topic} offset {r.offset}); "
                       "not sent again")
    done = sum(r.status == "replayed" for r in results)
    typer.echo(f"{done} replayed, {len(results) - done} already replayed before.")


def replay(
    service: Annotated[str, typer.Argument(help=f"The service whose consumer groups to move: {', '.join(CONSUMERS)}")],
    from_: Annotated[str | None, typer.Option("--from", help="Re-read from this time (ISO 8601, or 1h ago)")] = None,
    offset: Annotated[int | None, typer.Option(help="Re-read from this offset in every partition")] = None,
    topic: Annotated[str | None, typer.Option(help="Only the group on this topic")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Move a stopped service's committed offsets back, so it re-reads its topics from a time or an offset.

    The inbox makes re-reading harmless: events already applied are skipped, and what was
    dead-lettered is tried again. The service must be stopped (its groups empty)."""
    if (from_ is None) == (offset is None):
        raise typer.BadParameter("give exactly one of --from TIME or --offset N")
    cfg = NetworkConfig.load(home)
    since = _time(from_, "--from")
    plans = _run(cfg, lambda ops: ops.plan_group_replay(service, since, offset, topic))
    if not as_json:
        typer.echo(f"{'group':<22}{'topic':<44}{'partition':>10}{'committed':>11}{'to':>9}{'end':>9}")
        for plan in plans:
            for m in plan.moves:
                committed = "-" if m.committed is None else str(m.committed)
                typer.echo(f"{plan.group:<22}{plan.topic:<44}{m.partition:>10}{committed:>11}{m.to:>9}{m.end:>9}")
    if not yes and not typer.confirm(f"Move {service}'s offsets as shown?", default=False):
        typer.echo("Nothing changed.")
        raise typer.Exit(1)
    _run(cfg, lambda ops: ops.apply_group_replay(plans))  # refused (exit 1) if the service started meanwhile
    if as_json:
        _dump([p.to_dict() for p in plans])
    else:
        typer.echo(f"Moved {sum(len(p.moves) for p in plans)} partition offsets of {service}; "
                   f"start it again (`talentloop up`) and it re-reads from there.")


def _operator_name() -> str:
    return f"cli:{os.environ.get('USER') or os.environ.get('LOGNAME') or 'operator'}"


def _parked_table(rows: list[ParkedOutboxRow]) -> list[str]:
    lines = [f"{'service':<17}{'id':>8}  {'parked at (UTC)':<20}{'topic':<32}{'key':<28}{'bytes':>9}"
             f"{'waiting':>8}  reason"]
    for r in rows:
        lines.append(f"{r.service:<17}{r.id:>8}  {_when(r.parked_at):<20}{r.topic:<32}{r.key[:27]:<28}{r.size:>9}"
                     f"{r.waiting_behind:>8}  {r.reason[:200]}")
    return lines


@outbox_app.command("list")
def outbox_list(
    service: OutboxService = None,
    limit: Annotated[int, typer.Option(help="At most this many rows per service")] = 100,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Parked outbox rows of every service (or one), oldest first, with the rows waiting behind each.

    Shows id, service, topic, key, size, when and why it was parked, and how many later rows
    of its key wait behind it. Event contents are never shown."""
    rows = _run(NetworkConfig.load(home), lambda ops: ops.parked_outbox(service, limit))
    if as_json:
        _dump([r.to_dict() for r in rows])
        return
    if not rows:
        typer.echo("No parked outbox rows.")
        return
    for line in _parked_table(rows):
        typer.echo(line)


def _report(changes: list[OutboxChange], as_json: bool, done_word: str) -> None:
    if as_json:
        _dump([c.to_dict() for c in changes])
    else:
        if not changes:
            typer.echo("No parked outbox rows.")
        for c in changes:
            line = f"{c.service}: {done_word} {len(c.done)}" + (f" ({', '.join(map(str, c.done))})" if c.done else "")
            if c.not_parked:
                line += f"; not parked (unknown, already published, released or discarded): " \
                        f"{', '.join(map(str, c.not_parked))}"
            typer.echo(line)
    if any(c.not_parked for c in changes):
        raise typer.Exit(1)


@outbox_app.command("retry")
def outbox_retry(
    ids: Annotated[list[int] | None, typer.Argument(metavar="ID", help="Parked row ids (from `outbox list`)")]
    = None,
    service: OutboxService = None,
    all_: Annotated[bool, typer.Option("--all", help="Every parked row (of --service, or of every service)")] = False,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Release parked rows: the relay tries to publish them again, then their key's rows behind them.

    Exit 1 if an ID given was not parked."""
    if bool(ids) == all_:
        raise typer.BadParameter("give parked row IDs (with --service) or --all")
    if ids and service is None:
        raise typer.BadParameter("row ids are per service: add --service", param_hint="--service")
    changes = _run(NetworkConfig.load(home), lambda ops: ops.retry_outbox(service, ids or None))
    _report(changes, as_json, "released")
    if not as_json and any(c.done for c in changes):
        typer.echo("The relay tries them within a second; if Kafka refuses them again they are parked again "
                   "(`talentloop outbox list`).")


@outbox_app.command("discard")
def outbox_discard(
    ids: Annotated[list[int], typer.Argument(metavar="ID", help="Parked row ids (from `outbox list`)")],
    service: Annotated[str, typer.Option(help=f"One of: {', '.join(OUTBOX_SERVICES)}")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    as_json: AsJson = False,
    home: Home = None,
) -> None:
    """Give up on parked rows: their events are never published, and their key's later rows flow again.

    The rows stay in the outbox, marked with when and by whom. Asks first unless --yes.
    Exit 1 if an ID given was not parked."""
    cfg = NetworkConfig.load(home)
    if not yes:
        wanted = set(ids)
        rows = [r for r in _run(cfg, lambda ops: ops.parked_outbox(service, limit=100_000)) if r.id in wanted]
        for line in _parked_table(rows) if rows else ["None of these rows is parked."]:
            typer.echo(line)
        if not rows or not typer.confirm(f"Discard {len(rows)} row(s) of {service}? Their events are never "
                                         "published.", default=False):
            typer.echo("Nothing changed.")
            raise typer.Exit(1)
    change = _run(cfg, lambda ops: ops.discard_outbox(service, ids, by=_operator_name()))
    _report([change], as_json, "discarded")


def operator_key(cfg: NetworkConfig) -> str:
    key = os.environ.get("TALENTLOOP_OPERATOR_KEY")
    if key:
        return key
    try:
        return credentials.load_keys(cfg.home)[f"operator:{credentials.OPERATOR}"]
    except (OSError, KeyError):
        typer.echo(f"no operator key: set TALENTLOOP_OPERATOR_KEY or run `talentloop keys` ({cfg.home})", err=True)
        raise typer.Exit(1) from None


@adapters_app.command("reload")
def adapters_reload(as_json: AsJson = False, home: Home = None) -> None:
    """Make intake re-read the adapters folder (TALENTLOOP_ADAPTERS) without a restart."""
    cfg = NetworkConfig.load(home)
    url = next(s.url for s in cfg.services() if s.name == "intake")
    try:
        r = httpx.post(f"{url}/v1/adapters/reload", headers={"Authorization": f"Bearer {operator_key(cfg)}"},
                       timeout=30.0)
    except httpx.HTTPError as exc:
        typer.echo(f"cannot reach intake at {url}: {exc}", err=True)
        raise typer.Exit(1) from None
    if r.status_code != 200:
        doc = r.json() if r.headers.get("content-type", "").endswith("json") else {"detail": r.text}
        typer.echo(f"reload refused ({r.status_code}): {doc.get('detail')}", err=True)
        raise typer.Exit(1)
    doc = r.json()
    if as_json:
        _dump(doc)
        return
    for a in doc["adapters"]:
        # An intake from before training (issue 15) answers without `record`: its adapters are referrals.
        kafka = "kafka: " + a["kafka_topic"] if a["kafka_topic"] else ""
        typer.echo(f"{a['partner_id']:<32}{a['format']:<6}{a.get('record', 'referral'):<10}{kafka}")
    typer.echo(f"Reloaded {len(doc['adapters'])} adapters from {doc['folder']}.")
    for topic in doc.get("restart_required_for", []):
        typer.echo(f"{topic} is new: intake subscribes to it at its next start.")


def register(app: typer.Typer) -> None:
    """Add the operator commands to the `talentloop` command."""
    app.command()(tail)
    app.command()(lag)
    app.command()(health)
    app.command()(replay)
    app.add_typer(dlq_app, name="dlq")
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(adapters_app, name="adapters")
