"""The secrets a process holds, known by value: what is redacted and what children never get.

A key is known two ways: the roster names the variable that holds it (``api_key_env``,
whatever it is called), and variables named like keys (``..._API_KEY``, ``..._TOKEN``,
``..._SECRET``, ``..._PASSWORD``). Redaction replaces the *values* wherever they appear, so
a key copied into another variable, a file or a test's output is caught too; names that
merely contain such a word (``GIT_AUTHOR_NAME``, ``SSH_AUTH_SOCK``) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A name part (between underscores) that says "this holds a secret", or a name ending in one.
_SECRET_PART = re.compile(
    r"(?:^|_)(?:API_?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(?:_|$)"
    r"|(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD)$|_(?:PWD|AUTH)$",
    re.IGNORECASE,
)
MIN_SECRET = 6  # shorter values ("1", "true") would redact ordinary text
REDACTED = "[redacted]"


def looks_secret(name: str) -> bool:
    """Whether an environment variable's name says it holds a secret."""
    return bool(_SECRET_PART.search(name))


@dataclass(frozen=True)
class Secrets:
    """Secret variable names and their values, longest value first."""

    names: frozenset[str] = frozenset()
    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, env: Mapping[str, str], key_vars: Iterable[str] = ()) -> Secrets:
        """The secrets in ``env``: the variables ``key_vars`` names and those named like keys."""
        names = {name for name in env if looks_secret(name)} | {v for v in key_vars if v}
        values = {env[name] for name in names if len(env.get(name, "")) >= MIN_SECRET}
        return cls(frozenset(names), tuple(sorted(values, key=len, reverse=True)))

    def redact(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def strip(self, env: Mapping[str, str]) -> dict[str, str]:
        """``env`` without the secret variables, nor any other variable holding a secret's value."""
        values = set(self.values)
        return {k: v for k, v in env.items() if k not in self.names and not looks_secret(k) and v not in values}


NONE = Secrets()
