"""Grades and points for a single hit."""

WINDOWS = (("perfect", 30), ("great", 70), ("good", 120))
POINTS = {"perfect": 300, "great": 200, "good": 100, "miss": 0}


def grade(offset_ms: float) -> str:
    """The grade of a hit ``offset_ms`` away from the beat."""
    for name, window in WINDOWS:
        if abs(offset_ms) <= window:
            return name
    return "miss"


def points(grade_name: str) -> int:
    """Points for a grade."""
    return POINTS[grade_name]
