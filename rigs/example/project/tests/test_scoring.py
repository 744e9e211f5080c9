from beatscore.scoring import grade, points


def test_grades_by_window():
    assert grade(0) == "perfect"
    assert grade(-30) == "perfect"
    assert grade(50) == "great"
    assert grade(-110) == "good"
    assert grade(121) == "miss"


def test_points():
    assert [points(g) for g in ("perfect", "great", "good", "miss")] == [300, 200, 100, 0]
