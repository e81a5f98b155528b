"""Errors of the conformance suite itself (not of the host under test)."""

from __future__ import annotations


class SuiteError(Exception):
    """The suite cannot run: a malformed case or known-failures file, an unknown adapter,
    a guest that does not build. The message says which file and what to fix."""


class CaseError(SuiteError):
    """A case file is malformed; ``path`` is the JSON path of the wrong field
    (``$.steps[2].expect``) and ``file`` the case file, once known."""

    def __init__(self, path: str, message: str, file: str | None = None) -> None:
        self.path = path
        self.message = message
        self.file = file
        where = f"{file}: " if file else ""
        super().__init__(f"{where}{path}: {message}")

    def in_file(self, file: str) -> CaseError:
        return CaseError(self.path, self.message, file)
