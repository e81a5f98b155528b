"""Per-promise secrets: derived from a host key, stored only as hashes.

A promise's secret is an HMAC of its id under a key kept in the data directory
(created on first use, readable by the owner only). The store keeps the SHA-256
of each promise's secret, set when the promise is created; checking a secret
compares hashes in constant time. The secret itself is never written anywhere
(not in the oplog either: handing it to the guest is a pure function of its id).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets as _random
from pathlib import Path
from typing import Literal

from host.ids import PromiseId

KEY_FILE = "promise-secret.key"

CompletionPolicy = Literal["open", "secret"]
"""Who may complete a promise from inside a guest. ``open``: any agent may complete
any promise with golem's ``complete-promise``. ``secret`` (``serve
--require-promise-secret``): an agent completes its own promises freely; another
agent's promise needs that promise's secret (``agent-host:promises/secrets@0.2.0``
``complete-with-secret``)."""


class PromiseSecrets:
    def __init__(self, data_dir: Path, completion_policy: CompletionPolicy = "open") -> None:
        self._path = data_dir / KEY_FILE
        self._key: bytes | None = None
        self.completion_policy: CompletionPolicy = completion_policy

    def _load(self) -> bytes:
        if self._key is None:
            try:
                self._key = self._path.read_bytes()
            except FileNotFoundError:
                key = _random.token_bytes(32)
                # O_EXCL: two processes racing to create it agree on the first one written.
                try:
                    fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    self._key = self._path.read_bytes()
                else:
                    with os.fdopen(fd, "wb") as out:
                        out.write(key)
                    self._key = key
        return self._key

    def secret(self, promise: PromiseId) -> str:
        digest = hmac.new(self._load(), str(promise).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def hash_of(self, promise: PromiseId) -> str:
        return hash_secret(self.secret(promise))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(given: str, stored_hash: str | None) -> bool:
    return stored_hash is not None and hmac.compare_digest(hash_secret(given), stored_hash)
