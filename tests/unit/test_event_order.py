"""Watchers get a run's events in sequence order, once each, even when the stream doesn't."""
from __future__ import annotations

from orchestrator.event_order import EventOrder


def ev(sequence: int) -> dict[str, object]:
    return {"sequence": sequence, "type": "step.progress"}


def seqs(events: list[dict[str, object]]) -> list[object]:
    return [e["sequence"] for e in events]


def test_in_order_events_pass_straight_through() -> None:
    order = EventOrder()
    assert [seqs(order.push(ev(i), now=0)) for i in (1, 2, 3)] == [[1], [2], [3]]


def test_early_events_wait_for_the_missing_one() -> None:
    order = EventOrder()
    assert order.push(ev(1), now=0) == [ev(1)]
    assert order.push(ev(3), now=0) == [] and order.waiting
    assert seqs(order.push(ev(2), now=0.5)) == [2, 3]
    assert not order.waiting


def test_repeats_and_events_before_the_start_are_dropped() -> None:
    order = EventOrder(first=5)
    assert order.push(ev(4), now=0) == []
    assert seqs(order.push(ev(5), now=0)) == [5]
    assert order.push(ev(5), now=0) == []  # re-published after the de-duplication window


def test_a_gap_that_outlives_its_timeout_is_skipped() -> None:
    order = EventOrder(gap_timeout_s=2.0)
    order.push(ev(1), now=0)
    assert order.push(ev(3), now=10.0) == []
    assert order.release(now=11.0) == []  # gap seen at t=10, not yet 2 s old
    assert seqs(order.release(now=12.5)) == [3]
    assert seqs(order.push(ev(4), now=12.6)) == [4]
