"""Crash-point fault injection: real ``agent-host`` processes killed with SIGKILL at every
store commit of a scenario, then recovered and checked.

The store's test seam (host/store/crashpoint.py, which ``open_store`` applies) kills a
process at its n-th commit (``AGENT_HOST_CRASH_AT``), just before or just after it
(``AGENT_HOST_CRASH_WHEN``), and counts a clean run's commits
(``AGENT_HOST_CRASH_COUNT_FILE``). A :class:`Scenario` is a list of CLI commands (steps).

1. A clean run executes the steps in order, counting each step's commits and copying the
   data directory before each step (a snapshot), so a crash run starts from the state the
   crashed step would have found.
2. For every step, every commit k of that step and both sides of the commit, a crash run
   copies the snapshot, runs the step with the crash armed (it must die by SIGKILL),
   recovers like a restarted host and a retrying client would (``worker --once`` until
   nothing is due, then the interrupted command again, since it was never acknowledged,
   then the worker again), runs the remaining steps, and checks :func:`check_invariants`
   plus :func:`observe` against the clean run.

Every invocation carries an idempotency key, so a retried ``invoke`` finds the invocation
the crashed process queued instead of queueing a second one: that is how a client retries.

SQLite only: the crash seam wraps only the SQLite store (``open_store`` returns a
``CrashPointSqliteStore``; a PostgreSQL store never crashes at a commit), and the data
directory copies are file copies. :func:`structural_problems` reads any store.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host import oplog
from host.oplog import HostCall
from host.oplog_codec import decode_row
from host.store import DB_FILENAME, SqliteStore, Store

AGENT_HOST = str(Path(sys.executable).with_name("agent-host"))
DB = DB_FILENAME


class CrashCheckFailed(AssertionError):
    pass


# -- running the CLI ------------------------------------------------------------------
def run_cli(
    store: Path, args: list[str], env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_HOST_CRASH")}
    full_env.update(env or {})
    return subprocess.run(
        [AGENT_HOST, "--store", str(store), "--json", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def copy_store(source: Path, target: Path) -> Path:
    """A private copy of a data directory: the database files copied, the component files
    and compiled code hard-linked (the host only ever replaces those, never writes into
    them), so no copy compiles the component again."""

    def copy(src: str, dst: str) -> None:
        if DB in Path(src).name:
            shutil.copy2(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=copy, ignore=shutil.ignore_patterns("*.tmp*"))
    return target


# -- scenarios ------------------------------------------------------------------------
@dataclass
class Ctx:
    """What a step's command line may depend on: component ids and earlier outputs."""

    components: dict[str, str]
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    args: Callable[[Ctx], list[str]]
    # The completion this step acknowledges when its output says so: (agent, idx, payload).
    completes: Callable[[Ctx, Any], tuple[str, int, bytes] | None] = lambda ctx, out: None


@dataclass(frozen=True)
class Scenario:
    name: str
    components: dict[str, Path]  # component name -> wasm file
    steps: tuple[Step, ...]
    # Makes an invocation result comparable across runs (values the run drew live).
    normalize: Callable[[str | None, list[Any]], str | None] = lambda result, entries: result


@dataclass
class CleanRun:
    scenario: Scenario
    snapshots: list[Path]  # the data directory before each step
    commits: list[list[str]]  # per step, the store method of each commit
    ctx: Ctx
    observed: dict[str, Any]


@dataclass
class CrashRun:
    step: str
    k: int
    when: str
    method: str
    seconds: float = 0.0


def _parse(proc: subprocess.CompletedProcess[str], what: str) -> Any:
    if proc.returncode != 0:
        raise CrashCheckFailed(
            f"{what} exited with {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
        )
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def prepare(scenario: Scenario, workdir: Path) -> CleanRun:
    """Register the components (compiling them once) and run the scenario without a crash."""
    template = workdir / "template"
    ids: dict[str, str] = {}
    for name, wasm in scenario.components.items():
        out = _parse(run_cli(template, ["component", "add", str(wasm), "--name", name]), "add")
        ids[name] = out["id"]
    store = copy_store(template, workdir / "clean")
    ctx = Ctx(ids)
    snapshots, commits = [], []
    for i, step in enumerate(scenario.steps):
        snapshots.append(copy_store(store, workdir / f"before-{i}"))
        count_file = workdir / f"commits-{i}"
        proc = run_cli(store, step.args(ctx), {"AGENT_HOST_CRASH_COUNT_FILE": str(count_file)})
        ctx.outputs[step.name] = _parse(proc, f"clean run of {scenario.name}/{step.name}")
        lines = count_file.read_text().splitlines() if count_file.exists() else []
        commits.append([line.split(" ", 1)[1] for line in lines])
        _quiesce(store, scenario, f"clean run after {step.name}")
    observed = observe(store, scenario)
    check_invariants(store, scenario, acked=_acked(scenario, ctx))
    return CleanRun(scenario, snapshots, commits, ctx, observed)


