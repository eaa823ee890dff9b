"""Tests that run a script as a process of its own start it early, in the background.

The benchmark tests (bench/*.py at a tiny size) and the three-broker fault suite
(bench/cluster_faults.py --small) each run one script the way a person does: a process with its
own Kafka, PostgreSQL and services on free ports, which spends most of its time waiting (brokers
starting, faults waited out, loads paced). Run in turn where the tests stood they were about 2.5
minutes of the suite's wall time, the session's other tests waiting meanwhile.

Such a test names its script with the `own_process` mark:

    @pytest.mark.own_process("bench/routing.py", "--referrals", "300", out="routing.json")
    def test_...(own_process: Finished) -> None:
        r = own_process.results()

Once the session has collected its tests (tests/e2e/conftest.py), the scripts of the selected
ones start in a background thread, one after the other (so one stack of theirs at a time beside
the session's), while the session's other tests run; their tests are moved to the session's
end, where the `own_process` fixture waits for the script's exit and the test checks its results
as before. A script whose test is deselected never starts. At the session's end a script still
running (the session stopped early) gets SIGINT, which the scripts turn into a `network.discard`
(their `finally`), then SIGKILL after a minute, and its `discard` is called.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARK = "own_process"
MARK_DOC = (
    f"{MARK}(script, *args, out=, home=False, timeout=840, discard=None): the test checks what a script run "
    "as a process of its own wrote to `out`; started early in the background (tests/e2e/own_processes.py)"
)


@dataclass
class Finished:
    """A script's run: its exit status, output and the files it wrote in its folder."""

    argv: list[str]
    returncode: int
    folder: Path
    out: Path
    home: Path | None
    seconds: float
    timed_out: bool = False

    def tail(self, stream: str, chars: int = 4000) -> str:
        path = self.folder / stream
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def results(self) -> dict[str, Any]:
        """What the script wrote to `out`; fails with its output if it did not exit 0."""
        assert self.returncode == 0, (
            f"exit {self.returncode}{' (timed out)' if self.timed_out else ''} after {self.seconds:.0f} s: "
            f"{' '.join(self.argv)}\n{self.tail('stdout')}\n{self.tail('stderr')}"
        )
        return json.loads(self.out.read_text())


@dataclass
class Run:
    script: str
    args: tuple[str, ...]
    out_name: str
    home: bool
    timeout: float
    discard: Callable[[Path], None] | None
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="talentloop-own-process-")))
    closing: threading.Event = field(default_factory=threading.Event)  # the session's: start nothing more
    lock: threading.Lock = field(default_factory=threading.Lock)
    future: Future[Finished] | None = None
    proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        more = ["--home", str(self.folder / "home")] if self.home else []
        return [sys.executable, self.script, *self.args, *more, "--out", str(self.folder / self.out_name)]

    def execute(self) -> Finished:
        # As from a fresh shell: this session's Kafka settings (its own broker's super-user, set
        # in this process's environment once its stack runs) are not the script's, whose stack is its own.
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_")}
        argv = self.argv()
        started = time.monotonic()
        with (self.folder / "stdout").open("wb") as out, (self.folder / "stderr").open("wb") as err:
            with self.lock:
                if self.closing.is_set():
                    raise RuntimeError("the session ended before this script started")
                self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=err)
            timed_out = False
            try:
                code = self.proc.wait(self.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                code = self.stop()
        return Finished(
            argv=argv,
            returncode=code,
            folder=self.folder,
            out=self.folder / self.out_name,
            home=self.folder / "home" if self.home else None,
            seconds=round(time.monotonic() - started, 1),
            timed_out=timed_out,
        )

    def stop(self) -> int:
        """SIGINT (the script's `finally` discards its stack), SIGKILL after a minute."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


class OwnProcesses:
    """The session's scripts, run one at a time in a background thread, in the tests' order."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="own-process")
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def run_for(self, item: pytest.Item) -> Run:
        """The run of `item`'s script, started (queued) if it was not."""
        with self._lock:
            run = self._runs.get(item.nodeid)
            if run is None:
                mark = item.get_closest_marker(MARK)
                assert mark is not None, item.nodeid
                script, *args = mark.args
                kw = mark.kwargs
                run = Run(
                    script, tuple(args), kw["out"], kw.get("home", False), kw.get("timeout", 840.0), kw.get("discard")
                )
                run.closing, run.lock = self._closing, self._lock
                run.future = self._pool.submit(run.execute)
                self._runs[item.nodeid] = run
            return run

    def start(self, items: list[pytest.Item]) -> None:
        if not EARLY:
            return
        for item in items:
            if item.get_closest_marker(MARK):
                self.run_for(item)

    def finished(self, item: pytest.Item) -> Finished:
        run = self.run_for(item)
        assert run.future is not None
        return run.future.result()

    def close(self) -> None:
        """Stop what still runs or waits (the session ended before its test), discard, remove the folders."""
        with self._lock:
            self._closing.set()  # a script not started by now never starts
        for run in self._runs.values():
            assert run.future is not None
            run.future.cancel()
            if run.proc is not None and run.proc.poll() is None:
                run.stop()
        self._pool.shutdown(wait=True)
        for run in self._runs.values():
            if run.discard is not None and (run.folder / "home").exists():
                run.discard(run.folder / "home")
            shutil.rmtree(run.folder, ignore_errors=True)
        self._runs.clear()


SESSION = OwnProcesses()
# TALENTLOOP_TEST_OWN_PROCESSES=in-place: each script starts when its test runs, where it stands (as
# before this module), to compare the two on a machine or to read a failing script's run alone.
EARLY = os.environ.get("TALENTLOOP_TEST_OWN_PROCESSES", "early") != "in-place"


def last(items: list[pytest.Item]) -> None:
    """Move the tests of scripts run early to the session's end, keeping their order."""
    if EARLY:
        items[:] = [i for i in items if not i.get_closest_marker(MARK)] + [
            i for i in items if i.get_closest_marker(MARK)
        ]


@pytest.fixture
def own_process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Finished]:
    """The test's script's run, once it has exited; its `out` file copied to the test's folder.
    Afterwards its `discard` stops whatever the run left under its home (one that did not end itself)."""
    run = SESSION.run_for(request.node)
    done = SESSION.finished(request.node)
    if done.out.exists():
        shutil.copy(done.out, tmp_path / done.out.name)
    print(f"{Path(done.argv[1]).name}: exit {done.returncode} after {done.seconds} s (run early, in the background)")
    yield done
    if run.discard is not None and done.home is not None and done.home.exists():
        run.discard(done.home)
