"""Runner secrets: values the registry names, found only at the runner.

Looked up in the runner's secrets file first (JSON object of NAME -> value; it must be readable
by the runner's user alone, mode 0600 or stricter), then in the runner's environment. Values
are handed only to the upstream connection they belong to; nothing here is logged.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from roundtable.errors import InvalidInput


class MissingSecret(LookupError):
    """A registry entry names a secret this runner does not have (the message names it)."""


class RunnerSecrets:
    def __init__(self, env: Mapping[str, str] | None = None, file: Path | None = None) -> None:
        self._env = dict(os.environ if env is None else env)
        self._file: dict[str, str] = {}
        if file is not None:
            self._file = _read(file)

    def get(self, name: str) -> str:
        value = self._file.get(name, self._env.get(name))
        if not value:
            raise MissingSecret(f"runner secret {name!r} is not set (secrets file or env var)")
        return value


def _read(path: Path) -> dict[str, str]:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read secrets file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(f"secrets file {path} must be readable by its owner only (chmod 600)")
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInput(f"secrets file {path} is not a JSON object") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise InvalidInput(f"secrets file {path} must map names to string values")
    return data