def _acked(scenario: Scenario, ctx: Ctx) -> list[tuple[str, int, bytes]]:
    found = []
    for step in scenario.steps:
        if step.name in ctx.outputs:
            done = step.completes(ctx, ctx.outputs[step.name])
            if done is not None:
                found.append(done)
    return found


def _quiesce(store: Path, scenario: Scenario, what: str) -> int:
    """Run ``worker --once`` while the store has due work (a restarted host); how often."""
    runs = 0
    while True:
        view = SqliteStore(store / DB)
        try:
            due = view.runnable_agents(time.time_ns())
        finally:
            view.close()
        if not due:
            return runs
        if runs >= 5:
            raise CrashCheckFailed(f"{what}: agents still due after {runs} worker runs: {due}")
        _parse(run_cli(store, ["worker", "--once"]), f"{what}: worker --once")
        runs += 1


def crash_run(clean: CleanRun, index: int, k: int, when: str, workdir: Path) -> CrashRun:
    """Crash the ``index``-th step at its ``k``-th commit, recover, finish, check."""
    scenario = clean.scenario
    step = scenario.steps[index]
    label = f"{scenario.name}/{step.name} commit {k} ({clean.commits[index][k - 1]}) {when}"
    began = time.monotonic()
    store = copy_store(clean.snapshots[index], workdir)
    ctx = Ctx(
        clean.ctx.components, {s.name: clean.ctx.outputs[s.name] for s in scenario.steps[:index]}
    )
    env = {"AGENT_HOST_CRASH_AT": str(k), "AGENT_HOST_CRASH_WHEN": when}
    crashed = run_cli(store, step.args(ctx), env)
    if crashed.returncode != -signal.SIGKILL:
        raise CrashCheckFailed(
            f"{label}: the process did not crash (exit {crashed.returncode}): {crashed.stderr}"
        )
    # A restarted host resumes what is due, then the client retries what was never answered.
    _quiesce(store, scenario, f"{label}: restart")
    check_invariants(store, scenario, acked=_acked(scenario, ctx), what=f"{label}, restarted")
    ctx.outputs[step.name] = _parse(run_cli(store, step.args(ctx)), f"{label}: retry")
    _quiesce(store, scenario, f"{label}: after the retry")
    check_invariants(store, scenario, acked=_acked(scenario, ctx), what=f"{label}, retried")
    for later in scenario.steps[index + 1 :]:
        ctx.outputs[later.name] = _parse(run_cli(store, later.args(ctx)), f"{label}: {later.name}")
        _quiesce(store, scenario, f"{label}: after {later.name}")
        check_invariants(
            store, scenario, acked=_acked(scenario, ctx), what=f"{label}, {later.name}"
        )
    observed = observe(store, scenario)
    if observed != clean.observed:
        raise CrashCheckFailed(
            f"{label}: the recovered run differs from the clean run:\n"
            + _diff(clean.observed, observed)
        )
    shutil.rmtree(store, ignore_errors=True)
    return CrashRun(step.name, k, when, clean.commits[index][k - 1], time.monotonic() - began)


def _diff(want: dict[str, Any], got: dict[str, Any]) -> str:
    lines = []
    for key in sorted(set(want) | set(got)):
        if want.get(key) != got.get(key):
            lines.append(
                f"  {key}:\n    clean:     {want.get(key)!r}\n    recovered: {got.get(key)!r}"
            )
    return "\n".join(lines)


def run_all(clean: CleanRun, workdir: Path, workers: int | None = None) -> list[CrashRun]:
    """Every crash point of the scenario (each step's commits, before and after)."""
    jobs = [
        (i, k, when)
        for i, commits in enumerate(clean.commits)
        for k in range(1, len(commits) + 1)
        for when in ("before", "after")
    ]
    workers = workers or max(2, os.cpu_count() or 2)

    def one(job: tuple[int, int, str]) -> CrashRun:
        i, k, when = job
        return crash_run(clean, i, k, when, Path(tempfile.mkdtemp(dir=workdir)) / "store")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, jobs))


# -- what a run leaves behind -----------------------------------------------------------
def _entry_shape(entry: Any) -> str:
    kind = oplog.kind(entry)
    if isinstance(entry, HostCall):
        return (
            f"{kind} {entry.function} -> {json.dumps(entry.response)}"
            if entry.function.endswith("complete-promise")
            else f"{kind} {entry.function}"
        )
    if hasattr(entry, "function"):
        return f"{kind} {entry.function}"
    return kind


