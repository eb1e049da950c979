"""Shared plumbing for the interop client scenarios in this folder.

Every scenario script:
  * takes --host/--port (+ its own flags),
  * exits 0 when every check passed, 1 when a check failed or an error occurred
    (message on stderr, naming the step), 2 on bad usage (argparse),
  * prints exactly one line of JSON on stdout: what it checked (also on failure,
    with "ok": false),
  * is bounded in time: a per-socket-operation timeout (--io-timeout) and a
    whole-run deadline (--deadline, SIGALRM).

This module imports nothing 9P-specific, so it works in both venvs (p9fs's
`py9p` and python-9p's `py9p` are different packages with the same name).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import json
import os
import random
import signal
import socket
import sys
import time
import traceback


class ScenarioFailure(Exception):
    """A check did not hold (or the run hit its deadline)."""


def add_common_args(p: argparse.ArgumentParser, *, aname_default: str | None = "") -> None:
    p.add_argument("--host", default="127.0.0.1", help="9P server address (default 127.0.0.1)")
    p.add_argument("--port", type=int, required=True, help="9P server TCP port")
    p.add_argument("--uname", default="pebble", help="uname sent in Tattach (default: pebble)")
    p.add_argument("--prefix", default=None,
                   help="name of the scenario's top directory (default: unique per run)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed for the random file contents (default: random; printed in the summary)")
    p.add_argument("--io-timeout", type=float, default=60.0,
                   help="seconds any single socket operation may take (default 60)")
    p.add_argument("--deadline", type=int, default=300,
                   help="seconds the whole scenario may take (default 300)")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Scenario:
    """Collects steps and checks; `check` raises ScenarioFailure naming the step."""

    def __init__(self, name: str, args: argparse.Namespace):
        self.name = name
        self.args = args
        self.seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
        self.rng = random.Random(self.seed)
        self.current_step = "setup"
        self.steps: list[str] = []
        self.checks = 0
        self.details: dict = {}
        self.started = time.monotonic()

    def unique_name(self, tag: str) -> str:
        if self.args.prefix:
            return self.args.prefix
        return f"{tag}-{os.getpid()}-{self.rng.randrange(1 << 32):08x}"

    def random_bytes(self, n: int) -> bytes:
        return self.rng.randbytes(n)

    @contextlib.contextmanager
    def step(self, name: str):
        self.current_step = name
        yield
        self.steps.append(name)

    def check(self, cond: bool, message: str) -> None:
        if not cond:
            raise ScenarioFailure(message)
        self.checks += 1

    def check_eq(self, got, want, what: str) -> None:
        self.check(got == want, f"{what}: got {got!r}, want {want!r}")

    def summary(self, ok: bool, error: str | None = None) -> dict:
        out = {
            "scenario": self.name,
            "ok": ok,
            "target": f"{self.args.host}:{self.args.port}",
            "seed": self.seed,
            "steps": self.steps,
            "checks": self.checks,
            "seconds": round(time.monotonic() - self.started, 3),
        }
        out.update(self.details)
        if error is not None:
            out["failed_step"] = self.current_step
            out["error"] = error
        return out


def describe(exc: BaseException) -> str:
    """Exception text, with errno names for the bare-int errors p9fs raises on Rlerror."""
    msg = f"{type(exc).__name__}: {exc}"
    if (not isinstance(exc, OSError) and exc.args and isinstance(exc.args[0], int)
            and not isinstance(exc.args[0], bool)):
        n = exc.args[0]
        msg += f" (errno {n} {errno.errorcode.get(n, '?')}: {os.strerror(n)})"
    return msg


def _on_alarm(signum, frame):
    raise ScenarioFailure("deadline exceeded (see --deadline)")


def run(name: str, args: argparse.Namespace, body) -> int:
    """Run body(scenario) with timeouts; print the JSON summary; return the exit code."""
    socket.setdefaulttimeout(args.io_timeout)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(max(1, args.deadline))
    sc = Scenario(name, args)
    try:
        body(sc)
    except ScenarioFailure as exc:
        signal.alarm(0)
        msg = str(exc)
        print(f"FAIL {name} [step: {sc.current_step}] {msg} (seed {sc.seed})", file=sys.stderr)
        print(json.dumps(sc.summary(False, msg)), flush=True)
        return 1
    except Exception as exc:  # a client library error, a socket error, ...
        signal.alarm(0)
        msg = describe(exc)
        print(f"ERROR {name} [step: {sc.current_step}] {msg} (seed {sc.seed})", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        print(json.dumps(sc.summary(False, msg)), flush=True)
        return 1
    signal.alarm(0)
    print(json.dumps(sc.summary(True)), flush=True)
    return 0


NOT_FOUND_TEXTS = ("not found", "no such file", "does not exist", "not exist")


def looks_not_found(text) -> bool:
    """Does an Rerror ename mean "no such file"? Servers word it differently:
    p9fs's server "file not found", aio9p/diod-style strerror "No such file or directory"."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text).lower()
    return any(s in text for s in NOT_FOUND_TEXTS)


def safe_len(n: int, chunk: int) -> int:
    """Nudge a length so that it is not ≡ 1 (mod chunk).

    p9fs 0.0.4 loses the last byte of an upload chunk whose length is
    ≡ 1 mod (msize - 24) (`while offset < size - 1`), see INTEROP.md.
    """
    return n + 1 if n % chunk == 1 else n
