"""Run events on a JetStream stream: the durable, replayable history behind WatchRun.

Each event's per-run `sequence` is assigned by the engine from the run state, so order is
explicit and a retried publish of the same event is de-duplicated by the server.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, RetentionPolicy, StorageType, StreamConfig

from mediamesh.telemetry import inject
from orchestrator.run_store import ensure_stream, nats_unavailable_as_storage_error, validate_run_id

EVENTS_STREAM = "MEDIAMESH_EVENTS"
EVENTS_PREFIX = "mediamesh.run"
DUPLICATE_WINDOW_S = 120.0


class EventType(StrEnum):
    SUBMITTED = "submitted"
    STEP_STARTED = "step.started"
    STEP_PROGRESS = "step.progress"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_EVENTS = frozenset({EventType.SUCCEEDED, EventType.FAILED, EventType.CANCELLED})


def is_terminal(event: dict[str, Any]) -> bool:
    """True for the last event a run ever gets; the default end of `follow`."""
    return event.get("type") in TERMINAL_EVENTS


def _decode(msg: Msg) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(msg.data)
    return event


class EventLog:
    """Publish run events and read them back per run, as history or as a live feed."""

    def __init__(self, js: JetStreamContext, stream: str = EVENTS_STREAM,
                 prefix: str = EVENTS_PREFIX) -> None:
        self.js = js
        self.stream = stream
        self.prefix = prefix

    async def ensure(self) -> None:
        async with nats_unavailable_as_storage_error("creating the event stream", self.stream):
            await ensure_stream(self.js, StreamConfig(
                name=self.stream, subjects=[f"{self.prefix}.>"],
                retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S, description="mediamesh workflow run events"))

    async def publish(self, run_id: str, type: EventType | str, data: dict[str, Any], *,
                      sequence: int, headers: dict[str, str] | None = None) -> bool:
        """Append one event; False when this (run_id, sequence) was already published."""
        validate_run_id(run_id)
        kind = EventType(type)  # ValueError names the bad type
        if sequence < 0:
            raise ValueError(f"event sequence must be >= 0, got {sequence}")
        body = {"run_id": run_id, "type": str(kind), "sequence": sequence,
                "time": datetime.now(UTC).isoformat(), "data": data}
        all_headers = dict(inject({}))  # W3C traceparent of the current span, if any
        all_headers.update(headers or {})
        all_headers["Nats-Msg-Id"] = f"{run_id}:{sequence}"
        async with nats_unavailable_as_storage_error("publishing a run event", run_id):
            ack = await self.js.publish(f"{self.prefix}.{run_id}.{kind}",
                                        json.dumps(body, separators=(",", ":")).encode(),
                                        stream=self.stream, headers=all_headers)
        return not ack.duplicate

    async def subscribe(self, run_id: str, from_start: bool) -> Any:
        """A gap-free ordered subscription to a run's events (close it with `close`)."""
        return await self._subscribe(run_id, from_start)

    async def next_event(self, sub: Any, run_id: str, timeout_s: float) -> dict[str, Any] | None:
        """The next event of a subscription, or None after `timeout_s` of silence."""
        msg = await self._next_or_none(sub, run_id, timeout_s)
        return None if msg is None else _decode(msg)

    async def close(self, sub: Any) -> None:
        await self._close(sub)

    async def _subscribe(self, run_id: str, from_start: bool) -> Any:
        validate_run_id(run_id)
        async with nats_unavailable_as_storage_error("reading run events", run_id):
            return await self.js.subscribe(
                f"{self.prefix}.{run_id}.>", stream=self.stream, ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL if from_start else DeliverPolicy.NEW)

    @staticmethod
    async def _close(sub: Any) -> None:
        try:
            await sub.unsubscribe()
        except nats.errors.Error:
            pass  # connection gone: the ephemeral consumer expires on its own

    @staticmethod
    async def _next_or_none(sub: Any, run_id: str, timeout_s: float) -> Msg | None:
        """The next event message, or None after `timeout_s` of silence."""
        async with nats_unavailable_as_storage_error("following a run", run_id):
            try:
                msg: Msg = await sub.next_msg(timeout=timeout_s)
            except nats.errors.TimeoutError:
                return None
        return msg

    async def history(self, run_id: str, *, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """Every event of a run so far, in stream order ([] for an unknown run)."""
        sub = await self._subscribe(run_id, from_start=True)
        events: list[dict[str, Any]] = []
        try:
            async with nats_unavailable_as_storage_error("reading run history", run_id):
                info = await sub.consumer_info()
                if info.num_pending == 0 and not (info.delivered and info.delivered.consumer_seq):
                    return events
                while True:
                    msg = await sub.next_msg(timeout=timeout_s)
                    events.append(_decode(msg))
                    if msg.metadata.num_pending == 0:
                        return events
        finally:
            await self._close(sub)

    async def follow(self, run_id: str, *, from_start: bool = True,
                     stop_when: Callable[[dict[str, Any]], bool] = is_terminal,
                     idle_timeout_s: float = 30.0) -> AsyncIterator[dict[str, Any]]:
        """Past events (if `from_start`) then live ones, from one gap-free subscription.

        Ends after the event for which `stop_when` is true, or when nothing arrives for
        `idle_timeout_s`, so a watcher of a stuck or unknown run never hangs.
        """
        sub = await self._subscribe(run_id, from_start)
        try:
            while True:
                msg = await self._next_or_none(sub, run_id, idle_timeout_s)
                if msg is None:
                    return
                event = _decode(msg)
                yield event
                if stop_when(event):
                    return
        finally:
            await self._close(sub)
