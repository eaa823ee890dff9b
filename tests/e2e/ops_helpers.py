"""Running the `talentloop` operator commands against the test network, as an operator would.

Each command runs in a process of its own, as `talentloop ARGS --home <home>` does: its own
event loop, broker and database connections, argv, environment, stdin, stdout, stderr and exit
code. What it does not pay is Python importing the CLI again (1.5-2 s of CPU a command on the
2-core CI, far more while other tests load the machine; the operator tests run dozens of
commands): the processes are forked by a small server (`python -m tests.e2e.ops_helpers`, started
when this module is imported) that imported `talentloop.cli` once and does nothing else, no event loop and
no thread, so the forks start clean; each runs the same `app` that `python -m talentloop.cli` runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from talentloop.network import NetworkConfig

ROOT = Path(__file__).resolve().parents[2]


# --- the server (its own process) ----------------------------------------------------------------


def _run_command(request: dict[str, Any]) -> int:
    """In the forked child: the command's environment and standard streams, then the CLI."""
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    for fd, path, mode in ((0, request["stdin"], os.O_RDONLY), (1, request["stdout"], os.O_WRONLY),
                           (2, request["stderr"], os.O_WRONLY)):
        opened = os.open(path, mode)
        os.dup2(opened, fd)
        os.close(opened)
    from talentloop.cli import app

    try:
        app(args=request["argv"], prog_name="talentloop")
        return 0
    except SystemExit as exc:  # as the interpreter turns it into an exit code
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - as the interpreter would: the traceback on stderr, exit 1
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def serve() -> None:
    """One request a line on stdin; for each, fork, answer `pid N`, wait, answer `exit CODE`."""
    import talentloop.cli  # noqa: F401 - what every command would import first

    requests = sys.stdin.buffer
    while line := requests.readline():
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _run_command(request)
            finally:
                os._exit(code)
        os.write(1, f"pid {pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        os.write(1, f"exit {os.waitstatus_to_exitcode(status)}\n".encode())


# --- the client (the test process) ---------------------------------------------------------------

_server: subprocess.Popen[bytes] | None = None
_lock = threading.Lock()  # one command at a time: the server answers in order


def _started() -> subprocess.Popen[bytes]:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen([sys.executable, "-m", "tests.e2e.ops_helpers"], cwd=ROOT, bufsize=0,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    return _server


def _answer(server: subprocess.Popen[bytes], word: str, deadline: float | None) -> int | None:
    """The number after `word` in the server's next line, or None if the deadline passes first."""
    assert server.stdout is not None
    wait = None if deadline is None else max(0.0, deadline - time.monotonic())
    if not select.select([server.stdout], [], [], wait)[0]:
        return None
    line = server.stdout.readline().decode()
    if not line.startswith(f"{word} "):
        raise RuntimeError(f"the CLI fork server stopped (exit {server.poll()}): {line!r}")
    return int(line.split()[1])


def cli(cfg: NetworkConfig, *args: str, stdin: str | None = None, timeout: float = 120.0) -> subprocess.CompletedProcess:
    """`talentloop ARGS --home <the test network's home>` in a new process."""
    argv = [*args, "--home", str(cfg.home)]
    with tempfile.TemporaryDirectory(prefix="talentloop-cli-") as tmp, _lock:
        streams = {name: Path(tmp) / name for name in ("stdin", "stdout", "stderr")}
        for name, path in streams.items():
            path.write_text((stdin or "") if name == "stdin" else "")
        server = _started()
        assert server.stdin is not None
        request = {"argv": argv, "env": dict(os.environ), "cwd": str(ROOT), **{k: str(p) for k, p in streams.items()}}
        server.stdin.write(json.dumps(request).encode() + b"\n")
        server.stdin.flush()
        pid = _answer(server, "pid", None)
        code = _answer(server, "exit", time.monotonic() + timeout)
        if code is None:
            os.kill(pid, signal.SIGKILL)  # type: ignore[arg-type]
            _answer(server, "exit", None)
            raise subprocess.TimeoutExpired(["talentloop", *argv], timeout)
        out, err = streams["stdout"].read_text(), streams["stderr"].read_text()
    return subprocess.CompletedProcess(["talentloop", *argv], code, out, err)


async def acli(cfg: NetworkConfig, *args: str, stdin: str | None = None, timeout: float = 120.0
               ) -> subprocess.CompletedProcess:
    return await asyncio.to_thread(cli, cfg, *args, stdin=stdin, timeout=timeout)


async def ok_json(cfg: NetworkConfig, *args: str) -> Any:
    r = await acli(cfg, *args, "--json")
    assert r.returncode == 0, f"talentloop {' '.join(args)}: {r.stderr}"
    return json.loads(r.stdout)


if __name__ == "__main__":
    serve()
else:  # started now, while the session's network starts: by the first command it has imported the CLI
    _started()
