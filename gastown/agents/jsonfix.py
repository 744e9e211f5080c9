"""JSON as small models write it, repaired: only what is plainly meant is kept.

The damage seen in replies: a value written as a Python triple-quoted string, docstring
quotes left unescaped inside a string, raw newlines and tabs inside strings, trailing
commas, single quotes, unquoted keys, a missing closing brace. ``fix_strings`` fixes the
first four exactly (so the end of the value is known); the json-repair library does the
rest. A repair is refused when the text was cut off (it would keep half a file) or when
the result does not look like what was written (keys that are not names).
"""

from __future__ import annotations

import json
import re
from typing import Any

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TRAILING_COMMA_RE = re.compile(r"\s*[}\]]")
_KEY_RE = re.compile(r"[A-Za-z_$][\w$.:-]*")


def repair(text: str) -> Any:
    """``text`` read as JSON after repairing what small models break; None when it cannot be."""
    fixed, _, cut_off = fix_strings(text)
    if cut_off:
        return None  # the reply was cut short: a repair would keep half a file, or an empty one
    try:
        return json.loads(fixed, strict=False)
    except (ValueError, RecursionError):
        pass
    import json_repair  # only a damaged reply pays for it

    for variant in dict.fromkeys((fixed, text)):
        try:
            value = json_repair.loads(variant, stream_stable=True)  # stable: keeps a string's last newline
        except (ValueError, RecursionError):
            continue
        if isinstance(value, (dict, list)) and value and _plausible(value, variant):
            return value
    return None


def fix_strings(text: str) -> tuple[str, list[int], bool]:
    """Python-isms made JSON: triple-quoted strings, raw newlines inside strings, trailing commas.

    Also returns, for each character of the result, where in ``text`` it came from (so a
    call read from the result can say where it ends in the reply), and whether ``text`` was
    cut off: it ends inside a string or before a value.
    """
    out: list[str] = []
    origin: list[int] = []

    def emit(piece: str, at: int) -> None:
        out.append(piece)
        origin.extend([at] * len(piece))

    in_string = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_string:
            if c == "\\" and i + 1 < len(text):
                emit(text[i : i + 2], i)
                i += 2
                continue
            if text.startswith('"""', i):  # a docstring inside a JSON string: content
                emit('\\"\\"\\"', i)
                i += 3
                continue
            in_string = c != '"'
            emit(_ESCAPES.get(c, c), i)
            i += 1
            continue
        if text.startswith(('"""', "'''"), i):  # a value written as a Python triple-quoted string
            close = re.compile(re.escape(text[i : i + 3]) + r"(?=\s*[,}\]])").search(text, i + 3)
            if close:
                emit(json.dumps(text[i + 3 : close.start()]), i)
                i = close.end()
                continue
        if c == "," and _TRAILING_COMMA_RE.match(text, i + 1):
            i += 1
            continue
        in_string = c == '"'
        emit(c, i)
        i += 1
    return "".join(out), origin, in_string or text.rstrip().endswith(":")


def _plausible(value: Any, source: str) -> bool:
    """A repair that kept the text's shape: keys that are names, most of the text kept.

    json-repair always returns something; Python code inside a string it could not close
    comes back as keys like ``"def f():\\n    "``, which nobody writes as a key.
    """
    return _keys_are_names(value, 2) and len(json.dumps(value, ensure_ascii=False)) * 2 >= len(source.strip())


def _keys_are_names(value: Any, depth: int) -> bool:
    if isinstance(value, list):
        return all(_keys_are_names(v, depth) for v in value)
    if not isinstance(value, dict) or depth == 0:
        return True
    return all(_KEY_RE.fullmatch(k) and _keys_are_names(v, depth - 1) for k, v in value.items())
