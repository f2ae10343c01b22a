"""ReplyCopies: each answer comes due once per delay, that long after it was sent."""

from dtd_ik.ros.replies import ReplyCopies


def test_each_answer_is_due_once_per_delay():
    copies = ReplyCopies([0.3, 0.05])
    copies.sent("a", 1, now=10.0)
    copies.sent("b", 2, now=10.02)
    assert copies.waiting() == 4
    assert copies.due(10.049) == []
    assert copies.due(10.05) == [("a", 1)]
    assert copies.due(10.06) == []
    assert copies.due(10.3) == [("b", 2), ("a", 1)]
    assert copies.due(11.0) == [("b", 2)]
    assert copies.due(12.0) == [] and copies.waiting() == 0 and copies.copies_sent == 4


def test_at_most_the_copies_asked_for_earliest_delay_first():
    copies = ReplyCopies([0.05, 0.3])
    for i in range(3):
        copies.sent(f"r{i}", i, now=10.0)
    assert copies.due(11.0, most=4) == [("r0", 0), ("r1", 1), ("r2", 2), ("r0", 0)]
    assert copies.due(11.0) == [("r1", 1), ("r2", 2)] and copies.waiting() == 0


def test_no_copies_without_delays():
    copies = ReplyCopies([])
    copies.sent("a", 1, now=10.0)
    assert copies.waiting() == 0 and copies.due(100.0) == [] and copies.copies_sent == 0
    assert ReplyCopies([0.0, -1.0]).delays == ()
