"""The errors gastown raises, and the exit codes the CLI turns them into.

::

    GastownError                    exit 1: something failed; the message says what
    ├── UsageError                  exit 2: the user asked for something malformed
    │   ├── InvalidBead             a bead fails its schema or the protocol's rules
    │   └── ConfigError             town.toml (or a rig file) is wrong; names the key
    ├── NotFound                    exit 5: no such town, bead, rig or ref
    ├── NothingReady                exit 3: no ready bead for this role (not a failure)
    ├── Refused                     exit 4: the queue said no (stale generation, not the
    │   │                                   owner, illegal transition, rejected push)
    │   └── Conflict                a compare-and-swap lost too many times in a row
    ├── GitFailed                   exit 1: a git command or object write failed
    │   └── StorageError            the disk refused a write: full, read-only, not ours
    │                               (``storage_error``)
    └── Unavailable                 exit 6: a model endpoint or the remote is unreachable

Every class carries an exit code and a one-line ``hint`` (what to do next); the CLI
prints ``gt: <message>`` and ``hint: <hint>`` and never a traceback for these.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import re

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOTHING_READY = 3
EXIT_REFUSED = 4
EXIT_NOT_FOUND = 5
EXIT_UNAVAILABLE = 6
EXIT_INTERRUPTED = 130

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_ERROR: "an operation failed (git, I/O); the message says which",
    EXIT_USAGE: "bad input: invalid bead, config or arguments; nothing was changed",
    EXIT_NOTHING_READY: "nothing is ready for this role (gt claim)",
    EXIT_REFUSED: "the queue refused: stale generation, not the owner, illegal transition",
    EXIT_NOT_FOUND: "no such town, bead, rig or ref",
    EXIT_UNAVAILABLE: "a model endpoint or the remote could not be reached",
    EXIT_INTERRUPTED: "stopped by a signal (a watcher's second, which releases the claim; gt eval's first)",
}


class GastownError(Exception):
    """Root of every error gastown raises on purpose."""

    exit_code = EXIT_ERROR
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint

    def __str__(self) -> str:
        return self.message

    def line(self) -> str:
        """The message and what to do, in one line (for a log, where no ``hint:`` line follows)."""
        return f"{self.message}; {self.hint}" if self.hint else self.message


class UsageError(GastownError):
    """The user asked for something malformed; nothing was changed."""

    exit_code = EXIT_USAGE


class InvalidBead(UsageError):
    """A bead fails its schema or the protocol's rules; ``problems`` lists each one."""

    default_hint = "fix the fields named above and try again; `gt validate` checks a whole ref"

    def __init__(self, problems: list[str], hint: str | None = None) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems) if self.problems else "invalid bead", hint)


class ConfigError(UsageError):
    """The town or rig configuration is wrong; the message names the key."""

    default_hint = (
        "fix the key in the file named above (town.toml lives on the tasks branch: "
        "`git show tasks:town.toml` shows it; edit it in a clone and push)"
    )


class NotFound(GastownError):
    """No such town, bead, rig or ref."""

    exit_code = EXIT_NOT_FOUND


class NothingReady(GastownError):
    """No ready bead for the role asked; a normal outcome, not a failure."""

    exit_code = EXIT_NOTHING_READY


class Refused(GastownError):
    """The queue refused the change (stale generation, wrong owner, illegal transition)."""

    exit_code = EXIT_REFUSED


class Conflict(Refused):
    """A compare-and-swap on the tasks branch lost too many times in a row."""

    default_hint = "the tasks branch is very busy; try again"


class GitFailed(GastownError):
    """A git command or an object write failed."""

    exit_code = EXIT_ERROR


class StorageError(GitFailed):
    """The disk under the town refused a write: full, read-only, not ours. The machine's
    trouble, not the work's: what waits on it can be done once it is fixed."""


class Unavailable(GastownError):
    """A model endpoint or the remote could not be reached."""

    exit_code = EXIT_UNAVAILABLE


STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def storage_error(error: OSError, path: str | os.PathLike[str] | None = None) -> GastownError:
    """A file-system failure as one line a person can act on: what happened, where, what to
    do. ``path`` names the place when the error itself does not (libgit2 names none)."""
    where = error.filename if error.filename is not None else path
    place = f" ({where})" if where is not None else ""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        full = "the disk quota is used up" if error.errno == errno.EDQUOT else "no space left on the disk"
        return StorageError(
            f"{full}{place}",
            f"free some space{f' (`df -h {where}` shows it)' if where else ''}, then try again",
        )
    if error.errno == errno.EROFS:
        return StorageError(
            f"the file system is read-only{place}",
            "remount it read-write, or work from a writable clone of the town",
        )
    if error.errno in (errno.EACCES, errno.EPERM):
        return StorageError(
            f"permission denied{place}",
            f"check who owns it and its mode{f' (`ls -ld {where}`)' if where else ''}; run gastown as that user",
        )
    reason = error.strerror or str(error)
    return GitFailed(f"{reason}{place}")


def as_written(value: object) -> str:
    """A configuration value spelled as TOML writes it, for an error that quotes it back:
    ``true``, not Python's ``True``; ``"x"``, not ``'x'``; a date in ISO form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(as_written(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = (k if _BARE_KEY.fullmatch(str(k)) else as_written(str(k)) for k in value)
        pairs = (f"{k} = {as_written(v)}" for k, v in zip(keys, value.values(), strict=True))
        return "{ " + ", ".join(pairs) + " }" if value else "{}"
    return repr(value)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
