"""Bead ids: short, human-typable, collision-resistant, and where a bead's file lives.

An id is ``<prefix>-<suffix>`` where the suffix is Crockford-style base32 (no i, l, o, u)
taken from a hash of the title, the time and a random nonce. It starts at five
characters (33 million values) and grows one character whenever the short form is
already taken, the way beads grows its ids with the size of the database. Child ids
(``gt-3k9x2.1``) are accepted from people and from beads imports.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
MIN_LENGTH = 5
MAX_LENGTH = 12

ID_PATTERN = r"^[a-z][a-z0-9-]{0,30}-[0-9a-z]{3,16}(\.[0-9]{1,4}){0,3}$"
_ID_RE = re.compile(ID_PATTERN)
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")

BEADS_DIR = "beads"


def is_valid_id(value: object) -> bool:
    """Whether ``value`` is a well-formed bead id."""
    return isinstance(value, str) and _ID_RE.match(value) is not None


def is_valid_prefix(value: str) -> bool:
    """Whether ``value`` may prefix the town's bead ids."""
    return _PREFIX_RE.match(value) is not None and not value.endswith("-")


def _base32(digest: bytes, length: int) -> str:
    number = int.from_bytes(digest, "big")
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 32)
        chars.append(ALPHABET[rest])
    return "".join(chars)


def new_id(prefix: str, seed: str, taken: Callable[[str], bool]) -> str:
    """A fresh id for a bead described by ``seed``, longer only when shorter ones are taken."""
    import hashlib  # here, not at the top: the server's hook reads ids and never makes one

    for _ in range(16):
        digest = hashlib.sha256(seed.encode() + os.urandom(8)).digest()
        for length in range(MIN_LENGTH, MAX_LENGTH + 1):
            candidate = f"{prefix}-{_base32(digest, length)}"
            if not taken(candidate):
                return candidate
    raise RuntimeError("could not find a free bead id")  # 16 full-length collisions: a bug


def suffix(bead_id: str) -> str:
    """The hashed part of an id: after the last ``-``, before any ``.child`` number."""
    return bead_id.rsplit("-", 1)[-1].split(".", 1)[0]


def shard_path(bead_id: str) -> str:
    """Where the tool writes a new bead: two shard levels keep every tree small."""
    tail = suffix(bead_id)
    return f"{BEADS_DIR}/{tail[0]}/{tail[1]}/{bead_id}.json"


def id_from_path(path: str) -> str | None:
    """The bead id a ``beads/**/<id>.json`` path names, or None for any other path."""
    if not path.startswith(BEADS_DIR + "/") or not path.endswith(".json"):
        return None
    return path.rsplit("/", 1)[-1][: -len(".json")]
