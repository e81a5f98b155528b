"""``agent-host serve --workers N``: N host processes behind one listening socket.

The parent binds the socket, then forks N children before it opens the store or starts
any thread (SQLite connections and threads do not survive a fork). Each child is a whole
host: its own :class:`~host.service.HostService`, its own lease owner and process row,
its own uvicorn server accepting on the shared socket (the kernel spreads connections
over the processes that accept). Any process may receive any request: the leases decide
which one runs an agent, and the store's wake-up channel (LISTEN/NOTIFY on PostgreSQL,
host/store/wakeup.py on SQLite) brings work and ended invocations to the right process.

The parent only supervises: it forwards SIGTERM/SIGINT to the children (each in its own
process group, so a terminal's Ctrl-C reaches them once, through the parent, and uvicorn
shuts down gracefully instead of seeing a second signal and forcing the exit); it
restarts a child that died (logged on stderr, with a growing delay if it keeps dying
young); it exits once every child has stopped after a signal. A child that fails before
it ever served (a bad store, a bad option) stops the whole start, with its exit code.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from types import FrameType

READY = b"r"
"""What a child writes to its ready pipe once its server accepts connections."""

_YOUNG_S = 5.0  # a child dying sooner than this after its start is restarted later
_MAX_DELAY_S = 10.0

ChildMain = Callable[[socket.socket, Callable[[], None]], int]
"""A child's body: serve on the socket, call the second argument once serving; its exit
code."""


def bind_socket(host: str, port: int, backlog: int) -> socket.socket:
    """The listening socket every worker process accepts on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto given explicitly: asyncio sets TCP_NODELAY on accepted connections only when
    # the socket says IPPROTO_TCP (with proto 0 every small response waited ~40 ms for
    # the client's delayed ACK, Nagle's algorithm).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _say(message: str) -> None:
    print(f"agent-host: {message}", file=sys.stderr, flush=True)


class Supervisor:
    """The parent process of ``serve --workers N`` (see the module docstring)."""

    def __init__(self, count: int, sock: socket.socket, child_main: ChildMain) -> None:
        self.count = count
        self.sock = sock
        self.child_main = child_main
        self.children: dict[int, int] = {}  # pid -> slot
        self.started: dict[int, float] = {}  # slot -> when its current child started
        self.ready: set[int] = set()  # slots whose child served at least once
        self.delays: dict[int, float] = {}
        self.stopping: int | None = None  # the signal being forwarded
        self._pipes: dict[int, int] = {}  # read end of a starting child's ready pipe -> slot

    # -- the children ------------------------------------------------------------------
    def _spawn(self, slot: int) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 70
            try:
                os.close(read_end)
                os.setpgid(0, 0)
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
                    signal.signal(sig, signal.SIG_DFL)

                def ready() -> None:
                    with contextlib.suppress(OSError):
                        os.write(write_end, READY)
                        os.close(write_end)

                code = self.child_main(self.sock, ready)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - a child must never return into the parent
                import traceback

                traceback.print_exc()
                code = 70
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(write_end)
        self.children[pid] = slot
        self.started[slot] = time.monotonic()
        self._pipes[read_end] = slot

    def _check_ready(self) -> None:
        for fd, slot in list(self._pipes.items()):
            try:
                data = os.read(fd, 1) if _readable(fd) else None
            except OSError:
                data = b""
            if data is None:
                continue
            os.close(fd)
            del self._pipes[fd]
            if data == READY:
                self.ready.add(slot)

    # -- signals ---------------------------------------------------------------------------
    def _forward(self, sig: int, frame: FrameType | None) -> None:
        self.stopping = sig
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM if sig == signal.SIGINT else sig)

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> int:
        """Start the children and supervise them until they stopped; the exit code."""
        signal.signal(signal.SIGTERM, self._forward)
        signal.signal(signal.SIGINT, self._forward)
        for slot in range(self.count):
            self._spawn(slot)
        _say(f"{self.count} worker processes started (pids {', '.join(map(str, self.children))})")
        code = 0
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except OSError as exc:  # pragma: no cover - EINTR is retried by Python
                if exc.errno == errno.EINTR:
                    continue
                raise
            self._check_ready()
            if pid not in self.children:
                continue
            slot = self.children.pop(pid)
            exit_code = os.waitstatus_to_exitcode(status)
            if self.stopping is not None:
                continue  # stopped as told
            if slot not in self.ready:
                # It never served: the same start would fail again in every child.
                _say(f"worker process {pid} failed to start (exit {exit_code}); stopping")
                self._forward(signal.SIGTERM, None)
                code = exit_code if exit_code > 0 else 1
                continue
            age = time.monotonic() - self.started[slot]
            delay = self.delays.get(slot, 0.0)
            delay = min(_MAX_DELAY_S, max(0.5, 2 * delay)) if age < _YOUNG_S else 0.0
            self.delays[slot] = delay
            _say(
                f"worker process {pid} exited ({_describe(exit_code)}); "
                f"restarting it{f' in {delay:.1f} s' if delay else ''}"
            )
            if delay:
                self._sleep(delay)
            if self.stopping is None:
                self._spawn(slot)  # still counted ready: a restart failing is restarted
        for fd in self._pipes:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.sock.close()
        return code

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.stopping is None and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0)[0])


def _describe(exit_code: int) -> str:
    if exit_code < 0:
        try:
            return f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"killed by signal {-exit_code}"
    return f"exit code {exit_code}"


__all__ = ["READY", "Supervisor", "bind_socket"]
