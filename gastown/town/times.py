"""Timestamps as beads writes them: RFC 3339 in UTC, and seconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(epoch: float) -> str:
    """``epoch`` as ``2026-11-23T06:35:00.123Z`` (milliseconds, UTC)."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch(text: str) -> float:
    """Seconds since the epoch for an RFC 3339 timestamp; raises ValueError if malformed."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.timestamp()


def is_timestamp(text: object) -> bool:
    """Whether ``text`` is an RFC 3339 timestamp with a time zone."""
    if not isinstance(text, str):
        return False
    try:
        epoch(text)
    except ValueError:
        return False
    return True


def since(text: str, now: float) -> float:
    """The moment ``text`` names: an age (``7d``, ``12h``, ``30m``, ``45s``) before ``now``,
    or a date / RFC 3339 time (UTC when no zone is given). ValueError otherwise."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return now - float(text[:-1]) * units[text[-1]]
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def duration(seconds: float) -> str:
    """A short human duration: ``42s``, ``3m05s``, ``2h10m``, ``-12s`` when past."""
    sign = "-" if seconds < 0 else ""
    left = int(abs(seconds))
    if left < 60:
        return f"{sign}{left}s"
    if left < 3600:
        return f"{sign}{left // 60}m{left % 60:02d}s"
    return f"{sign}{left // 3600}h{left % 3600 // 60:02d}m"
