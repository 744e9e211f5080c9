"""Where the files shipped beside the package live: schemas, hooks, rigs.

In a source checkout (and an editable install) they are the top-level folders of the
repository; a wheel carries copies under ``gastown/_data/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # gastown/, above this wing


def data_dir(kind: str) -> Path:
    """The folder of shipped ``kind`` files (``schemas``, ``hooks`` or ``rigs``)."""
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"gastown's {kind}/ folder is missing from this installation")
