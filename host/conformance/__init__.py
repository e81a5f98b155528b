"""A conformance suite for hosts of durable agents with Golem-style promises.

The suite is data: ``conformance/`` holds the cases (JSON, one file per case), the
guests they run (WAT sources per interface generation), the rules they check and the
known failures per adapter; ``conformance/specification.md`` defines the case format.
This package loads and validates that tree (:mod:`.loader` into :mod:`.cases`), builds
the guests (:mod:`.build`), drives a host through an adapter (:mod:`.adapters`,
:mod:`.execute`, :mod:`.runner`) and reports (:mod:`.report`). Run it with
``agent-host conformance run``.
"""

from host.conformance.cases import CAPABILITIES, Case, Instance, Suite
from host.conformance.errors import CaseError, SuiteError
from host.conformance.loader import load_case, load_cases
from host.conformance.report import OUTCOMES, Report, Result, write_report
from host.conformance.runner import open_suite, run

__all__ = [
    "CAPABILITIES",
    "OUTCOMES",
    "Case",
    "CaseError",
    "Instance",
    "Report",
    "Result",
    "Suite",
    "SuiteError",
    "load_case",
    "load_cases",
    "open_suite",
    "run",
    "write_report",
]
