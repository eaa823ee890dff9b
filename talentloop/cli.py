"""`talentloop`: run the local network and look at it."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import asyncpg
import httpx
import typer

from deploy.topics import TopicSettingsError
from plumbing import apikeys
from plumbing.auth import KINDS
from plumbing.settings import Settings
from talentloop import credentials, importer, launcher, network, ops_cli
from talentloop.network import NetworkConfig

if TYPE_CHECKING:
    from deploy.kafka_principals import Acl

app = typer.Typer(
    help="TalentLoop: an event-driven referral network for workforce partnerships.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
T = TypeVar("T")
Home = Annotated[Path | None, typer.Option(help="State directory (default: $TALENTLOOP_HOME or ./.talentloop)")]


def _config(
    home: Path | None, kafka_port: int | None = None, pg_port: int | None = None, base_port: int | None = None
) -> NetworkConfig:
    cfg = NetworkConfig.load(home)
    if kafka_port:
        cfg.kafka_port, cfg.controller_port = kafka_port, kafka_port + 1
    if pg_port:
        cfg.pg_port = pg_port
    if base_port:
        cfg.ports = {name: base_port + i for i, name in enumerate(cfg.ports)}
    return cfg


def _print_network(net: network.Network, cfg: NetworkConfig) -> None:
    typer.echo(f"Kafka      {net.bootstrap}")
    typer.echo(f"PostgreSQL {net.database_url}")
    for name, url in net.urls.items():
        typer.echo(f"{name:<17}{url}" + ("" if name in launcher.WEB_APPS else f"  (OpenAPI: {url}/docs)"))
    typer.echo(f"API keys   {cfg.home / 'keys.json'}")
    typer.echo(f"Logs       {cfg.home / 'logs'}")
    _print_portal(cfg, net)


def _print_portal(cfg: NetworkConfig, net: network.Network) -> None:
    """The portal's address and the demo sign-ins it seeded (docs/portals.md)."""
    users = launcher.portal_users_file(cfg.home)
    if "portal" not in net.urls or not users.exists():
        return
    typer.echo(f"Portal     {net.urls['portal']}  sign in as (passwords kept in {users}):")
    for user in json.loads(users.read_text()):
        typer.echo(f"  {user['email']:<52} {user['password']:<26} {user['organisation']}, {user['role']}")


