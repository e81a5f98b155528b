"""``agent-host conformance``: run the suite, list its cases and rules."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from host.conformance.adapters import ADAPTERS
from host.conformance.errors import SuiteError

SUITE_HELP = "The conformance tree (default: the repository's conformance/ folder)."


@click.group()
def conformance() -> None:
    """Check a promise host against the conformance suite (conformance/)."""


@conformance.command("run")
@click.option(
    "--adapter",
    default="agent-host",
    show_default=True,
    help=f"The host under test: {', '.join(sorted(ADAPTERS))}, or module:Class.",
)
@click.option(
    "--url",
    default=None,
    help="For --adapter http: a running Golem-compatible server to test (it cannot be "
    "restarted, so restart cases SKIP). Default: start `agent-host serve` on a free port.",
)
@click.option("-k", "pattern", default=None, help="Only cases whose id contains PATTERN.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the JSON report to FILE.",
)
@click.option(
    "--known-failures",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Known failures file (default: <suite>/known-failures/<adapter>.json).",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Cases run at once (those that restart the host run alone).",
)
@click.option(
    "--suite",
    "suite_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=SUITE_HELP,
)
def run_command(
    adapter: str,
    url: str | None,
    pattern: str | None,
    report_path: Path | None,
    known_failures: Path | None,
    jobs: int,
    suite_dir: Path | None,
) -> None:
    """Run the cases; exit 1 on any FAIL or XPASS (a known failure that now passes)."""
    from host.conformance.report import write_report
    from host.conformance.runner import run

    try:
        report = run(
            adapter,
            url=url,
            suite_dir=suite_dir,
            pattern=pattern,
            jobs=jobs,
            known_failures=known_failures,
            out=click.echo,
        )
    except SuiteError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if report_path is not None:
        write_report(report, report_path)
        click.echo(f"report written to {report_path}")
    sys.exit(0 if report.ok else 1)


@conformance.command("list")
@click.option("--rules", is_flag=True, help="The rule -> cases table (Markdown) instead.")
@click.option(
    "--suite",
    "suite_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=SUITE_HELP,
)
def list_command(rules: bool, suite_dir: Path | None) -> None:
    """List the case instances (validating every case file), or the rules table."""
    from host.conformance.cases import instances, needs
    from host.conformance.loader import load_cases
    from host.conformance.report import rules_table
    from host.conformance.runner import open_suite

    try:
        suite = open_suite(suite_dir)
        cases = load_cases(suite)
    except SuiteError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    if rules:
        click.echo(rules_table(suite, cases))
        return
    for instance in instances(cases):
        caps = sorted(needs(instance.case))
        click.echo(
            f"{instance.id}  {instance.case.rule}" + (f"  [{', '.join(caps)}]" if caps else "")
        )
