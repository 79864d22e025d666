"""Trial processes forked from one that has already imported the framework (`isolation=fork`).

    python -m bench.run.forkserver BACKEND DEVICE      (started by the sweep; requests on stdin)

A fresh `python -m bench.run.worker` pays the interpreter's start, the Keras and framework
import and the interpreter's teardown for every block: 16 s of a 35 s mlp block on this
2-core VM on 2026-12-04 (the import alone 11-12 s). The server pays the import once: it
selects the backend exactly as bench.run.worker does, imports Keras, the framework and the
trial code, and starts nothing (no TensorFlow context, no JAX backend, no CUDA: it checks,
and refuses to serve otherwise, since a process forked after a runtime started its
threads may hang). Each request forks one child, which runs the block exactly as
bench.run.worker does (threads, device, runtime start, warm-up, the block, the records file)
and leaves with `os._exit`, skipping the teardown. Nothing a child does reaches the server
or the next child: every block still has its own process, memory and runtime. The records
say `isolation=fork`, and their `import_s` is the server's one import.

Protocol, one JSON line each way: the sweep writes {"module", "argv", "log"}; the server
forks, answers {"pid"}, waits, answers {"exit"} (the child's exit code, negative for a
signal). The child's stdout and stderr go to "log". `module` is bench.run.worker or
bench.runtime.__main__ (the peak probe). The server exits at the end of its input, and with its
parent (Linux's parent-death signal), as do its children.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import atexit  # noqa: E402
import contextlib  # noqa: E402
import ctypes  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import select  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TextIO  # noqa: E402

MODULES = ("bench.run.worker", "bench.runtime.__main__")  # what a child may run: a block, the peak probe
PRELOAD = (
    "bench.run.sweep",
    "bench.measure.trial",
    "bench.measure.training",
    "bench.styles",
    "bench.runtime",
)
PR_SET_PDEATHSIG = 1


class ServerError(RuntimeError):
    """The fork server could not start or stopped answering."""


# ---------------------------------------------------------------- the server's side


def runtime_started(backend: str) -> str:
    """Why forking now would be unsafe: the framework's runtime (and its threads) has
    started in this process; '' when it has not (each backend's `runtime_started`)."""
    from bench import runtime

    return runtime.for_backend(backend).runtime_started()


def die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def child(request: dict[str, Any], import_s: float, answers: TextIO) -> None:
    """In the forked child: run the request's module with its output in the log; never return."""
    code = 1
    try:
        die_with_parent()
        os.close(answers.fileno())  # the server's answers are the server's alone
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        module = importlib.import_module(request["module"])
        code = module.main(request["argv"], import_s=import_s)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # everything ends in the exit code and the log, nothing in the server
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve(backend: str, device: str, requests: TextIO, answers: TextIO) -> int:
    """Import once, then fork a child per request line until the input ends."""
    from bench.run import worker

    worker.prepare(backend, device)
    for name in PRELOAD:
        importlib.import_module(name)
    import_s = time.perf_counter() - STARTED
    unsafe = runtime_started(backend)
    if unsafe:
        answers.write(json.dumps({"error": f"cannot fork: {unsafe} in the server"}) + "\n")
        answers.flush()
        return 1
    answers.write(json.dumps({"ready": True, "import_s": import_s, "pid": os.getpid()}) + "\n")
    answers.flush()
    for line in requests:
        request = json.loads(line)
        if request.get("module") not in MODULES:
            answers.write(json.dumps({"error": f"unknown module {request.get('module')!r}"}) + "\n")
            answers.flush()
            continue
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            child(request, import_s, answers)
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        _, status = os.waitpid(pid, 0)
        answers.write(json.dumps({"exit": os.waitstatus_to_exitcode(status)}) + "\n")
        answers.flush()
    return 0


def main(argv: list[str]) -> int:
    backend, device = argv
    die_with_parent()
    # the protocol owns the real stdout; anything else printed goes to stderr
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return serve(backend, device, sys.stdin, answers)


# ---------------------------------------------------------------- the sweep's side


@dataclass
class Finished:
    """What one forked run came to: its exit code (negative: a signal), whether it ran out of
    time, and its log (stdout and stderr)."""

    returncode: int
    timed_out: bool
    log: str


class Server:
    """One running fork server for a backend and device (and the GPUs visible to it)."""

    def __init__(self, backend: str, device: str, start_timeout_s: float = 600.0) -> None:
        self.stderr_tail = ""
        command = [sys.executable, "-m", "bench.run.forkserver", backend, device]
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 -- the server's stderr, closed in close(); never a pipe that can fill
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors, bufsize=0
        )
        self.buffer = b""
        hello = self._answer(start_timeout_s)
        if hello is None or "ready" not in hello:
            if hello is not None:
                why = hello.get("error")
            elif self.process.poll() is not None:
                why = f"it exited with status {self.process.returncode}"
            else:
                why = f"no answer in {start_timeout_s:.0f} s"
            self.close()
            raise ServerError(f"the {backend} fork server did not start: {why}{self.stderr_tail}")
        self.import_s = float(hello["import_s"])

    def _answer(self, timeout_s: float) -> dict[str, Any] | None:
        """The server's next line, or None when it does not come in time or the server ended."""
        deadline = time.monotonic() + timeout_s
        descriptor = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([descriptor], [], [], max(deadline - time.monotonic(), 0.0))
            if not ready:
                return None
            chunk = os.read(descriptor, 65536)
            if not chunk:
                self._ended()
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def _ended(self) -> None:
        """The server closed its answers: keep the last lines it printed, for the error."""
        self.process.wait()
        self.errors.seek(0)
        tail = self.errors.read().decode(errors="replace").strip().splitlines()[-5:]
        self.stderr_tail = (": " + " | ".join(tail)) if tail else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, module: str, argv: list[str], log: Path, timeout_s: float) -> Finished:
        """Fork a child that runs `module.main(argv)`; kill it after `timeout_s`."""
        request = {"module": module, "argv": [str(a) for a in argv], "log": str(log)}
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
        except (BrokenPipeError, ValueError) as error:
            raise ServerError(f"the fork server has stopped: {error}") from error
        started = self._answer(60.0)
        if started is None or "pid" not in started:
            raise ServerError(f"the fork server did not fork: {started}{self.stderr_tail}")
        finished = self._answer(timeout_s)
        timed_out = finished is None and self.alive()
        if timed_out:
            with contextlib.suppress(ProcessLookupError):
                os.kill(started["pid"], signal.SIGKILL)
            finished = self._answer(60.0)
        if finished is None or "exit" not in finished:
            raise ServerError(f"the fork server stopped during a run{self.stderr_tail}")
        text = log.read_text(errors="replace") if log.exists() else ""
        return Finished(int(finished["exit"]), timed_out, text)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.errors):
            stream.close()


_SERVERS: dict[tuple[str, str, str | None], Server] = {}


def server_for(backend: str, device: str) -> Server:
    """This process's server for the backend and device, started at the first request
    (and again if it has died)."""
    key = (backend, device, os.environ.get("CUDA_VISIBLE_DEVICES"))
    server = _SERVERS.get(key)
    if server is None or not server.alive():
        if server is not None:
            server.close()
        server = _SERVERS[key] = Server(backend, device)
    return server


@atexit.register
def close_all() -> None:
    """Stop every server this process started (at exit, and between tests)."""
    while _SERVERS:
        _SERVERS.popitem()[1].close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
