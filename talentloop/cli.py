"""`talentloop`: run the local network and look at it."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from talentloop import credentials, importer, network
from talentloop.network import NetworkConfig

app = typer.Typer(
    help="TalentLoop: an event-driven referral network for workforce partnerships.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
Home = Annotated[Path | None, typer.Option(help="State directory (default: $TALENTLOOP_HOME or ./.talentloop)")]


def _config(home: Path | None, kafka_port: int | None = None, pg_port: int | None = None, base_port: int | None = None) -> NetworkConfig:
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
        typer.echo(f"{name:<17}{url}  (OpenAPI: {url}/docs)")
    typer.echo(f"API keys   {cfg.home / 'keys.json'}")
    typer.echo(f"Logs       {cfg.home / 'logs'}")


@app.command()
def up(
    home: Home = None,
    kafka_port: Annotated[int | None, typer.Option(help="Kafka port (controller uses the next one)")] = None,
    pg_port: Annotated[int | None, typer.Option(help="PostgreSQL port")] = None,
    base_port: Annotated[int | None, typer.Option(help="First of four HTTP ports for the services")] = None,
) -> None:
    """Start Kafka, PostgreSQL and the four services (reuses whatever already runs)."""
    cfg = _config(home, kafka_port, pg_port, base_port)
    net = network.up(cfg)
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
        line = "down" if health is None else f"ok  backlog={health['outbox_backlog']} consumer={health['consumer']}"
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


@app.command()
def keys(home: Home = None) -> None:
    """Create the local principals' API keys if missing, and show where they are."""
    cfg = _config(home)
    cfg.home.mkdir(parents=True, exist_ok=True)
    hashed = credentials.ensure(cfg.home)
    typer.echo(f"Hashed keys for the services: {hashed}")
    typer.echo(f"Plaintext keys for you (mode 0600): {cfg.home / 'keys.json'}")


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
        raise typer.BadParameter(f"no API key for partner {partner!r} in {cfg.home / 'keys.json'}", param_hint="--partner")
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
    stages = doc["stages"]
    columns = {"total": doc["total"]}
    if doc.get("since_start") and doc["since_start"] != doc["total"]:
        columns["this run"] = doc["since_start"]  # the ledger also holds earlier runs
    columns.update(doc["by_partner"])
    width = max(len(c) for c in columns) + 2
    lines = [f"{'stage':<14}" + "".join(f"{c:>{width}}" for c in columns)]
    for stage in stages:
        lines.append(f"{stage:<14}" + "".join(f"{col.get(stage, 0):>{width}}" for col in columns.values()))
    return "\n".join(lines)


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
        net = network.up(cfg)
        typer.echo(f"Up in {net.timings['total_s']:.1f}s.")
        _print_network(net, cfg)
        _drive_and_wait(cfg, net, referrals, seed, detach)
    except KeyboardInterrupt:
        typer.echo("\nInterrupted: stopping everything...")
        network.down(cfg)
        typer.echo("TalentLoop is down.")
        raise typer.Exit(130) from None


def _drive_and_wait(cfg: NetworkConfig, net: network.Network, referrals: int, seed: int, detach: bool) -> None:
    from talentloop import demo as demo_driver

    typer.echo(f"\nDriving the demo: 3 employers, 6 openings, 3 partners, {referrals} referrals...")
    try:
        result = asyncio.run(demo_driver.run(net.urls, credentials.load_keys(cfg.home), referrals, seed, net.bootstrap))
    except httpx.HTTPStatusError as exc:
        typer.echo(f"demo failed: {exc.request.method} {exc.request.url} -> {exc.response.status_code}", err=True)
        typer.echo(exc.response.text, err=True)
        typer.echo("The network is left running to look into it; `talentloop down` stops it.", err=True)
        raise typer.Exit(1) from None
    except TimeoutError as exc:
        typer.echo(f"{exc}; see `talentloop status` and the logs in {cfg.home / 'logs'}", err=True)
        typer.echo("The network is left running to look into it; `talentloop down` stops it.", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Done in {result.seconds:.1f}s.\n\nFunnel from the outcomes service ({net.urls['outcomes']}/v1/funnel):")
    typer.echo(format_funnel(result.funnel))
    typer.echo("\nWhat the demo drove: " + ", ".join(f"{k}={v}" for k, v in sorted(result.tally.counts.items())))
    typer.echo("Ledger matches the demo: " + ("yes" if result.matches else "NO"))
    typer.echo(
        "\nLook around: `talentloop status`, `talentloop funnel`, the OpenAPI pages above "
        f"(keys in {cfg.home / 'keys.json'}), logs in {cfg.home / 'logs'}."
    )
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


if __name__ == "__main__":
    app()
