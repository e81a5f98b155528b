"""A JSON object of a case file being validated: typed getters whose errors name the
JSON path, and a check that no unknown key is left (:mod:`.loader`)."""

from __future__ import annotations

from typing import Any

from host.conformance import refs
from host.conformance.errors import CaseError


class Obj:
    """A JSON object being validated at ``path``; reports unknown keys."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise CaseError(path, f"must be an object, got {refs.show(data, 60)}")
        self.data: dict[str, Any] = data
        self.path = path
        self.seen: set[str] = set()

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def has(self, key: str) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        self.seen.add(key)
        return self.data.get(key, default)

    def req(self, key: str) -> Any:
        self.seen.add(key)
        if key not in self.data:
            raise CaseError(self.at(key), "is required")
        return self.data[key]

    def string(self, key: str, required: bool = True) -> Any:
        """A non-empty string; an optional one that is absent is None."""
        if not required and key not in self.data:
            self.seen.add(key)
            return None
        value = self.req(key)
        if not (isinstance(value, str) and value):
            raise CaseError(self.at(key), f"must be a non-empty string, got {refs.show(value, 60)}")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.get(key, default)
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not (low <= value <= high)
        ):
            raise CaseError(self.at(key), f"must be a number from {low:g} to {high:g}")
        return float(value)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise CaseError(self.at(unknown[0]), "is not a field here")
