"""Running the suite against an adapter: capabilities, known failures, outcomes.

Each case instance (a case at one generation) runs its steps in order; the first step
whose expectation does not hold ends it as FAIL with a message naming the step. An
instance that needs a capability the adapter lacks is SKIP. Known failures turn FAIL
into XFAIL and PASS into XPASS; the run is ``ok`` only without FAIL and XPASS, so a
known failure that got fixed must leave the known-failures file.

Instances run on ``jobs`` threads, each with agents of its own; those that restart the
host run afterwards, one at a time.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from host.conformance.adapters import Adapter, load_adapter
from host.conformance.cases import KILL, RESTART, Instance, Suite, instances, needs
from host.conformance.errors import SuiteError
from host.conformance.execute import CaseRun, Components, StepFailed
from host.conformance.known import load_known_failures, reason_for
from host.conformance.loader import load_cases
from host.conformance.report import FAIL, PASS, SKIP, XFAIL, XPASS, Report, Result


def default_suite_dir() -> Path:
    """The repository's ``conformance/`` folder (beside the ``host`` package), else
    ``./conformance``."""
    beside = Path(__file__).resolve().parents[2] / "conformance"
    return beside if beside.is_dir() else Path.cwd() / "conformance"


def open_suite(root: Path | None = None, wit_dir: Path | None = None) -> Suite:
    root = (root or default_suite_dir()).resolve()
    if not (root / "cases").is_dir():
        raise SuiteError(f"{root} is not a conformance suite (it has no cases/ folder)")
    if wit_dir is None:
        # The WIT packages beside the suite (a repository checkout), else this package's.
        wit_dir = root.parent / "wit"
        if not wit_dir.is_dir():
            wit_dir = Path(__file__).resolve().parents[2] / "wit"
    return Suite(root, wit_dir.resolve())


# -- the run -----------------------------------------------------------------------------------
def _run_instance(
    instance: Instance,
    adapter: Adapter,
    components: Components,
    run_id: str,
    reason: str | None,
) -> Result:
    case = instance.case

    def result(outcome: str, message: str = "", duration: float = 0.0) -> Result:
        return Result(
            instance.id,
            case.id,
            instance.generation,
            case.rule,
            outcome,
            message,
            reason if outcome in (XFAIL, XPASS) else None,
            duration,
        )

    missing = sorted(needs(case) - adapter.capabilities)
    if missing:
        return result(SKIP, f"{adapter.name} lacks {', '.join(missing)}")
    started = time.monotonic()
    message = ""
    try:
        CaseRun(instance, adapter, components, run_id).run()
        passed = True
    except StepFailed as exc:
        passed, message = False, str(exc)
    except SuiteError:
        raise
    except Exception as exc:  # an adapter bug or a host crash: the case fails, the run goes on
        passed, message = False, f"{type(exc).__name__}: {exc}"
    duration = time.monotonic() - started
    if reason is None:
        return result(PASS if passed else FAIL, message, duration)
    if passed:
        message = "passes, but is listed as a known failure: remove it from the known-failures file"
        return result(XPASS, message, duration)
    return result(XFAIL, message, duration)


def run(
    adapter: str | Adapter = "agent-host",
    *,
    url: str | None = None,
    suite_dir: Path | None = None,
    pattern: str | None = None,
    jobs: int = 1,
    known_failures: Path | None = None,
    out: Callable[[str], None] | None = print,
    data_dir: Path | None = None,
) -> Report:
    """Run the suite (the instances whose id contains ``pattern``) against an adapter.

    ``adapter`` is a name (see :data:`~host.conformance.adapters.ADAPTERS`), ``module:Class``
    or an adapter object; ``known_failures`` defaults to
    ``<suite>/known-failures/<adapter name>.json``. Raises SuiteError when the suite itself
    is broken (a malformed case or known-failures file, a guest that does not build)."""
    suite = open_suite(suite_dir)
    every = instances(load_cases(suite))
    chosen = [i for i in every if pattern is None or pattern in i.id]
    target = adapter if isinstance(adapter, Adapter) else load_adapter(adapter, url, data_dir)
    known = load_known_failures(
        known_failures or suite.root / "known-failures" / f"{target.name}.json", every
    )
    emit = out or (lambda _line: None)
    run_id = secrets.token_hex(3)
    report = Report(
        target.name,
        "",
        sorted(target.capabilities),
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    started = time.monotonic()
    lock = threading.Lock()

    def one(instance: Instance) -> None:
        result = _run_instance(instance, target, components, run_id, reason_for(instance, known))
        with lock:
            report.results.append(result)
            line = f"{result.outcome:<5} {result.id}"
            if result.outcome != PASS and result.message:
                line += f"\n      {result.message}"
            if result.reason and result.outcome == XFAIL:
                line += f"\n      known failure: {result.reason}"
            emit(line)

    target.start()
    try:
        report.target = target.describe()
        emit(f"conformance: {len(chosen)} cases against {report.target}")
        components = Components(suite, target, run_id)
        exclusive = {RESTART, KILL}
        shared = [i for i in chosen if not needs(i.case) & exclusive & target.capabilities]
        alone = [i for i in chosen if i not in shared]
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for future in [pool.submit(one, i) for i in shared]:
                future.result()
        for instance in alone:
            one(instance)
    finally:
        target.stop()
    report.duration_s = time.monotonic() - started
    emit(report.summary())
    return report
