"""WASI preview 2, implemented in Python so that every call can be recorded.

The host owns ``wasi:io/poll``'s pollable (promise pollables must meet WASI's
own in one ``poll``), and that cascades to every interface that hands out
pollables or streams (notes item 8). Capabilities an agent does not get are
refused the way WASI refuses them: no preopened directories, sockets denied
with ``access-denied``; reading stdin fails the invocation (agents have none).
Functions of these interfaces not listed here trap with a message naming them,
if a guest ever calls them.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from typing import Any

from host.errors import HostError
from host.runtime import pollables as pl
from host.runtime.session import GuestExit, HostFunc, Kind, Session
from host.values import Case, Some

# Interface families (without version) this module provides; any function of theirs
# that is not in FUNCS is linked as a refusal.
FAMILIES = (
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
    "wasi:sockets/",
    "wasi:http/",  # host/runtime/wasi_http.py
)


class OutputStream:
    def __init__(self, name: str) -> None:
        self.name = name


class InputStream:
    pass


class Terminal:
    pass


class Network:
    pass


def _write(session: Session, stream: OutputStream, contents: bytes) -> Case:
    # Past max_output_bytes the write fails the invocation (LimitExceeded), before
    # anything is delivered or recorded.
    session.count_output(stream.name, len(contents))
    if session.on_output is not None:
        session.on_output(stream.name, contents)
    return Case("ok", None)


def _subscribe_duration_live(session: Session, duration: int) -> pl.TimerPollable:
    return pl.TimerPollable(pl.monotonic_now(session) + duration)


def _exit(session: Session, status: Case) -> None:
    raise GuestExit(status.name == "ok")


def _exit_with_code(session: Session, code: int) -> None:
    raise GuestExit(code == 0)


def _ok(value: Any = None) -> Callable[..., Case]:
    return lambda *_: Case("ok", value)


class NoStdin(HostError):
    """A guest read its standard input, which agents do not have."""


def _no_stdin(session: Session, stream: Any, length: int) -> Case:
    # Golem agents have no stdin: reading it fails the invocation instead of seeing an
    # end of file the guest could mistake for an empty input.
    raise NoStdin("agents have no standard input: wasi:cli/stdin cannot be read on agent-host")


def _const(value: Any) -> Callable[..., Any]:
    return lambda *_: value


STREAM_CLOSED = Case("err", Case("closed", None))
DENIED = Case("err", "access-denied")

R = Kind.READ

FUNCS: dict[str, HostFunc] = {
    # wasi:io
    "wasi:io/poll.[method]pollable.ready": HostFunc(lambda s, p: pl.is_ready(s, p), R),
    "wasi:io/poll.[method]pollable.block": HostFunc(lambda s, p: (pl.wait(s, [p]), None)[1], R),
    "wasi:io/poll.poll": HostFunc(lambda s, ps: pl.wait(s, list(ps)), R),
    "wasi:io/error.[method]error.to-debug-string": HostFunc(_const("stream error")),
    "wasi:io/streams.[method]output-stream.check-write": HostFunc(_ok(1 << 20)),
    "wasi:io/streams.[method]output-stream.write": HostFunc(_write, R),
    "wasi:io/streams.[method]output-stream.blocking-write-and-flush": HostFunc(_write, R),
    "wasi:io/streams.[method]output-stream.flush": HostFunc(_ok()),
    "wasi:io/streams.[method]output-stream.blocking-flush": HostFunc(_ok()),
    "wasi:io/streams.[method]output-stream.subscribe": HostFunc(lambda s, o: pl.ReadyPollable()),
    "wasi:io/streams.[method]output-stream.write-zeroes": HostFunc(
        lambda s, o, n: _write(s, o, bytes(n)), R
    ),
    "wasi:io/streams.[method]output-stream.blocking-write-zeroes-and-flush": HostFunc(
        lambda s, o, n: _write(s, o, bytes(n)), R
    ),
    "wasi:io/streams.[method]input-stream.read": HostFunc(_no_stdin),
    "wasi:io/streams.[method]input-stream.blocking-read": HostFunc(_no_stdin),
    "wasi:io/streams.[method]input-stream.skip": HostFunc(_no_stdin),
    "wasi:io/streams.[method]input-stream.blocking-skip": HostFunc(_no_stdin),
    "wasi:io/streams.[method]input-stream.subscribe": HostFunc(lambda s, i: pl.ReadyPollable()),
    # wasi:clocks
    # Replayed readings restore the agent's monotonic floor (pollables.py).
    "wasi:clocks/monotonic-clock.now": HostFunc(
        lambda s: pl.monotonic_now(s), R, rebuild=lambda s, t: pl.replayed_reading(s, int(t))
    ),
    "wasi:clocks/monotonic-clock.resolution": HostFunc(_const(1)),
    "wasi:clocks/monotonic-clock.subscribe-instant": HostFunc(
        lambda s, when: pl.TimerPollable(when)
    ),
    # The deadline depends on the clock: record it, and rebuild the timer from it on replay.
    "wasi:clocks/monotonic-clock.subscribe-duration": HostFunc(
        _subscribe_duration_live,
        R,
        snapshot=lambda timer: timer.deadline_ns,
        rebuild=lambda s, deadline: pl.TimerPollable(int(deadline)),
    ),
    "wasi:clocks/wall-clock.now": HostFunc(
        lambda s: (lambda t: {"seconds": t // 10**9, "nanoseconds": t % 10**9})(time.time_ns()),
        R,
    ),
    "wasi:clocks/wall-clock.resolution": HostFunc(_const({"seconds": 0, "nanoseconds": 1000})),
    # wasi:random
    "wasi:random/random.get-random-bytes": HostFunc(lambda s, n: secrets.token_bytes(n), R),
    "wasi:random/random.get-random-u64": HostFunc(lambda s: secrets.randbits(64), R),
    "wasi:random/insecure.get-insecure-random-bytes": HostFunc(lambda s, n: os.urandom(n), R),
    "wasi:random/insecure.get-insecure-random-u64": HostFunc(lambda s: secrets.randbits(64), R),
    "wasi:random/insecure-seed.insecure-seed": HostFunc(
        lambda s: (secrets.randbits(64), secrets.randbits(64)), R
    ),
    # wasi:cli
    "wasi:cli/environment.get-environment": HostFunc(lambda s: list(s.env), R),
    "wasi:cli/environment.get-arguments": HostFunc(lambda s: list(s.args), R),
    "wasi:cli/environment.initial-cwd": HostFunc(_const(None)),
    "wasi:cli/exit.exit": HostFunc(_exit, R),
    "wasi:cli/exit.exit-with-code": HostFunc(_exit_with_code, R),
    "wasi:cli/stdin.get-stdin": HostFunc(lambda s: InputStream()),
    "wasi:cli/stdout.get-stdout": HostFunc(lambda s: OutputStream("stdout")),
    "wasi:cli/stderr.get-stderr": HostFunc(lambda s: OutputStream("stderr")),
    "wasi:cli/terminal-stdin.get-terminal-stdin": HostFunc(_const(None)),
    "wasi:cli/terminal-stdout.get-terminal-stdout": HostFunc(_const(None)),
    "wasi:cli/terminal-stderr.get-terminal-stderr": HostFunc(_const(None)),
    # wasi:filesystem: no preopened directories, so no descriptor ever exists.
    "wasi:filesystem/preopens.get-directories": HostFunc(_const([])),
    "wasi:filesystem/types.filesystem-error-code": HostFunc(_const(None)),
    # wasi:sockets: agents get no network sockets.
    "wasi:sockets/instance-network.instance-network": HostFunc(lambda s: Network()),
    "wasi:sockets/tcp-create-socket.create-tcp-socket": HostFunc(_const(DENIED)),
    "wasi:sockets/udp-create-socket.create-udp-socket": HostFunc(_const(DENIED)),
    "wasi:sockets/ip-name-lookup.resolve-addresses": HostFunc(_const(DENIED)),
}

__all__ = ["FAMILIES", "FUNCS", "Some"]
