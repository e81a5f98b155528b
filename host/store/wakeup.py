"""The local wake-up channel: host processes on one machine sharing one SQLite file tell
each other at once when an agent has work or an invocation ended.

PostgreSQL has LISTEN/NOTIFY (host/store/postgres_db.py); SQLite has nothing of the
kind, so without this a completion received by one process reached the agent's owner in
another only at that process's next scan (``--poll-interval``). The channel:

* **One Unix stream socket per listening process**, bound in Linux's abstract namespace
  (no file to clean up after a kill -9, no 108-byte path limit) under a name made of a
  hash of the database file's real path and the process's lease owner
  (:func:`~host.store.sqlite_leases.lease_owner`: pid and a random part). Streams, not
  datagrams: a datagram socket's receive queue holds 10 messages by default
  (``net.unix.max_dgram_qlen``), which a burst of completions overflows.
* **Discovery by marker files**: ``<database>.wake/<pid>-<random>``, one per listening
  process, so a process can tell every other one that an invocation ended (held
  requests waiting on it elsewhere look at once). A marker whose process is dead (a
  kill -9 leaves it) is removed by the first sender that finds it so.
* **Two messages**, newline framed: ``w <component> <name-hex>`` to the agent's owner
  (the lease holder a process found when it tried to run the agent: "it has work"), and
  ``d ...`` to every other process ("its state changed": an invocation ended).
* **Best effort by design.** Every message is sent after the commit it announces; a lost
  one (the owner died, its buffer is full for longer than :data:`SEND_TIMEOUT_S`) costs
  latency only: the scheduler's scanner finds the work at its next scan.

A listener costs one thread blocked in ``select`` (no timeout: a stop is a byte on a
socket pair), so idle CPU does not depend on how many agents wait.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import selectors
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from host.ids import AgentId

log = logging.getLogger("agent-host")

SEND_TIMEOUT_S = 0.2
"""How long a sender waits for room in a peer's socket buffer before giving up (the
scanner then finds the work)."""

SKIP_S = 2.0
"""How long a peer that did not take a message in time is skipped: a stopped process
(SIGSTOP, a debugger) must not cost every sender a timeout per message."""

_MAX_LINE = 4096  # a longer unterminated line is not ours: the connection is dropped

_ON_EVENT = Callable[[AgentId, bool], None]


def owner_tag(owner: str) -> str | None:
    """The channel name part of a lease owner (``host:pid:random``) on this machine, or
    None for an owner elsewhere (or of another shape): it has no local channel."""
    host, _, rest = owner.partition(":")
    pid, _, random = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit() or not random.isalnum():
        return None
    return f"{pid}-{random}"


def encode(kind: str, agent: AgentId) -> bytes:
    return f"{kind} {agent.component_id} {agent.name.encode().hex()}\n".encode()


def decode(line: bytes) -> tuple[AgentId, bool] | None:
    """(agent, has work) of one message line, None if it is not one."""
    try:
        kind, cid, name = line.decode().split(" ")
        agent = AgentId(uuid.UUID(cid), bytes.fromhex(name).decode())
    except ValueError:  # includes UnicodeDecodeError
        return None
    if kind not in ("w", "d"):
        return None
    return agent, kind == "w"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalWakeups:
    """The channel of one database file, as one process uses it (see the module
    docstring): it listens under its owners' names and sends to the others."""

    def __init__(self, db_path: Path) -> None:
        real = os.path.realpath(db_path)
        self.markers = Path(real + ".wake")
        self._prefix = b"\0agent-host/" + hashlib.sha256(real.encode()).hexdigest()[:20].encode()
        self._lock = threading.Lock()
        self._peers: dict[str, socket.socket] = {}  # tag -> connected socket
        self._send_locks: dict[str, threading.Lock] = {}
        self._mine: set[str] = set()  # tags this process listens under
        self._listeners: list[_Listener] = []
        self._known: tuple[float, list[str]] = (-1.0, [])  # markers dir mtime, tags
        self._skip: dict[str, float] = {}  # tag -> monotonic time until which it is skipped

    def address(self, tag: str) -> bytes:
        return self._prefix + b"/" + tag.encode()

    # -- listening -------------------------------------------------------------------
    def listen(self, owner: str, on_event: _ON_EVENT) -> Callable[[], None] | None:
        """Receive the messages sent to ``owner`` until the returned function is called;
        None if the owner has no local channel (it is not of this machine's shape)."""
        tag = owner_tag(owner)
        if tag is None:
            return None
        listener = _Listener(self.address(tag), on_event)
        self.markers.mkdir(exist_ok=True)
        (self.markers / tag).touch()
        with self._lock:
            self._mine.add(tag)
            self._listeners.append(listener)
        listener.start()

        def unlisten() -> None:
            listener.stop()
            with self._lock:
                self._mine.discard(tag)
                if listener in self._listeners:
                    self._listeners.remove(listener)
            with contextlib.suppress(OSError):
                (self.markers / tag).unlink()

        return unlisten

    # -- sending -----------------------------------------------------------------------
    def wake_owner(self, owner: str, agent: AgentId) -> bool:
        """Tell the agent's owner it has work; False if the owner cannot be reached."""
        tag = owner_tag(owner)
        if tag is None or tag in self._mine:
            return False
        return self._send(tag, encode("w", agent))

    def announce_ended(self, agent: AgentId) -> None:
        """Tell every other listening process that an invocation of the agent ended."""
        message = encode("d", agent)
        for tag in self._peer_tags():
            if tag not in self._mine and not self._send(tag, message):
                self._forget_if_dead(tag)

    def _peer_tags(self) -> list[str]:
        try:
            mtime = self.markers.stat().st_mtime
        except OSError:
            return []
        if mtime != self._known[0]:
            try:
                tags = [p.name for p in self.markers.iterdir()]
            except OSError:
                return []
            self._known = (mtime, tags)
        return self._known[1]

    def _forget_if_dead(self, tag: str) -> None:
        pid = tag.partition("-")[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            with contextlib.suppress(OSError):
                (self.markers / tag).unlink()

    def _send(self, tag: str, message: bytes) -> bool:
        with self._lock:
            lock = self._send_locks.setdefault(tag, threading.Lock())
            if self._skip.get(tag, 0.0) > time.monotonic():
                return False
        with lock:
            for attempt in (1, 2):  # a kept connection may have died with its peer
                sock = self._peers.get(tag)
                try:
                    if sock is None:
                        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        sock.settimeout(SEND_TIMEOUT_S)
                        try:
                            sock.connect(self.address(tag))
                        except OSError:
                            sock.close()
                            return False  # nobody listens there (any more)
                        self._peers[tag] = sock
                    sock.sendall(message)
                    return True
                except TimeoutError:  # alive but not reading: skipped for a while
                    self._peers.pop(tag, None)
                    if sock is not None:
                        sock.close()
                    with self._lock:
                        self._skip[tag] = time.monotonic() + SKIP_S
                    return False
                except OSError:
                    self._peers.pop(tag, None)
                    if sock is not None:
                        sock.close()
                    if attempt == 2:
                        return False
        return False

    def close(self) -> None:
        with self._lock:
            listeners, self._listeners = list(self._listeners), []
            peers, self._peers = dict(self._peers), {}
            mine, self._mine = set(self._mine), set()
        for listener in listeners:
            listener.stop()
        for sock in peers.values():
            sock.close()
        for tag in mine:
            with contextlib.suppress(OSError):
                (self.markers / tag).unlink()


class _Listener:
    """One listening socket and the thread reading its connections."""

    def __init__(self, address: bytes, on_event: _ON_EVENT) -> None:
        self.on_event = on_event
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(64)
        self.sock.setblocking(False)
        self._stop_r, self._stop_w = socket.socketpair()
        self._thread = threading.Thread(target=self._loop, name="wakeup-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if not self._thread.is_alive():
            self.sock.close()
            return
        with contextlib.suppress(OSError):
            self._stop_w.send(b"x")
        self._thread.join(5.0)

    def _loop(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ, "accept")
        sel.register(self._stop_r, selectors.EVENT_READ, "stop")
        pending: dict[socket.socket, bytes] = {}
        try:
            while True:
                for key, _ in sel.select():
                    if key.data == "stop":
                        return
                    if key.data == "accept":
                        try:
                            conn, _ = self.sock.accept()
                        except OSError:
                            continue
                        conn.setblocking(False)
                        pending[conn] = b""
                        sel.register(conn, selectors.EVENT_READ, "conn")
                        continue
                    conn = key.fileobj  # type: ignore[assignment]
                    try:
                        data = conn.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(conn)
                        pending.pop(conn, None)
                        conn.close()
                        continue
                    *lines, pending[conn] = (pending[conn] + data).split(b"\n")
                    for line in lines:
                        self._deliver(line)
                    if len(pending[conn]) > _MAX_LINE:
                        sel.unregister(conn)
                        del pending[conn]
                        conn.close()
        finally:
            for conn in pending:
                conn.close()
            sel.close()
            self.sock.close()
            self._stop_r.close()
            self._stop_w.close()

    def _deliver(self, line: bytes) -> None:
        event = decode(line)
        if event is None:
            return  # not ours: ignored
        try:
            self.on_event(*event)
        except Exception:
            log.exception("handling a wake-up for %s failed", event[0])


class SqliteWakeups:
    """The channel as a part of :class:`~host.store.sqlite.SqliteStore` (first in its
    bases, so its ``close`` runs before the database's)."""

    path: Path

    def _wakeups(self) -> LocalWakeups:
        channel: LocalWakeups | None = self.__dict__.get("_local_wakeups")
        if channel is None:
            channel = self.__dict__.setdefault("_local_wakeups", LocalWakeups(self.path))
        return channel

    def listen(self, on_event: _ON_EVENT, owner: str | None = None) -> Callable[[], None] | None:
        if owner is None:
            return None
        try:
            return self._wakeups().listen(owner, on_event)
        except OSError as exc:  # a read-only data directory, say: the scanner still runs
            log.warning(
                "no local wake-up channel (%s): other processes' work is found by the scanner only",
                exc,
            )
            return None

    def wake_owner(self, owner: str, agent: AgentId) -> None:
        self._wakeups().wake_owner(owner, agent)

    def announce_ended(self, agent: AgentId) -> None:
        self._wakeups().announce_ended(agent)

    def close(self) -> None:
        channel: LocalWakeups | None = self.__dict__.pop("_local_wakeups", None)
        if channel is not None:
            channel.close()
        super().close()  # type: ignore[misc]


__all__ = ["LocalWakeups", "SqliteWakeups", "decode", "encode", "owner_tag"]
