"""Serving a guest's ``wasi:io/poll.poll`` through a shim, one borrow per host call.

wasmtime 50 traps (``BUG: deferred host scope has no call context``) when a
Python-defined host function receives two or more ``borrow`` handles in one
call, so ``poll(in: list<borrow<pollable>>)`` over several pollables never
reaches the host. At registration a component that imports ``poll`` is wrapped:

- the wrapper imports everything the guest imports, with the guest's own types
  (its leading type/import/alias sections are copied byte for byte), plus
  ``agent-host:io/poll-helper@0.1.0`` (``wit/agent-host-io-0.1.0``):
  ``add(p: borrow<pollable>, index: u32)`` and ``wait(count: u32) -> list<u32>``;
- it lifts its own ``poll`` from a small core module (``pollshim.wat``) that
  hands the borrowed handles to ``add`` one by one, then calls ``wait``, which
  runs the host's real wait over the whole set (ready indexes, a short sleep, or
  a durable suspension), and drops the borrows;
- it instantiates the original guest, nested unchanged, with that ``poll`` in
  place of the host's, every other import passed through (so ``pollable`` stays
  the one host type every interface uses), and re-exports all the guest's exports.

The wrapper is produced as text around the printed import sections (small) with an
empty placeholder component, and the guest's bytes are spliced in its place, so
the cost does not grow with the size of the guest's code.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import wasmtime

from host.runtime import pollables as pl
from host.runtime.session import HostFunc, Kind, Session

HELPER = "agent-host:io/poll-helper@0.1.0"
_SET = "poll-set"  # Session.state key: the pollables added since the last index 0


def _add(session: Session, pollable: pl.Pollable, index: int) -> None:
    if index == 0:
        session.state[_SET] = []
    pollables: list[pl.Pollable] = session.state.setdefault(_SET, [])
    if index != len(pollables):
        raise RuntimeError(f"poll-helper.add: index {index} out of order")
    pollables.append(pollable)


def _wait(session: Session, count: int) -> list[int]:
    pollables: list[pl.Pollable] = session.state.get(_SET, [])
    if count > len(pollables):
        raise RuntimeError(f"poll-helper.wait: {count} pollables expected, {len(pollables)} added")
    return pl.wait(session, pollables[:count])


# `add` is bookkeeping (runs on replay too, so the set is rebuilt); `wait` is what
# wasi:io/poll.poll was: recorded live, answered from the oplog on replay.
HELPER_FUNCS: dict[str, HostFunc] = {
    "add": HostFunc(_add),
    "wait": HostFunc(_wait, Kind.READ),
}

_SHIM_WAT = Path(__file__).with_name("pollshim.wat")

_TYPE, _IMPORT, _ALIAS, _EXPORT, _COMPONENT = 7, 10, 6, 11, 4
_HEADER = b"\0asm\x0d\x00\x01\x00"

_IMPORT_LINE = re.compile(r'^  \(import "([^"]+)" \((instance|func|type|component) \(;(\d+);\)')
_EXPORT_LINE = re.compile(r'^  \(export \(;\d+;\) "([^"]+)" \((instance|func|type|component) ')
_INSTANCE_EXPORT = re.compile(r'^      \(export \(;\d+;\) "([^"]+)" \((func|type) ')


# The functions of wasi:io/poll 0.2.x, by name: their types around the resource {r}.
_POLL_FUNCS = {
    "poll": '(param "in" (list (borrow {r}))) (result (list u32))',
    "[method]pollable.ready": '(param "self" (borrow {r})) (result bool)',
    "[method]pollable.block": '(param "self" (borrow {r}))',
}


class ShimError(RuntimeError):
    """The component could not be wrapped (it is then used unchanged)."""


def _leb(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _sections(data: bytes) -> list[tuple[int, int, int]]:
    """(id, start, end) of each top-level section."""
    out = []
    i = 8
    try:
        while i < len(data):
            sid = data[i]
            size, j = _leb(data, i + 1)
            if j + size > len(data):
                raise IndexError
            out.append((sid, i, j + size))
            i = j + size
    except IndexError:
        raise ShimError("truncated component") from None
    return out


def _wasm_tools() -> str:
    found = shutil.which("wasm-tools") or str(Path(sys.executable).parent / "wasm-tools")
    return found


def _print(data: bytes) -> str:
    try:
        done = subprocess.run(
            [_wasm_tools(), "print", "-"], input=data, capture_output=True, check=False
        )
    except OSError as exc:
        raise ShimError(f"cannot run wasm-tools: {exc}") from None
    if done.returncode != 0:
        raise ShimError(f"wasm-tools print failed: {done.stderr.decode(errors='replace')}")
    return done.stdout.decode()


def _instance_exports(text: str, type_index: int) -> list[tuple[str, str]]:
    """(name, kind) of the exports of the instance type ``type_index`` in printed text."""
    lines = text.splitlines()
    try:
        start = lines.index(f"  (type (;{type_index};)")
    except ValueError:
        raise ShimError(f"type {type_index} is not printed as expected") from None
    if lines[start + 1] != "    (instance":
        raise ShimError(f"type {type_index} is not an instance type")
    out: list[tuple[str, str]] = []
    for line in lines[start + 2 :]:
        if line == "    )":
            return out
        m = _INSTANCE_EXPORT.match(line)
        if m:
            out.append((m.group(1), m.group(2)))
    raise ShimError(f"unterminated instance type {type_index}")


def imports_poll(data: bytes) -> bool:
    """Whether a component's top-level imports include a ``wasi:io/poll`` instance
    (a quick byte scan; :func:`wrap` checks properly)."""
    if data[:8] != _HEADER:
        return False
    try:
        return b"wasi:io/poll@" in data[: _prefix_end(data)]
    except ShimError:
        return False


def _prefix_end(data: bytes) -> int:
    for sid, start, _ in _sections(data):
        if sid not in (_TYPE, _IMPORT, _ALIAS, 0):
            return start
    return len(data)


def with_poll_shim(data: bytes, warn: Callable[[str], None] | None = None) -> bytes:
    """What the host registers for ``data``: the component wrapped when it imports
    ``wasi:io/poll.poll``, else unchanged. A component the wrapper cannot handle is
    kept as it is (``warn`` hears why): its ``poll`` then reaches the host directly,
    which works for one pollable per call only."""
    if not imports_poll(data):
        return data
    try:
        wrapped = wrap(data)
    except ShimError as exc:
        if warn is not None:
            warn(
                f"warning: this component's wasi:io/poll.poll could not be wrapped ({exc}); "
                "it is registered unchanged and can poll only one pollable per call"
            )
        return data
    return data if wrapped is None else wrapped


def wrap(data: bytes) -> bytes | None:
    """The component wrapped so that its ``wasi:io/poll.poll`` goes through the shim;
    None when it does not import ``poll`` (nothing to do). ShimError when it cannot."""
    if data[:8] != _HEADER:
        raise ShimError("not a component")
    sections = _sections(data)
    head: list[bytes] = []
    rest = 0
    for k, (sid, start, end) in enumerate(sections):
        if sid in (_TYPE, _IMPORT, _ALIAS):
            head.append(data[start:end])
        elif sid != 0:
            rest = k
            break
    else:
        rest = len(sections)
    tail = sections[rest:]
    if any(sid == _IMPORT for sid, _, _ in tail):
        raise ShimError("imports after the first definition are not supported")
    exports = [data[s:e] for sid, s, e in tail if sid == _EXPORT]
    probe = _print(_HEADER + b"".join(head) + b"".join(exports))
    lines = probe.splitlines()
    imports: list[tuple[str, str, int]] = []
    guest_exports: list[tuple[str, str]] = []
    for line in lines:
        if m := _IMPORT_LINE.match(line):
            imports.append((m.group(1), m.group(2), int(m.group(3))))
        elif m := _EXPORT_LINE.match(line):
            guest_exports.append((m.group(1), m.group(2)))
    if len(imports) != sum(line.startswith("  (import ") for line in lines):
        raise ShimError("an import of an unsupported kind")
    polls = [
        (name, index)
        for name, kind, index in imports
        if kind == "instance" and name.startswith("wasi:io/poll@")
    ]
    poll_types = {}
    for name, index in polls:
        m = re.search(
            rf'^  \(import "{re.escape(name)}" \(instance \(;{index};\) \(type (\d+)\)\)\)$',
            probe,
            re.MULTILINE,
        )
        if m is None:
            raise ShimError(f"cannot read the type of the {name} import")
        poll_types[name] = _instance_exports(probe, int(m.group(1)))
    with_poll = [(n, i) for n, i in polls if ("poll", "func") in poll_types[n]]
    if not with_poll:
        return None
    if len(with_poll) > 1:
        raise ShimError("more than one version of wasi:io/poll with poll is imported")
    if any(name == HELPER for name, _, _ in imports):
        raise ShimError(f"the component already imports {HELPER}")
    poll_name, poll_index = with_poll[0]
    text = _wrapper_text(probe, imports, guest_exports, poll_name, poll_index, poll_types)
    try:
        wrapper = bytes(wasmtime.wat2wasm(text))
    except wasmtime.WasmtimeError as exc:
        raise ShimError(f"the wrapper does not assemble: {exc}") from None
    return _splice(wrapper, data)


def _wrapper_text(
    probe: str,
    imports: list[tuple[str, str, int]],
    guest_exports: list[tuple[str, str]],
    poll_name: str,
    poll_index: int,
    poll_types: dict[str, list[tuple[str, str]]],
) -> str:
    body = probe.rstrip()
    # Drop the probe's own export lines (they name indices of the guest) and its `)`.
    kept = [ln for ln in body.splitlines()[:-1] if not _EXPORT_LINE.match(ln)]
    if body.splitlines()[-1] != ")":
        raise ShimError("unexpected printed component")
    out = kept
    shim = _SHIM_WAT.read_text()
    out.append(shim.replace("$POLL", str(poll_index)).replace("$HELPER", HELPER))
    names = [name for name, _ in poll_types[poll_name] if name != "pollable"]
    unknown = [name for name in names if name not in _POLL_FUNCS]
    if unknown:
        raise ShimError(f"unknown functions in {poll_name}: {unknown}")
    # A nested adapter re-exports the host's pollable with the shim's poll: an
    # instance built from a bag of exports cannot carry `[method]` names here (the
    # resource has no name in the wrapper's own export context).
    adapter = ["  (component $ah-adapter", '    (import "pollable" (type $r (sub resource)))']
    adapter += [
        f'    (import "{name}" (func ${n} {_POLL_FUNCS[name].format(r="$r")}))'
        for n, name in enumerate(names)
    ]
    adapter.append('    (export $e "pollable" (type $r))')
    adapter += [
        f'    (export "{name}" (func ${n}) (func {_POLL_FUNCS[name].format(r="$e")}))'
        for n, name in enumerate(names)
    ]
    adapter.append("  )")
    out.extend(adapter)
    args = ['    (with "pollable" (type $ah-pollable))']
    for n, name in enumerate(names):
        if name == "poll":
            args.append('    (with "poll" (func $ah-poll))')
        else:
            out.append(f'  (alias export {poll_index} "{name}" (func $ah-p{n}))')
            args.append(f'    (with "{name}" (func $ah-p{n}))')
    out.append("  (instance $ah-poll-instance (instantiate $ah-adapter")
    out.extend(args)
    out.append("  ))")
    out.append("  (component $ah-guest)")
    out.append("  (instance $ah-g (instantiate $ah-guest")
    for name, kind, index in imports:
        target = "$ah-poll-instance" if name == poll_name else str(index)
        out.append(f'    (with "{name}" ({kind} {target}))')
    out.append("  ))")
    for n, (name, kind) in enumerate(guest_exports):
        out.append(f'  (alias export $ah-g "{name}" ({kind} $ah-x{n}))')
        out.append(f'  (export "{name}" ({kind} $ah-x{n}))')
    out.append(")")
    return "\n".join(out) + "\n"


def _splice(wrapper: bytes, guest: bytes) -> bytes:
    found = [(s, e) for sid, s, e in _sections(wrapper) if sid == _COMPONENT]
    if not found:
        raise ShimError("the wrapper has no placeholder component")
    start, end = found[-1]  # the guest's placeholder comes after the adapter
    size, payload_start = _leb(wrapper, start + 1)
    if not wrapper[payload_start:end].startswith(_HEADER) or size > 256:
        raise ShimError("unexpected placeholder encoding")
    return wrapper[:start] + bytes([_COMPONENT]) + _uleb(len(guest)) + guest + wrapper[end:]