def observe(store: Path, scenario: Scenario) -> dict[str, Any]:
    """Everything that must be the same after any crash and recovery as after a clean run:
    per agent its status, the shape of its oplog (entry kinds and host-call names in order),
    its promises with their payloads, and every invocation's state and (normalized) result."""
    view = SqliteStore(store / DB)
    try:
        seen: dict[str, Any] = {}
        for record in view.list_agents():
            name = record.agent.name
            entries = view.read_oplog(record.agent)
            seen[f"{name} status"] = (record.status, record.last_error)
            seen[f"{name} oplog"] = [_entry_shape(e) for e in entries]
            seen[f"{name} promises"] = [
                (p.id.oplog_idx, p.function, p.completed, p.data)
                for p in view.list_promises(record.agent, pending_only=False)
            ]
            seen[f"{name} invocations"] = [
                (
                    inv.idempotency_key,
                    inv.function,
                    inv.params,
                    inv.state,
                    scenario.normalize(inv.result, entries),
                    inv.error,
                )
                for inv in view.list_invocations(record.agent)
            ]
        return seen
    finally:
        view.close()


def structural_problems(db: Store) -> list[str]:
    """What must hold of a store at any time, even mid-run: every oplog decodes and its
    indexes run 1..n without a gap; every promise row was made by a ``promise-created``
    entry at its index and every such entry has its row (each promise created exactly
    once); no invocation was started or finished twice. Read through the Store API, so
    it checks either store (tests/e2e/test_fuzz_api.py runs under the PostgreSQL switch)."""
    problems: list[str] = []
    for record in db.list_agents():
        agent = record.agent
        name = agent.name
        rows = db.read_oplog_raw(agent)
        indexes = [r[0] for r in rows]
        if indexes != list(range(1, len(rows) + 1)):
            problems.append(f"{name}: oplog indexes are not 1..n: {indexes}")
        try:
            entries = [decode_row(head, blob) for _, head, blob in rows]
        except Exception as exc:
            problems.append(f"{name}: {exc}")
            continue
        created = {i + 1 for i, e in enumerate(entries) if isinstance(e, oplog.PromiseCreated)}
        promises = {p.id.oplog_idx for p in db.list_promises(agent, pending_only=False)}
        deleted = db.deleted_promise_indexes(agent)
        if promises | deleted != created:
            problems.append(
                f"{name}: promise rows {sorted(promises | deleted)} != promise-created "
                f"entries {sorted(created)}"
            )
        for kind_ in (oplog.InvocationStarted, oplog.InvocationFinished):
            ids = Counter(e.invocation_id for e in entries if isinstance(e, kind_))
            twice = [i for i, n in ids.items() if n > 1]
            if twice:
                problems.append(f"{name}: {kind_.__name__} recorded twice for {twice}")
    return problems


def check_invariants(
    store: Path, scenario: Scenario, acked: list[tuple[str, int, bytes]], what: str = "clean run"
) -> None:
    """The invariants that hold at every quiescent point (nothing due):

    - :func:`structural_problems` finds nothing;
    - every acknowledged completion (a ``true`` answer) is still completed with its payload;
    - no agent is left ``running``, and every ``suspended`` agent has a live wake-up: it
      waits on at least one promise or a timer, and none of the promises it waits on is
      completed already (that completion's wake-up would have been lost).
    """
    db = SqliteStore(store / DB)
    try:
        problems = structural_problems(db)
        for record in db.list_agents():
            name = record.agent.name
            promises = {
                p.id.oplog_idx: p for p in db.list_promises(record.agent, pending_only=False)
            }
            if record.status == "running":
                problems.append(f"{name}: left running with nothing due")
            if record.status == "suspended":
                if not record.waiting_promises and record.wake_at_ns is None:
                    problems.append(f"{name}: suspended with no wake-up source")
                for idx in record.waiting_promises:
                    p = promises.get(idx)
                    if p is None:
                        problems.append(f"{name}: waits on promise {idx}, which does not exist")
                    elif p.completed:
                        problems.append(
                            f"{name}: suspended on promise {idx}, completed already: a lost wake-up"
                        )
        by_name = {r.agent.name: r.agent for r in db.list_agents()}
        for agent_name, idx, payload in acked:
            found = (
                [
                    p
                    for p in db.list_promises(by_name[agent_name], pending_only=False)
                    if p.id.oplog_idx == idx
                ]
                if agent_name in by_name
                else []
            )
            if not found or not found[0].completed or found[0].data != payload:
                problems.append(
                    f"{agent_name}: the acknowledged completion of promise {idx} with "
                    f"{payload!r} was lost: {found}"
                )
        if problems:
            raise CrashCheckFailed(f"{what}:\n  " + "\n  ".join(problems))
    finally:
        db.close()