@app.command()
def up(
    home: Home = None,
    kafka_port: Annotated[int | None, typer.Option(help="Kafka port (controller uses the next one)")] = None,
    pg_port: Annotated[int | None, typer.Option(help="PostgreSQL port")] = None,
    base_port: Annotated[int | None, typer.Option(help="First of seven HTTP ports (intake, routing, gateway, outcomes, the console, support, then the portal)")] = None,
) -> None:
    """Start Kafka, PostgreSQL, the five services, the operator console and the portal (reuses whatever already runs)."""
    cfg = _config(home, kafka_port, pg_port, base_port)
    try:
        net = network.up(cfg)
    except TopicSettingsError as exc:
        typer.echo(f"Refusing to start: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"TalentLoop is up in {net.timings['total_s']:.1f}s (stack {net.timings['stack_s']:.1f}s).")
    _print_network(net, cfg)


@app.command()
def down(home: Home = None) -> None:
    """Stop the services, Kafka and PostgreSQL started by `up`."""
    network.down(_config(home))
    typer.echo("TalentLoop is down.")


@app.command()
def status(home: Home = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show what runs: the broker, the database and each service's health."""
    report = network.status(_config(home))
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    for name, state in report["stack"].items():
        typer.echo(f"{name:<17}{state}")
    for name, svc in report["services"].items():
        health = svc["health"]
        line = "down" if health is None else f"ok  backlog={health.get('outbox_backlog')} consumer={health.get('consumer')}"
        typer.echo(f"{name:<17}{svc['url']:<24}{line}")


specs_app = typer.Typer(help="The published API documents under contracts/ (OpenAPI, AsyncAPI, JSON Schema).")
app.add_typer(specs_app, name="specs")


@specs_app.command("write")
def specs_write() -> None:
    """Regenerate the OpenAPI and AsyncAPI documents and publish new event schema versions."""
    from contracts import schemas
    from talentloop import specs

    for path in [*schemas.write(), *specs.write()]:
        typer.echo(f"wrote {path}")
    specs_check()


@specs_app.command("check")
def specs_check() -> None:
    """Fail if any published document differs from the code, or a schema history breaks."""
    from contracts import schemas
    from talentloop import specs

    found = [*schemas.problems(), *specs.drift()]
    for line in found:
        typer.echo(line)
    typer.echo("specs: OK" if not found else f"specs: {len(found)} problem(s)")
    if found:
        raise typer.Exit(1)


keys_app = typer.Typer(
    help="API keys in the network's database: list, create, rotate, revoke (see docs/api-keys.md). "
    "Without a command: create the demo principals' keys if missing and show where they are."
)
app.add_typer(keys_app, name="keys")


def _key_store(cfg: NetworkConfig, action: Callable[[apikeys.ApiKeys], Awaitable[T]]) -> T:
    """Run `action` on the key store of the network's database (the local PostgreSQL or DATABASE_URL)."""

    async def go() -> T:
        url = network.database_url(cfg)
        try:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
        except (OSError, asyncpg.PostgresError) as exc:
            typer.echo(f"cannot reach the database at {url} ({exc}); start the network with `talentloop up`", err=True)
            raise typer.Exit(1) from None
        try:
            async with pool.acquire() as conn:
                await apikeys.ensure_schema(conn)
            return await action(apikeys.ApiKeys(pool))
        finally:
            await pool.close()

    return asyncio.run(go())


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _show_new(issued: apikeys.Issued) -> None:
    info = issued.info
    typer.echo(f"{info.key_id}  {info.kind}:{info.principal_id}  scopes={','.join(info.scopes)}")
    typer.echo(f"Key (shown once, store it now): {issued.key}")


@keys_app.callback(invoke_without_command=True)
def keys(ctx: typer.Context, home: Home = None) -> None:
    """Create the demo principals' keys if missing, store them in the database if it runs, and show where."""
    if ctx.invoked_subcommand is not None:
        return
    cfg = _config(home)
    cfg.home.mkdir(parents=True, exist_ok=True)
    path = credentials.ensure(cfg.home)
    typer.echo(f"Plaintext keys for you (mode 0600): {path}")
    try:
        added = asyncio.run(credentials.seed(network.database_url(cfg), cfg.home))
    except (OSError, asyncpg.PostgresError):
        typer.echo("The database is not running: `talentloop up` stores their hashes in it.")
        return
    typer.echo(f"Hashes in the database ({network.database_url(cfg)}, schema credentials): {added} new")


@keys_app.command("list")
def keys_list(
    home: Home = None,
    kind: Annotated[str | None, typer.Option(help="partner, employer or operator")] = None,
    id: Annotated[str | None, typer.Option("--id", help="The principal's id")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List API keys (never their secrets), newest first."""
    found = _key_store(_config(home), lambda store: store.list(kind, id))  # type: ignore[arg-type]
    now = datetime.now(UTC)
    if as_json:
        typer.echo(json.dumps([k.public(now) for k in found], indent=2, default=str))
        return
    typer.echo(f"{'key id':<25} {'principal':<40} {'scopes':<21} {'status':<8} {'expires':<17} {'last used':<17} label")
    for k in found:
        status = k.status(now) + ("*" if k.replaced_by and k.status(now) == "active" else "")
        typer.echo(
            f"{k.key_id:<25} {k.kind + ':' + k.principal_id:<40} {','.join(k.scopes):<21} {status:<8} "
            f"{_when(k.expires_at):<17} {_when(k.last_used_at):<17} {k.label or ''}"
        )
    if any(k.replaced_by and k.status(now) == "active" for k in found):
        typer.echo("* rotated: valid until it expires")


@keys_app.command("create")
def keys_create(
    kind: Annotated[str, typer.Option(help="partner, employer or operator")],
    id: Annotated[str, typer.Option("--id", help="The principal's id")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, write, webhooks")] = "read,write",
    label: Annotated[str | None, typer.Option(help="What the key is for")] = None,
    expires_in_days: Annotated[float | None, typer.Option(help="Default: never expires")] = None,
    home: Home = None,
) -> None:
    """Issue a new API key for a principal; its plaintext is shown once."""
    expires = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    try:
        chosen = apikeys.check_scopes(s.strip() for s in scopes.split(",") if s.strip())
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    issued = _key_store(
        _config(home),
        lambda store: store.issue(kind, id, chosen, label=label, expires_at=expires),  # type: ignore[arg-type]
    )
    _show_new(issued)


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="The key to replace (key_...)")],
    grace_s: Annotated[
        float | None, typer.Option(help="How long the old key stays valid (default: the setting)")
    ] = None,
    home: Home = None,
) -> None:
    """Replace a key by a new one (same principal and scopes); the old one expires after the grace period."""
    cfg = _config(home)
    if grace_s is None:
        grace_s = Settings().key_rotation_grace_s
    try:
        new, old = _key_store(cfg, lambda store: store.rotate(key_id, grace_s))
    except apikeys.KeyNotFound:
        raise typer.BadParameter(f"no key {key_id}") from None
    except apikeys.KeyConflict as exc:
        typer.echo(f"cannot rotate: {exc}", err=True)
        raise typer.Exit(1) from None
    _show_new(new)
    typer.echo(f"{old.key_id} stays valid until {_when(old.expires_at)} UTC.")
    if credentials.replace_key(cfg.home, old.key_id, new.key):
        typer.echo(f"Updated {credentials.keys_file(cfg.home)} with the new key.")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key to revoke (key_...)")], home: Home = None) -> None:
    """Revoke a key at once (services that cached it stop accepting it within TALENTLOOP_KEY_CACHE_S)."""
    try:
        info = _key_store(_config(home), lambda store: store.revoke(key_id))
    except apikeys.KeyNotFound:
        raise typer.BadParameter(f"no key {key_id}") from None
    except apikeys.KeyConflict as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Revoked {info.key_id} ({info.kind}:{info.principal_id}) at {_when(info.revoked_at)} UTC.")


@keys_app.command("rotate-master")
def keys_rotate_master(
    check: Annotated[bool, typer.Option(help="Only count what opens with which key; change nothing")] = False,
    schema: Annotated[list[str] | None, typer.Option(help="Only these schemas (repeat; default: every one)")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Rows per transaction")] = 1000,
    home: Home = None,
) -> None:
    """Re-wrap everything sealed with a previous master key (TALENTLOOP_MASTER_KEY_PREVIOUS) under
    TALENTLOOP_MASTER_KEY: candidate keys, webhook secrets, the portal's organisation keys; rerun
    after a crash to finish. --check: exit 0 only if the previous key is no longer needed (docs/deploy.md)."""
    from plumbing.vault import parse_master_key, parse_previous_master_keys
    from talentloop import master_rotation

    settings = Settings()
    if not settings.master_key:
        raise typer.BadParameter("set TALENTLOOP_MASTER_KEY (the new key; the old one in TALENTLOOP_MASTER_KEY_PREVIOUS)")
    try:
        current, previous = parse_master_key(settings.master_key), parse_previous_master_keys(settings.master_key_previous)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    url = network.database_url(_config(home))
    code = asyncio.run(master_rotation.command(url, master_rotation.Keys(current, previous), check, schema, batch, typer.echo))
    raise typer.Exit(code)


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The partner's CSV, in its own columns.")],
    partner: Annotated[str, typer.Option(help="Partner id; its adapter in deploy/adapters maps the columns.")],
    errors: Annotated[Path | None, typer.Option(help="Write the error report (CSV) here.")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Repeat safely: same key and file, same answer.")] = None,
    home: Home = None,
) -> None:
    """Import a CSV of referrals through intake, with a progress bar."""
    cfg = _config(home)
    key = credentials.load_keys(cfg.home).get(f"partner:{partner}")
    if key is None:
        raise typer.BadParameter(
            f"no API key for partner {partner!r} in {cfg.home / 'keys.json'}", param_hint="--partner"
        )
    url = f"http://127.0.0.1:{cfg.ports['intake']}"
    size = file.stat().st_size
    with typer.progressbar(length=size, label=f"Importing {file.name}", show_eta=True) as bar:
        done = 0

        def advance(step: dict) -> None:
            nonlocal done
            bar.update(step["bytes_read"] - done)
            done = step["bytes_read"]

        try:
            summary = importer.import_csv(url, key, file, advance, idempotency_key=idempotency_key)
        except importer.ImportFailed as exc:
            typer.echo(f"\nimport failed: {exc}", err=True)
            raise typer.Exit(1) from None
        bar.update(size - done)
    typer.echo(
        f"{summary['rows']} rows: {summary['accepted']} accepted, {summary['duplicates']} duplicates, "
        f"{summary['rejected']} rejected  (import {summary['import_id']})"
    )
    if summary["unknown_skills"]:
        top = ", ".join(f"{s} ({n})" for s, n in list(summary["unknown_skills"].items())[:10])
        typer.echo(f"Skills not in the vocabulary (kept, flagged): {top}")
    if errors is not None:
        errors.write_text(importer.error_report(url, key, summary))
        typer.echo(f"Error report: {errors}")
    elif summary["rejected"] or summary["duplicates"]:
        typer.echo(f"Error report: GET {url}{summary['error_report']} (or rerun with --errors FILE)")


kafka_app = typer.Typer(help="The local broker's Kafka principals and ACLs.")
app.add_typer(kafka_app, name="kafka")


def kafka_acls() -> dict[str, list[Acl]]:
    """Username -> ACLs of the network as `network.provision_principals` makes them: a training
    provider with a Kafka training adapter may write its training topic too."""
    from deploy.kafka_principals import network_acls

    return network_acls(network.kafka_partners(), network.kafka_training_partners())


def partner_topics(partner: str) -> list[str]:
    """The topics the partner's Kafka principal may write, read off its ACLs (one definition)."""
    from deploy.kafka_credentials import partner_user

    return sorted({acl.resource_name for acl in kafka_acls().get(partner_user(partner), [])})


@kafka_app.command("principals")
def kafka_principals_cmd(home: Home = None) -> None:
    """Create what is missing (a principal per service and per partner with a Kafka adapter in
    TALENTLOOP_ADAPTERS, their ACLs) on the running local broker, and list every ACL."""
    cfg = _config(home)
    if network.LocalStack.external_kafka():
        raise typer.BadParameter("KAFKA_BOOTSTRAP_SERVERS is set: that cluster's principals are yours to make "
                                 "(docs/operators.md, 'Kafka principals and ACLs')")
    network.provision_principals(cfg, network.bootstrap(cfg))
    for user, acls in kafka_acls().items():
        typer.echo(user)
        for acl in acls:
            typer.echo(f"  {acl.describe()}")


@kafka_app.command("topics")
def kafka_topics_cmd(
    align: Annotated[bool, typer.Option("--align", help="Give existing topics the wanted configs")] = False,
    home: Home = None,
) -> None:
    """Create the network's topics that are missing, with the topic settings (docs/deploy.md,
    'Topic settings'), on KAFKA_BOOTSTRAP_SERVERS (a managed cluster) or the local broker, list
    them, and show existing topics whose configs or replicas differ (a network made before a
    setting changed). Exit 1 when some differ, unless --align gave them the wanted configs."""
    from deploy.topics import TopicPolicy, align_topics, create_topics, topic_drift

    cfg = _config(home)
    try:
        policy = TopicPolicy.from_env() if network.LocalStack.external_kafka() else TopicPolicy.single_broker()
        specs = network.topic_specs()
        for spec in specs:
            configs = policy.configs(spec)
            typer.echo(f"{spec.name}  partitions={spec.partitions} replicas={policy.replicas(spec)} "
                       + " ".join(f"{k}={v}" for k, v in sorted(configs.items())))
    except TopicSettingsError as exc:
        typer.echo(f"Refusing to create topics: {exc}", err=True)
        raise typer.Exit(2) from None
    bootstrap, security = network.bootstrap(cfg), network.admin_security(cfg)

    async def run() -> list:  # type: ignore[type-arg]
        await create_topics(bootstrap, specs, timeout=120.0, security=security, policy=policy)
        drifts = await topic_drift(bootstrap, specs, security, policy)
        if align:
            await align_topics(bootstrap, drifts, security)
        return drifts

    drifts = asyncio.run(run())
    for drift in drifts:
        for key, (now, wanted) in sorted(drift.configs.items()):
            typer.echo(f"differs: {drift.topic} {key}={now} (wanted {wanted}){' -> aligned' if align else ''}")
        if drift.replicas:
            typer.echo(f"differs: {drift.topic} replicas={drift.replicas[0]} (wanted {drift.replicas[1]}): "
                       "reassign its partitions (kafka-reassign-partitions.sh; Strimzi: the KafkaTopic's replicas)")
    if drifts and not (align and all(d.replicas is None for d in drifts)):
        if not align:
            typer.echo("Some existing topics differ from the settings: `talentloop kafka topics --align` sets their "
                       "configs.", err=True)
        raise typer.Exit(1)


@kafka_app.command("credentials")
def kafka_credentials_cmd(
    partner: Annotated[str, typer.Argument(help="The partner id of a Kafka adapter")],
    home: Home = None,
) -> None:
    """Print the librdkafka properties (confluent-kafka, `kcat -F`) the partner publishes its
    inbound topics with (a training provider's training topic too; its principal must exist:
    `talentloop kafka principals`). Hand them over as a secret."""
    from deploy import kafka_credentials

    cfg = _config(home)
    user = kafka_credentials.partner_user(partner)
    if user not in kafka_credentials.known_users(cfg.home) or partner not in network.kafka_partners():
        raise typer.BadParameter(f"no Kafka principal for {partner}: give it an adapter with `kafka: true` "
                                 "and run `talentloop kafka principals`")
    security = cfg.stack().kafka.security_for(user)
    typer.echo(f"# {partner}: may write {' and '.join(partner_topics(partner))} only")
    typer.echo(f"bootstrap.servers={network.bootstrap(cfg)}")
    for key, value in security.librdkafka().items():
        typer.echo(f"{key}={value}")


outcomes_app = typer.Typer(help="The outcomes service's ledger and projections.")
app.add_typer(outcomes_app, name="outcomes")


@outcomes_app.command("rebuild")
def outcomes_rebuild(
    schema: Annotated[str, typer.Option(help="Schema to rebuild into (dropped first)")] = "outcomes_rebuild",
    batch: Annotated[int, typer.Option(help="Records per transaction")] = 1000,
    home: Home = None,
) -> None:
    """Replay every topic from offset 0 into empty projections (in SCHEMA) and compare them
    with the live ones by a hash of their normalized content. Exit 1 if they differ."""
    from plumbing.db import scratch_schema
    from services.outcomes import rebuild

    try:
        scratch_schema(schema)  # before anything is dropped
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--schema") from None
    cfg = _config(home)
    try:
        result = asyncio.run(rebuild.rebuild(network.bootstrap(cfg), network.database_url(cfg), schema, batch))
    except rebuild.LogTruncated as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Replayed {result.events} events into schema {schema} in {result.seconds:.1f} s "
               f"({result.per_second:.0f} events/s); skipped: {dict(result.skipped) or 'none'}.")
    if result.dead_lettered:
        typer.echo(f"{result.dead_lettered} record(s) skipped that the live consumer dead-letters "
                   "(`talentloop dlq list --service outcomes`).")
    for table in rebuild.HASHED:
        live, rebuilt = result.hashes["live"][table], result.hashes["rebuilt"][table]
        typer.echo(f"  {table:<17} live {live[:16]}  rebuilt {rebuilt[:16]}  {'equal' if live == rebuilt else 'DIFFERENT'}")
    if not result.equal:
        typer.echo("The rebuilt projections differ from the live ones (is the live service still catching up?).", err=True)
        raise typer.Exit(1)
    typer.echo("The rebuilt projections equal the live ones.")


@app.command()
def publish(
    year: Annotated[int, typer.Option(min=2000, max=2999, help="The calendar year to publish (UTC)")],
    out: Annotated[Path, typer.Option(help="Directory to write the site into (new, empty or an earlier release)")],
    schema: Annotated[str, typer.Option(help="Outcomes schema to read (a rebuilt one gives the same)")] = "outcomes",
    home: Home = None,
) -> None:
    """The annual open-data release: a static site (HTML, CSV, JSON, data dictionary, methods) of the
    coalition funnel, credential and program outcomes, the demand board, hiring standards and hiring
    by employer with demographics (employers who opted in), suppressed as the public view (docs/transparency.md, "The annual release")."""
    from plumbing.db import scratch_schema
    from plumbing.vault import Vault
    from services.outcomes.reports_api import demand_min_employers, good_job_policy
    from talentloop import publish as release

    if schema != "outcomes":
        try:
            scratch_schema(schema)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--schema") from None
    cfg = _config(home)
    # Hiring by employer counts consenting candidates' demographics, opened with the network's
    # master key (the services' TALENTLOOP_MASTER_KEY, else the one `talentloop up` keeps in the home).
    master = Settings().master_key or ((cfg.home / "master.key").read_text().strip()
                                       if (cfg.home / "master.key").is_file() else None)
    try:
        files, removed = asyncio.run(
            release.publish(
                network.database_url(cfg), schema, year, out, good_job_policy(Settings()), demand_min_employers(),
                vault=Vault.configured(master, Settings().master_key_previous) if master else None,
                # The releases it is suppressed against: those the service's schema stores, so that
                # a run on a rebuilt schema is suppressed against the same ones.
                earlier_schema="outcomes",
            )
        )
    except release.NotPublishable as exc:
        typer.echo(f"Not published: {exc}.", err=True)
        raise typer.Exit(1) from None
    position = json.loads(files["release.json"])["ledger_position"]
    typer.echo(
        f"Wrote the {year} release ({len(files)} files) into {out}; ledger position: {position['events']} events,"
        f" last at {position['last_event_at']}, event ids sha256 {position['event_ids_sha256'][:16]}."
    )
    if removed:
        typer.echo(f"Removed {len(removed)} file(s) of the earlier release there: {', '.join(removed)}")


@app.command()
def funnel(home: Home = None) -> None:
    """Print the funnel from the outcomes service (as the operator)."""
    cfg = _config(home)
    keys = credentials.load_keys(cfg.home)
    r = httpx.get(
        f"http://127.0.0.1:{cfg.ports['outcomes']}/v1/funnel",
        headers={"Authorization": f"Bearer {keys['operator:' + credentials.OPERATOR]}"},
    )
    r.raise_for_status()
    typer.echo(format_funnel(r.json()))


def format_funnel(doc: dict) -> str:
    """The funnel as a table: each cell is referrals / people (docs/pipeline.md defines every line)."""
    columns = {"total": doc["total"]}
    if doc.get("since_start") and doc["since_start"] != doc["total"]:
        columns["this run"] = doc["since_start"]  # the ledger also holds earlier runs
    columns.update(doc["by_partner"])
    cells: dict[str, list[str]] = {}

    def line(label: str, pick) -> None:  # type: ignore[no-untyped-def]
        cells[label] = [" / ".join("-" if n is None else str(n) for n in pick(c)) for c in columns.values()]

    for stage in doc["stages"]:
        line(stage, lambda c, s=stage: (c["referrals"]["stages"][s], c["people"]["stages"][s]))
    line("  interviews recorded", lambda c: (c["referrals"]["interviews_recorded"], c["people"]["interviews_recorded"]))
    line("outcome (exclusive):", lambda c: ())
    for outcome in doc["outcomes"]:
        line(f"  {outcome}", lambda c, o=outcome: (c["referrals"]["outcomes"][o], c["people"]["outcomes"][o]))
        if outcome == "placed":  # its sub-lines (not exclusive)
            for detail in doc["placed"]:
                line(f"    of which {detail}", lambda c, d=detail: (c["referrals"]["placed"][d],
                                                                    c["people"]["placed"][d]))
    line("declined at least once", lambda c: (c["referrals"]["flags"]["declined_at_least_once"],
                                              c["people"]["flags"]["declined_at_least_once"]))
    line("declined, then placed elsewhere", lambda c: (c["referrals"]["flags"]["declined_then_placed"],
                                                       c["people"]["flags"]["declined_then_placed_elsewhere"]))
    label_width = max(len(label) for label in cells) + 2
    width = max([len(c) for c in columns] + [len(v) for row in cells.values() for v in row]) + 2
    lines = [f"referrals / people (every line is defined in {doc.get('definitions', 'docs/pipeline.md')})",
             f"{'':<{label_width}}" + "".join(f"{c:>{width}}" for c in columns)]
    lines += [f"{label:<{label_width}}" + "".join(f"{v:>{width}}" for v in row) for label, row in cells.items()]
    return "\n".join(lines + format_pipeline(doc.get("pipeline")))


def format_pipeline(pipeline: dict | None) -> list[str]:
    """The coalition funnel from training (people; docs/pipeline.md "From training"), every line
    the API gives, in its order."""
    if not pipeline:
        return []
    people = pipeline["people"]
    rows = [(s, people["training"][s]) for s in pipeline["training_stages"]]
    rows.append(("  completions recorded", people["completions_recorded"]))
    rows += [(f"then {s}", people["jobs"][s]) for s in pipeline["job_stages"]]
    rows += [(f"  placed as {k}", people["placed_by_type"][k]) for k in pipeline["employment_types"]]
    width = max(len(label) for label, _ in rows) + 2
    return ["", f"from training: people ({pipeline['enrollments']} enrollments)",
            *(f"{label:<{width}}{n:>8}" for label, n in rows)]


@app.command()
def demo(
    home: Home = None,
    referrals: Annotated[int, typer.Option(help="How many referrals the partners send")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed for the demo's choices")] = 7,
    detach: Annotated[bool, typer.Option(help="Leave the network running and return")] = False,
) -> None:
    """Start the network, drive partners and employers through it, and print the funnel."""
    cfg = _config(home)
    # Ctrl-C, or a plain `kill`, stops everything at any stage (also when started from a
    # script, where SIGINT may arrive ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    typer.echo("Starting the local network (first run downloads Kafka's jars with Maven)...")
    try:
        # The demo plays a year on a simulated clock (plumbing/clock.py); services running
        # without it are restarted with it.
        net = network.up(cfg, clock_file=cfg.home / "clock")
        typer.echo(f"Up in {net.timings['total_s']:.1f}s.")
        _print_network(net, cfg)
        _drive_and_wait(cfg, net, referrals, seed, detach)
    except KeyboardInterrupt:
        typer.echo("\nInterrupted: stopping everything...")
        network.down(cfg)
        typer.echo("TalentLoop is down.")
        raise typer.Exit(130) from None


async def _drive(cfg: NetworkConfig, net: network.Network, referrals: int, seed: int, forge: Any) -> Any:
    from talentloop import demo as demo_driver

    async with ops_cli.operations(cfg) as ops:
        groups = {g: topics for g, (_, topics, _, _) in (await ops.groups()).items()}
    # Every consumer group's lag, as `talentloop lag` reads it (as the broker's super-user).
    async with demo_driver.LagReader(network.bootstrap(cfg), groups) as lag:
        assert net.clock_file is not None
        return await demo_driver.run(
            net.urls, credentials.load_keys(cfg.home), referrals, seed, net.bootstrap, forge,
            clock_file=net.clock_file, lag=lag, state_dir=cfg.home, progress=typer.echo,
        )


def _drive_and_wait(cfg: NetworkConfig, net: network.Network, referrals: int, seed: int, detach: bool) -> None:
    typer.echo(f"\nDriving the demo: 2 training providers, 3 employers, 6 openings (an internship among them), "
               f"3 partners, {referrals} referrals, a program year on a simulated clock...")
    try:
        forge = net.kafka_principals.get("partner:forge-coding-bootcamp")  # publishes as itself
        assert net.clock_file is not None
        result = asyncio.run(_drive(cfg, net, referrals, seed, forge))
    except httpx.HTTPStatusError as exc:
        typer.echo(f"demo failed: {exc.request.method} {exc.request.url} -> {exc.response.status_code}", err=True)
        typer.echo(exc.response.text, err=True)
        typer.echo("The network is left running to look into it; `talentloop down` stops it.", err=True)
        raise typer.Exit(1) from None
    except TimeoutError as exc:
        typer.echo(f"{exc}; see `talentloop status` and the logs in {cfg.home / 'logs'}", err=True)
        typer.echo("The network is left running to look into it; `talentloop down` stops it.", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"Done in {result.seconds:.1f}s ({result.settle_s:.1f}s of it waiting for the network to settle after each "
        f"simulated day).\n\nFunnel from the outcomes service ({net.urls['outcomes']}/v1/funnel):"
    )
    typer.echo(format_funnel({k: v for k, v in result.funnel.items() if k != "pipeline"}))
    typer.echo("\nThe coalition funnel from training, this run (GET /v1/funnel's pipeline: people who enrolled, "
               "then their referrals by any partner):")
    typer.echo("\n".join(format_pipeline({**result.funnel["pipeline"], **result.funnel["pipeline_since_start"]})[1:]))
    services, run = result.services, result.services_since_start
    delivered = ", ".join(f"{v['amount']} {v['currency']}" for v in services["value_delivered"]) or "none"
    typer.echo(f"\nSupportive services (GET /v1/reports, services): this run {run['requests']} requested, "
               + ", ".join(f"{n} {s}" for s, n in run["status"].items() if n)
               + f"; in the ledger a fulfilment rate of {services['fulfilment_rate']}, median days to fulfilment "
               f"{services['median_days_to_fulfilment']}, value delivered {delivered}.")
    typer.echo(f"\nThe year simulated: {result.start_day} to {result.last_day} ({result.days} days with steps, "
               f"referrals from {result.referrals_from}; run {result.run_id}).")
    typer.echo(f"Stale referrals (not answered within {Settings().stale_business_days} business days): "
               f"{result.stale} in the ledger, {result.tally.stale} planned.")
    months = ", ".join(result.months)
    typer.echo(f"Median days between stages, referrals of {months} (GET /v1/reports, funnel by period):")
    for m in result.median_days:
        if m["records"]:
            typer.echo(f"  {m['month']}  {m['from']:>13} -> {m['to']:<17} {m['median_days']:>6} days  ({m['records']} records)")
    typer.echo("\nWhat the demo drove: " + ", ".join(f"{k}={v}" for k, v in sorted(result.tally.counts.items())))
    typer.echo("Ledger matches the demo: " + ("yes" if result.matches else "NO"))
    typer.echo(
        "\nLook around: `talentloop status`, `talentloop funnel`, the OpenAPI pages above "
        f"(keys in {cfg.home / 'keys.json'}), logs in {cfg.home / 'logs'}."
    )
    _print_portal(cfg, net)
    if not result.matches:
        raise typer.Exit(1)
    if detach:
        typer.echo("Left running; stop it with `talentloop down`.")
        return
    typer.echo("Press Ctrl-C to stop everything (or run `talentloop down` elsewhere).")
    try:
        while any(s.pid() for s in cfg.services()):
            time.sleep(0.5)
        typer.echo("The services were stopped from elsewhere.")
    except KeyboardInterrupt:
        typer.echo("\nStopping everything...")
    network.down(cfg)
    typer.echo("TalentLoop is down.")


ops_cli.register(app)  # tail, lag, health, replay, dlq, outbox, adapters (docs/operators.md)

if __name__ == "__main__":
    app()
