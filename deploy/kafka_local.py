"""A single-node Apache Kafka (KRaft, combined broker+controller) run from Maven Central jars.

No Docker and no Kafka distribution: `mvn` resolves the broker jars listed in
`deploy/kafka/pom.xml` once into a user cache, and `java` runs `kafka.Kafka` from them as a
detached process that outlives the caller (`talentloop up` starts it and exits).

Layout under `state_dir/kafka/`: `server.properties` (mode 0600: it holds the broker's own
passwords), `log4j2.properties`, `data/` (log.dirs, formatted on first start), `kafka.log`
(server log), `kafka.out` (JVM stdout/stderr), `kafka.pid`.

Clients authenticate with SASL/SCRAM-SHA-512 on the one client listener (loopback) and the
standard KRaft authorizer (StandardAuthorizer) decides what each principal may do: nobody but
the super-user `talentloop-admin` may do anything without an ACL. The super-user's SCRAM
credential is written into the metadata when the storage is formatted (KIP-900: there is no
other way to have the first one); every other principal and its ACLs are created by
`talentloop up` (deploy/kafka_principals.py). The controller listener takes SASL/PLAIN with the
broker's own user (KRaft controllers cannot use SCRAM, whose credentials live in the metadata
they serve). Passwords are in `state_dir/kafka-credentials.json` (deploy/kafka_credentials.py).

`LocalKafkaCluster` runs three such nodes (`state_dir/kafka-<id>/`) as one static KRaft quorum
with production's replication (RF 3, min.insync.replicas 2, no unclean leader election), for
the fault suite (bench/cluster_faults.py); `talentloop up` runs the single node.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from deploy import kafka_credentials
from deploy.processes import (
    LocalServiceError,
    cmdline,
    file_lock,
    file_size,
    pid_alive,
    port_open,
    read_pid,
    remember_child,
    run_coro,
    tail,
    terminate,
    write_pid,
)
from deploy.topics import TopicSpec, create_topics
from plumbing.kafka import KafkaSecurity, client_options

__all__ = [
    "KAFKA_VERSION",
    "LocalKafkaError",
    "LocalKafka",
    "LocalKafkaCluster",
    "TopicSpec",
    "create_topics",
    "ensure_kafka_jars",
]

POM_PATH = Path(__file__).resolve().parent / "kafka" / "pom.xml"
_MARKER = ".talentloop-complete"


def _pom_kafka_version() -> str:
    try:
        match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", POM_PATH.read_text())
    except OSError:
        match = None
    return match.group(1) if match else "4.4.0"


KAFKA_VERSION = _pom_kafka_version()


class LocalKafkaError(LocalServiceError):
    """The local Kafka broker could not be set up, started or stopped."""


def cache_root() -> Path:
    env = os.environ.get("TALENTLOOP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "talentloop"


def _require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LocalKafkaError(f"`{name}` was not found on PATH. {hint}")
    return path


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    return _require_tool(
        "java",
        "The local Kafka broker needs a JDK or JRE 17+ (e.g. `apt-get install openjdk-17-jre-headless`, "
        "`brew install openjdk@17`), or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker.",
    )


def ensure_kafka_jars(cache_dir: Path | None = None) -> Path:
    """Resolve the Kafka broker jars into `cache_dir` (once) and return that directory.

    Default: `~/.cache/talentloop/kafka-<version>/libs` (`$TALENTLOOP_CACHE` replaces
    `~/.cache/talentloop`). Safe to call concurrently: one process downloads into a temp
    directory and renames it into place; a marker (holding the POM's hash) says it is complete.
    """
    libs = Path(cache_dir) if cache_dir is not None else cache_root() / f"kafka-{KAFKA_VERSION}" / "libs"
    libs = libs.expanduser().absolute()
    pom = POM_PATH.read_bytes()
    digest = hashlib.sha256(pom).hexdigest()
    marker = libs / _MARKER

    def complete() -> bool:
        try:
            return marker.read_text().strip() == digest
        except OSError:
            return False

    if complete():
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(libs.parent / f".{libs.name}.lock"):
        if complete():
            return libs
        mvn = _require_tool(
            "mvn",
            "Apache Maven is needed once to download the Kafka broker jars from Maven Central "
            "(e.g. `apt-get install maven`, `brew install maven`); or set KAFKA_BOOTSTRAP_SERVERS "
            "to use an existing broker.",
        )
        _java()
        work = Path(tempfile.mkdtemp(prefix=f".{libs.name}-tmp-", dir=libs.parent))
        try:
            (work / "pom.xml").write_bytes(pom)
            out = work / "libs"
            result = subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(work / "pom.xml"),
                    "dependency:copy-dependencies",
                    "-DincludeScope=runtime",
                    f"-DoutputDirectory={out}",
                ],
                cwd=work,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
            )
            jars = list(out.glob("*.jar")) if out.is_dir() else []
            if result.returncode != 0 or not jars:
                detail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
                raise LocalKafkaError(
                    f"`mvn dependency:copy-dependencies` failed (exit {result.returncode}) resolving "
                    f"Kafka {KAFKA_VERSION} from Maven Central; check network/proxy settings "
                    f"(~/.m2/settings.xml).\n{detail}"
                )
            (out / _MARKER).write_text(digest + "\n")
            if libs.exists():  # stale or partial copy (e.g. the POM changed)
                old = libs.with_name(f".{libs.name}-old-{os.getpid()}")
                os.rename(libs, old)
                shutil.rmtree(old, ignore_errors=True)
            os.rename(out, libs)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return libs


_CDS_QUIET = ["-Xlog:cds=off", "-Xlog:cds+dynamic=off"]


def _cds_archive(java: str, libs: Path) -> Path | None:
    """Where the class-data-sharing archive for this JVM build + jar set lives (None: disabled)."""
    if os.environ.get("TALENTLOOP_KAFKA_CDS", "1") == "0":
        return None
    java_real = Path(os.path.realpath(java))
    fingerprint = [str(java_real), str(libs)]
    for f in (java_real, java_real.parent.parent / "lib" / "server" / "libjvm.so", libs / _MARKER):
        try:
            st = f.stat()
            fingerprint.append(f"{f}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            pass
    key = hashlib.sha256("|".join(fingerprint).encode()).hexdigest()[:16]
    return libs.parent / f"kafka-cds-{key}.jsa"


# C1 only (no C2). A local broker lives for a test session, a benchmark or a demo and serves
# tens to hundreds of requests a second. A JFR recording of it during bench/pipeline.py's
# 10,000 referrals had the JIT compiler threads at about half of its CPU, C2 still compiling
# two minutes after start (Selector.pollSelectionKeys four times, 21 s of compile time), GC
# under 2 %: C2 never earned back what it cost at that rate and lifetime. Without it the
# broker took about half the CPU a referral, and its produce-to-consume latency was no worse
# (the figures are in the commit that made this change).
_JIT = ["-XX:TieredStopAtLevel=1"]
_GC = [
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
]
JVM_OPTS_ENV = "TALENTLOOP_KAFKA_JVM_OPTS"


def jvm_options(heap: str, cds_args: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    """The broker's JVM flags. TALENTLOOP_KAFKA_JVM_OPTS (shell-quoted) comes last, so its flags
    win over ours: `-XX:TieredStopAtLevel=4` brings C2 back, `-Xmx2g` another heap,
    `-XX:StartFlightRecording=filename=/tmp/kafka.jfr,settings=profile` a JFR recording."""
    extra = shlex.split((os.environ if env is None else env).get(JVM_OPTS_ENV, ""))
    return [f"-Xmx{heap}", *cds_args, *_JIT, *_GC, *extra]


def _random_cluster_id() -> str:
    """Same format as `kafka-storage random-uuid`: URL-safe base64 of a random UUID, no padding."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


class LocalKafka:
    """One KRaft node (broker+controller) on 127.0.0.1, state under `state_dir/kafka/`."""

    def __init__(
        self,
        state_dir: Path,
        port: int = 9092,
        controller_port: int = 9093,
        heap: str = "768m",
        *,
        node_id: int = 1,
        name: str = "kafka",
        voters: Mapping[int, int] | None = None,
        cluster_id: str | None = None,
    ) -> None:
        """`voters` (node id -> controller port) makes this node one of a static KRaft quorum
        (LocalKafkaCluster), formatted with the shared `cluster_id`; without it, the single
        node is its own quorum (`--standalone`) and everything is as `talentloop up` runs it."""
        self.state_dir = Path(state_dir).expanduser().absolute()
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.node_id = node_id
        self.voters = dict(voters) if voters else None
        self.cluster_id = cluster_id
        self.dir = self.state_dir / name
        self.data_dir = self.dir / "data"
        self.properties_file = self.dir / "server.properties"
        self.log4j_file = self.dir / "log4j2.properties"
        self.log_file = self.dir / "kafka.log"
        self.out_file = self.dir / "kafka.out"
        self.pid_file = self.dir / "kafka.pid"
        self._lock_file = self.dir / ".lock"
        self._cds_pending_file = self.dir / "cds.pending"
        # Written after a format that added the super-user's SCRAM credential: a data directory
        # formatted before authentication existed has no user anyone could log in as.
        self._sasl_marker = self.data_dir / "talentloop-sasl"
        self._log_offsets = (0, 0)  # where this start's output begins in kafka.log / kafka.out

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def admin_security(self) -> KafkaSecurity:
        """How the super-user connects (the `talentloop` tool, topic creation, provisioning)."""
        return self.security_for(kafka_credentials.ADMIN)

    def security_for(self, user: str) -> KafkaSecurity:
        return KafkaSecurity(
            protocol="SASL_PLAINTEXT", username=user, password=kafka_credentials.password(self.state_dir, user)
        )

    # -- state ---------------------------------------------------------------------------

    def _is_ours(self, pid: int | None) -> bool:
        if not pid_alive(pid):
            return False
        assert pid is not None
        args = cmdline(pid)
        return "kafka.Kafka" in args and str(self.properties_file) in args

    @property
    def pid(self) -> int | None:
        """The broker's pid if it is running, else None."""
        pid = read_pid(self.pid_file)
        return pid if self._is_ours(pid) else None

    def _running_pid(self) -> int | None:
        """Like `pid`, but also finds our broker if its pid file was lost (and rewrites it)."""
        pid = self.pid
        if pid is not None:
            return pid
        if not self.properties_file.exists():
            # Never started from this directory (a fresh state dir, every test session and
            # benchmark): no need to read every process's command line (tenths of a second).
            return None
        for proc in psutil.process_iter(["pid", "cmdline"]):
            args = proc.info["cmdline"] or []
            if "kafka.Kafka" in args and str(self.properties_file) in args and self._is_ours(proc.pid):
                write_pid(self.pid_file, proc.pid)
                return proc.pid
        return None

    def is_running(self) -> bool:
        return self.pid is not None

    # -- start ---------------------------------------------------------------------------

    def start(self, timeout: float = 90) -> str:
        """Start the broker (or reuse the running one) and return its bootstrap address."""
        deadline = time.monotonic() + timeout
        self.dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self._lock_file):
            pid = self._running_pid()
            if pid is not None:
                running = self._configured_ports()
                if running != (self.port, self.controller_port):
                    raise LocalKafkaError(
                        f"Kafka from {self.dir} is already running (pid {pid}) on ports {running}, "
                        f"not {(self.port, self.controller_port)}; stop it first."
                    )
                self._wait_ready(pid, None, deadline)
                return self.bootstrap
            self.pid_file.unlink(missing_ok=True)  # stale or absent

            for p in (self.port, self.controller_port):
                if port_open(p):
                    raise LocalKafkaError(
                        f"port 127.0.0.1:{p} is already in use by another process; "
                        f"choose other Kafka ports or stop that process."
                    )
            java = _java()
            libs = ensure_kafka_jars()
            self._write_config()
            if not (self.data_dir / "meta.properties").exists():
                self._format(java, libs)
            elif not self._sasl_marker.exists():
                raise LocalKafkaError(
                    f"the Kafka data in {self.data_dir} was formatted before the local broker required "
                    f"authentication, so it has no user to log in as. Stop the network and remove "
                    f"{self.data_dir} (its topics are lost; PostgreSQL keeps the services' state), "
                    f"then start again."
                )

            cds_args = self._cds_args(java, libs)
            cmd = [
                java,
                *jvm_options(self.heap, cds_args),
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self.log4j_file}",
                f"-Dkafka.logs.dir={self.dir}",
                "-cp",
                f"{libs}/*",
                "kafka.Kafka",
                str(self.properties_file),
            ]
            self._log_offsets = (file_size(self.log_file), file_size(self.out_file))
            with self.out_file.open("ab") as out:
                proc = subprocess.Popen(
                    cmd,
                    cwd=self.dir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                )
            remember_child(proc)
            write_pid(self.pid_file, proc.pid)
            try:
                self._wait_ready(proc.pid, proc, deadline)
            except BaseException:
                self._kill_quietly(proc.pid)
                raise
            return self.bootstrap

    def _cds_args(self, java: str, libs: Path) -> list[str]:
        """JVM flags for an application class-data-sharing archive (cuts ~35% off start time).

        The archive is specific to the JVM build and the jar set, so its name hashes both and it
        lives next to the jar cache. The first broker without one dumps it when it exits after a
        SIGTERM from stop() (that stop takes a few seconds longer, once). A stale or mismatched
        archive is ignored by the JVM. Set TALENTLOOP_KAFKA_CDS=0 to disable.
        """
        self._discard_pending_cds()
        archive = _cds_archive(java, libs)
        if archive is None:
            return []
        if archive.is_file() and archive.stat().st_size > 0:
            return [f"-XX:SharedArchiveFile={archive}", *_CDS_QUIET]
        dir_key = hashlib.sha256(str(self.dir).encode()).hexdigest()[:12]
        pending = archive.with_name(f"{archive.name}.{dir_key}.tmp")
        pending.unlink(missing_ok=True)
        self._cds_pending_file.write_text(f"{pending}\n{archive}\n")
        return [f"-XX:ArchiveClassesAtExit={pending}", *_CDS_QUIET]

    def _publish_cds_archive(self) -> None:
        """After the broker exited: move a freshly dumped archive into place (atomically)."""
        try:
            pending, archive = self._cds_pending_file.read_text().split()
        except (OSError, ValueError):
            return
        self._cds_pending_file.unlink(missing_ok=True)
        tmp = Path(pending)
        try:
            if tmp.stat().st_size > 0:
                os.replace(tmp, archive)
        except OSError:
            pass
        tmp.unlink(missing_ok=True)

    def _configured_ports(self) -> tuple[int, int] | None:
        try:
            text = self.properties_file.read_text()
        except OSError:
            return None
        m = re.search(r"^listeners=CLIENTS://[^:]+:(\d+),CONTROLLER://[^:]+:(\d+)", text, re.M)
        return (int(m.group(1)), int(m.group(2))) if m else None

    def _write_config(self) -> None:
        listeners = f"CLIENTS://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        creds = kafka_credentials.passwords(self.state_dir, [kafka_credentials.ADMIN, kafka_credentials.CONTROLLER])
        admin, controller = kafka_credentials.ADMIN, kafka_credentials.CONTROLLER
        quorum = (
            {"controller.quorum.voters": ",".join(f"{n}@127.0.0.1:{p}" for n, p in sorted(self.voters.items()))}
            if self.voters
            else {"controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}"}
        )
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            **quorum,
            "listeners": listeners,
            "advertised.listeners": listeners,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "CLIENTS",
            "listener.security.protocol.map": "CLIENTS:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            # Clients: SCRAM only (a PLAIN password would cross the wire as it is).
            "listener.name.clients.sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "listener.name.clients.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{admin}" password="{creds[admin]}";'
            ),
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": (
                "org.apache.kafka.common.security.plain.PlainLoginModule required "
                f'username="{controller}" password="{creds[controller]}" user_{controller}="{creds[controller]}";'
            ),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": f"User:{admin};User:{controller}",
            "allow.everyone.if.no.acl.found": "false",
            "log.dirs": str(self.data_dir),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            # The consumer groups' offsets topic, made when the first group appears: 50
            # partitions by default, each a log to create, load as a coordinator shard, flush
            # and close, for a handful of groups on one broker (seconds on a busy machine, in
            # every test session and benchmark). The broker maps groups onto the partitions the
            # topic has, so a data directory made with 50 keeps working.
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            **(self._replicated_props() if self.voters else {}),
        }
        body = "# Written by deploy/kafka_local.py on every start; edits are overwritten.\n"
        body += "".join(f"{k}={v}\n" for k, v in props.items())
        fd = os.open(self.properties_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an older file may have been created world-readable
        with os.fdopen(fd, "w") as out:
            out.write(body)

        log = str(self.log_file)
        self.log4j_file.write_text(
            "# Written by deploy/kafka_local.py on every start.\n"
            "status = warn\n"
            "name = talentloop-kafka\n"
            "appender.server.type = RollingFile\n"
            "appender.server.name = SERVER\n"
            f"appender.server.fileName = {log}\n"
            f"appender.server.filePattern = {log}.%i\n"
            "appender.server.layout.type = PatternLayout\n"
            "appender.server.layout.pattern = [%d] %p %m (%c)%n\n"
            "appender.server.policies.type = Policies\n"
            "appender.server.policies.size.type = SizeBasedTriggeringPolicy\n"
            "appender.server.policies.size.size = 50MB\n"
            "appender.server.strategy.type = DefaultRolloverStrategy\n"
            "appender.server.strategy.max = 3\n"
            "rootLogger.level = INFO\n"
            "rootLogger.appenderRef.server.ref = SERVER\n"
            "logger.request.name = kafka.request.logger\n"
            "logger.request.level = WARN\n"
        )

    def _replicated_props(self) -> dict[str, str]:
        """A member of a cluster: what production runs (docs/deploy.md), for the internal topics
        and as the default of every topic: each record on every broker (RF = cluster size, 3),
        a write acknowledged once two hold it (with acks=all, which every producer of ours
        asks for), and never a leader that may lack acknowledged records."""
        rf = str(len(self.voters or {1: 0}))
        isr = str(min(2, len(self.voters or {1: 0})))
        return {
            "default.replication.factor": rf,
            "min.insync.replicas": isr,
            "unclean.leader.election.enable": "false",
            "offsets.topic.replication.factor": rf,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": isr,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": isr,
            # A killed broker is fenced by the controller after this long without a heartbeat
            # (default 9 s); its partitions' leadership moves then. Tests kill brokers on
            # purpose and measure the recovery, so it is short here.
            "broker.session.timeout.ms": os.environ.get("TALENTLOOP_KAFKA_SESSION_TIMEOUT_MS", "6000"),
            "broker.heartbeat.interval.ms": "1000",
            "replica.lag.time.max.ms": os.environ.get("TALENTLOOP_KAFKA_REPLICA_LAG_MS", "10000"),
        }

    def _format(self, java: str, libs: Path) -> None:
        if self.data_dir.exists():  # a previous format was interrupted
            shutil.rmtree(self.data_dir)
        archive = _cds_archive(java, libs)
        cds = [f"-XX:SharedArchiveFile={archive}", *_CDS_QUIET] if archive and archive.is_file() else []
        result = subprocess.run(
            [
                java,
                "-Xmx256m",
                # A short-lived tool: the C1 compiler alone, one GC thread, no perf-data file
                # (together a few tenths of a CPU second less to format, of about 1.5).
                "-XX:TieredStopAtLevel=1",
                "-XX:+UseSerialGC",
                "-XX:-UsePerfData",
                *cds,
                f"-Dlog4j2.configurationFile={self.log4j_file}",
                "-cp",
                f"{libs}/*",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                self.cluster_id or _random_cluster_id(),
                "-c",
                str(self.properties_file),
                *([] if self.voters else ["--standalone"]),
                "--add-scram",
                f"SCRAM-SHA-512=[name={kafka_credentials.ADMIN},"
                f"password={kafka_credentials.password(self.state_dir, kafka_credentials.ADMIN)}]",
            ],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise LocalKafkaError(
                f"formatting Kafka storage in {self.data_dir} failed (exit {result.returncode}):\n"
                + "\n".join((result.stdout + result.stderr).splitlines()[-30:])
            )
        self._sasl_marker.write_text("SCRAM-SHA-512 super-user added at format\n")

    def _wait_ready(self, pid: int, proc: subprocess.Popen[bytes] | None, deadline: float) -> None:
        error = run_coro(self._await_ready(pid, proc, deadline))
        if error is not None:
            raise LocalKafkaError(f"{error}\n{self._diagnostics()}")

    async def _await_ready(self, pid: int, proc: subprocess.Popen[bytes] | None, deadline: float) -> str | None:
        from aiokafka.client import AIOKafkaClient

        last_error = "no answer on the port yet"
        while True:
            exited = proc.poll() if proc is not None else (None if pid_alive(pid) else "?")
            if exited is not None:
                return f"Kafka (pid {pid}) exited with code {exited} before it was ready."
            if port_open(self.port):
                client = AIOKafkaClient(**client_options(self.bootstrap, self.admin_security), request_timeout_ms=5000)
                try:
                    await client.bootstrap()
                    if any(b.nodeId == self.node_id for b in client.cluster.brokers()):
                        return None
                    last_error = "metadata response lists no brokers yet"
                except Exception as exc:  # not ready yet; retry
                    last_error = f"{type(exc).__name__}: {exc}"
                finally:
                    await client.close()
            if time.monotonic() >= deadline:
                return (
                    f"Kafka (pid {pid}) did not answer a metadata request on {self.bootstrap} "
                    f"in time (last: {last_error})."
                )
            await asyncio.sleep(0.1)

    def _diagnostics(self) -> str:
        log_since, out_since = self._log_offsets
        log = tail(self.log_file, 40, log_since)
        out = tail(self.out_file, 20, out_since)
        hint = ""
        if "UnsupportedClassVersionError" in out:
            hint = "\nHint: Kafka 4.x needs Java 17 or newer (`java -version`)."
        elif "Address already in use" in log + out:
            hint = "\nHint: a port is taken; choose other ports."
        return f"--- {self.out_file} (tail) ---\n{out}\n--- {self.log_file} (tail) ---\n{log}{hint}"

    # -- stop ----------------------------------------------------------------------------

    def _discard_pending_cds(self) -> None:
        try:
            Path(self._cds_pending_file.read_text().split()[0]).unlink(missing_ok=True)
        except (OSError, IndexError):
            pass
        self._cds_pending_file.unlink(missing_ok=True)

    def _kill_quietly(self, pid: int) -> None:
        try:
            terminate(pid, 5.0)
        finally:
            self.pid_file.unlink(missing_ok=True)
            self._discard_pending_cds()

    def discard(self) -> None:
        """Kill the broker and delete its data, for a broker made for one run (a benchmark's, a
        test session's). A controlled shutdown (leaderships given up through the controller,
        every partition's log flushed and checkpointed) takes seconds and is only worth it for
        data that is kept. A broker that is to dump the class-data-sharing archive when it
        exits still gets SIGTERM, as from stop()."""
        if not self.dir.exists():
            return
        with file_lock(self._lock_file):
            pid = self._running_pid()
            if pid is not None:
                if self._cds_pending_file.exists():
                    terminate(pid, 30, signal.SIGTERM)
                    self._publish_cds_archive()
                else:
                    terminate(pid, 10, signal.SIGKILL)
            self.pid_file.unlink(missing_ok=True)
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM (controlled shutdown), then SIGKILL after `timeout` s. No-op if not running."""
        if not self.dir.exists():
            return
        with file_lock(self._lock_file):
            pid = self._running_pid()
            if pid is not None:
                terminate(pid, timeout, signal.SIGTERM)
                self._publish_cds_archive()
            self.pid_file.unlink(missing_ok=True)

    # -- faults (the cluster fault suite: tests/e2e/test_cluster_faults.py, bench/cluster_faults.py) --

    def kill(self) -> None:
        """SIGKILL, as a crashed machine: no controlled shutdown, nothing flushed."""
        with file_lock(self._lock_file):
            pid = self._running_pid()
            if pid is not None:
                self._signal(pid, signal.SIGCONT)  # a paused JVM dies as well, but say so
                terminate(pid, 10, signal.SIGKILL)
            self.pid_file.unlink(missing_ok=True)
            self._discard_pending_cds()

    def pause(self) -> None:
        """SIGSTOP: the broker still holds its sockets but answers nothing (a long GC pause,
        a frozen VM) until `resume`."""
        self._signal(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(self.pid, signal.SIGCONT)

    @staticmethod
    def _signal(pid: int | None, sig: signal.Signals) -> None:
        if pid is None:
            raise LocalKafkaError("the broker is not running")
        os.kill(pid, sig)


class LocalKafkaCluster:
    """`size` KRaft nodes (each broker and controller, a static quorum of all) on 127.0.0.1,
    state under `state_dir/kafka-<id>/`, one SCRAM super-user for all (its password in
    `state_dir/kafka-credentials.json`, as the single node's). Every topic is replicated to
    `size` brokers with min.insync.replicas 2 and no unclean leader election by default
    (LocalKafka._replicated_props), what a production cluster runs."""

    def __init__(self, state_dir: Path, ports: list[tuple[int, int]], heap: str = "512m") -> None:
        self.state_dir = Path(state_dir).expanduser().absolute()
        voters = {n: cport for n, (_, cport) in enumerate(ports, start=1)}
        cluster_id_file = self.state_dir / "kafka-cluster-id"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not cluster_id_file.exists():
            cluster_id_file.write_text(_random_cluster_id() + "\n")
        cluster_id = cluster_id_file.read_text().strip()
        self.nodes = {
            n: LocalKafka(
                self.state_dir, port, cport, heap, node_id=n, name=f"kafka-{n}", voters=voters, cluster_id=cluster_id
            )
            for n, (port, cport) in enumerate(ports, start=1)
        }

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes.values())

    @property
    def admin_security(self) -> KafkaSecurity:
        return self.nodes[1].admin_security

    def start(self, timeout: float = 120) -> str:
        """Start every node at once (none is ready before a majority of the quorum runs)."""
        self._on_all("start", timeout)
        return self.bootstrap

    def discard(self) -> None:
        """Kill every node and delete its data (a cluster made for one run)."""
        for node in self.nodes.values():
            if node.pid is not None:
                node.resume()  # a stopped process takes no SIGTERM a CDS dump waits for
        self._on_all("discard")

    def _on_all(self, action: str, *args: object) -> None:
        errors: dict[str, BaseException] = {}
        with ThreadPoolExecutor(max_workers=len(self.nodes), thread_name_prefix=f"cluster-{action}") as pool:
            futures = {n: pool.submit(getattr(node, action), *args) for n, node in self.nodes.items()}
            for n, future in futures.items():
                try:
                    future.result()
                except Exception as exc:
                    errors[f"kafka-{n}"] = exc
        if errors:
            raise LocalKafkaError("\n\n".join(f"[{name}] {exc}" for name, exc in errors.items()))
