"""When the liveness prober kills a part: only after enough unanswered checks in a row,
never during its start-up grace, and the count starts over after an answer."""
from __future__ import annotations

from mediamesh.mesh.liveness import LivenessPolicy, LivenessTracker

POLICY = LivenessPolicy(every_s=1, timeout_s=1, failures=3, grace_s=10)


def test_three_silent_checks_in_a_row_kill() -> None:
    tracker = LivenessTracker(POLICY)
    assert [tracker.observe("vision", False, 60) for _ in range(3)] == [False, False, True]
    # killed: a part that stays silent is counted from zero again (it is restarting)
    assert tracker.observe("vision", False, 60) is False


def test_an_answer_starts_the_count_over() -> None:
    tracker = LivenessTracker(POLICY)
    answers = [False, False, True, False, False, True]
    assert not any(tracker.observe("audio", a, 60) for a in answers)


def test_no_kill_during_the_start_up_grace() -> None:
    tracker = LivenessTracker(POLICY)
    assert not any(tracker.observe("text", False, uptime) for uptime in (1, 3, 5, 7, 9))
    assert [tracker.observe("text", False, 11 + i) for i in range(3)] == [False, False, True]


def test_parts_are_counted_apart() -> None:
    tracker = LivenessTracker(POLICY)
    for _ in range(2):
        tracker.observe("audio", False, 60)
        tracker.observe("vision", True, 60)
    assert tracker.observe("vision", False, 60) is False
    assert tracker.observe("audio", False, 60) is True
