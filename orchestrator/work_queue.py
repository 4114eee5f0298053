"""Ready workflow steps as messages on a JetStream work-queue stream, with a dead-letter stream.

JetStream gives at-least-once delivery: a worker that crashes or hangs past `ack_wait` has its
step redelivered to another worker. Handlers therefore must be idempotent per `StepTask.key`.
The server never drops a message that ran out of deliveries (it only emits an advisory), so
the consumer is allowed one extra delivery that does no work and only moves the step to the
dead-letter stream, where `dead_letters()` makes it visible.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig

from mediamesh.errors import StorageUnavailable
from mediamesh.logs import get_logger
from mediamesh.telemetry import attached, extract, inject
from orchestrator.run_store import (
    ensure_stream,
    nats_unavailable_as_storage_error,
    validate_run_id,
)

log = get_logger()

STEPS_STREAM = "MEDIAMESH_STEPS"
STEPS_PREFIX = "mediamesh.steps"
DEAD_STREAM = "MEDIAMESH_DEAD"
DEAD_PREFIX = "mediamesh.dead"
DUPLICATE_WINDOW_S = 120.0
ERROR_HEADER = "Mediamesh-Error"
DELIVERIES_HEADER = "Mediamesh-Deliveries"
MAX_HEADER_CHARS = 2000


@dataclass(frozen=True)
class StepTask:
    """One attempt of one item of one step of one run: the unit a worker executes."""

    run_id: str
    step_id: str
    item: int
    attempt: int
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_run_id(self.run_id)  # it becomes a subject token

    @property
    def key(self) -> str:
        """The idempotency key: the server de-duplicates enqueues of the same key."""
        return f"{self.run_id}/{self.step_id}/{self.item}/{self.attempt}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, data: str | bytes) -> StepTask:
        raw = json.loads(data)
        return cls(run_id=raw["run_id"], step_id=raw["step_id"], item=int(raw["item"]),
                   attempt=int(raw["attempt"]), payload=dict(raw.get("payload") or {}))


@dataclass(frozen=True)
class Delivery:
    """What a handler may know about the message carrying its task."""

    num_delivered: int
    stream_seq: int
    _msg: Msg = field(repr=False, compare=False)

    async def in_progress(self) -> None:
        """Reset the ack_wait timer: call it periodically from steps that run long."""
        await self._msg.in_progress()


Handler = Callable[[StepTask, Delivery], Awaitable[None]]


def _header_value(text: str) -> str:
    """NATS header values are single lines; keep the error readable but bounded."""
    flat = " | ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat[:MAX_HEADER_CHARS] or "(no message)"


class WorkQueue:
    """Enqueue step tasks, run pull workers with retries and back-off, keep dead letters."""

    def __init__(self, js: JetStreamContext, stream: str = STEPS_STREAM,
                 subject_prefix: str = STEPS_PREFIX, dead_stream: str = DEAD_STREAM,
                 dead_prefix: str = DEAD_PREFIX, durable: str = "workers",
                 ack_wait_s: float = 30.0, max_deliver: int = 5, *,
                 backoff_base_s: float = 0.5, backoff_cap_s: float = 10.0) -> None:
        if max_deliver < 1:
            raise ValueError(f"max_deliver must be >= 1, got {max_deliver}")
        self.js = js
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.dead_stream = dead_stream
        self.dead_prefix = dead_prefix
        self.durable = durable
        self.ack_wait_s = ack_wait_s
        self.max_deliver = max_deliver
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s

    async def ensure(self) -> None:
        """Create the steps and dead-letter streams and (create or update) the consumer."""
        async with nats_unavailable_as_storage_error("creating the work queue", self.stream):
            await ensure_stream(self.js, StreamConfig(
                name=self.stream, subjects=[f"{self.subject_prefix}.>"],
                retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
                description="mediamesh ready workflow steps (one message per attempt)"))
            await ensure_stream(self.js, StreamConfig(
                name=self.dead_stream, subjects=[f"{self.dead_prefix}.>"],
                retention=RetentionPolicy.LIMITS, storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_S,
                description="mediamesh workflow steps that ran out of deliveries"))
            await self.js.add_consumer(self.stream, ConsumerConfig(
                durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self.ack_wait_s, filter_subject=f"{self.subject_prefix}.>",
                # +1: the extra delivery only dead-letters (see the module docstring).
                max_deliver=self.max_deliver + 1))

    async def enqueue(self, task: StepTask, *, redrive: str = "") -> bool:
        """Publish a ready step; False when the same `task.key` was enqueued within 120 s.

        `redrive` (e.g. a timestamp) lets a reconciler re-send a task whose first message was
        lost: a new de-duplication id; the run's claim still stops a second execution.
        """
        msg_id = f"{task.key}#{redrive}" if redrive else task.key
        # W3C trace context of whatever made the step ready: its worker continues that trace
        headers = inject({"Nats-Msg-Id": msg_id})
        async with nats_unavailable_as_storage_error("enqueueing a step", task.key):
            ack = await self.js.publish(
                f"{self.subject_prefix}.{task.run_id}", task.to_json().encode(),
                stream=self.stream, headers=dict(headers))
        return not ack.duplicate

    def backoff_s(self, num_delivered: int) -> float:
        """Delay before the next attempt after the `num_delivered`-th one failed."""
        return float(min(self.backoff_cap_s, self.backoff_base_s * 2 ** (num_delivered - 1)))

    async def depth(self) -> tuple[int, int]:
        """(steps waiting for a worker, steps delivered and not yet acknowledged)."""
        async with nats_unavailable_as_storage_error("reading the work queue", self.stream):
            info = await self.js.consumer_info(self.stream, self.durable)
        return int(info.num_pending or 0), int(info.num_ack_pending or 0)

    async def run_worker(self, handle: Handler, *, stop: asyncio.Event, batch: int = 1,
                         fetch_timeout_s: float = 1.0) -> None:
        """Pull and handle steps until `stop` is set; a batch is handled concurrently.

        Success acks, an exception naks with exponential back-off, and the last failure (or a
        step nobody acknowledged in time) goes to the dead-letter stream. Cancelling the task
        leaves in-flight steps unacknowledged, so they are redelivered after ack_wait.
        """
        async with nats_unavailable_as_storage_error("subscribing a worker", self.stream):
            try:  # a pull on a missing consumer would just time out forever, so check first
                await self.js.consumer_info(self.stream, self.durable)
            except nats.js.errors.NotFoundError as exc:
                raise StorageUnavailable(
                    f"work queue consumer {self.durable!r} on stream {self.stream!r} does not "
                    "exist; call WorkQueue.ensure() (the orchestrator does at start-up)",
                    resource=self.stream) from exc
            psub = await self.js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        try:
            while not stop.is_set():
                try:
                    msgs = await psub.fetch(batch=batch, timeout=fetch_timeout_s)
                except nats.errors.TimeoutError:
                    continue
                except nats.errors.ConnectionClosedError as exc:
                    raise StorageUnavailable(f"the NATS connection of a {self.stream} worker was "
                                             "closed; restart the worker",
                                             resource=self.stream) from exc
                except nats.errors.Error as exc:  # e.g. a reconnect in progress: try again
                    log.warning("work_queue.fetch_failed", stream=self.stream, error=str(exc))
                    await asyncio.sleep(0.5)
                    continue
                await asyncio.gather(*(self._process_logged(msg, handle) for msg in msgs))
        finally:
            try:
                await psub.unsubscribe()
            except nats.errors.Error:
                pass  # the connection is gone; the server forgets the pull request anyway

    async def _process_logged(self, msg: Msg, handle: Handler) -> None:
        """A NATS hiccup on one message must not stop the worker: it will be redelivered."""
        try:
            await self._process(msg, handle)
        except (StorageUnavailable, nats.errors.Error) as exc:
            log.warning("work_queue.settle_failed", stream=self.stream, error=str(exc))

    async def _process(self, msg: Msg, handle: Handler) -> None:
        meta = msg.metadata
        delivered, seq = meta.num_delivered, meta.sequence.stream
        try:
            task = StepTask.from_json(msg.data)
        except (ValueError, TypeError, KeyError) as exc:
            await self._bury(msg, None, f"undecodable step task: {exc}", delivered)
            return
        if delivered > self.max_deliver:
            await self._bury(msg, task, f"not acknowledged after {self.max_deliver} deliveries: "
                             f"a worker crashed or the step outlived ack_wait={self.ack_wait_s}s "
                             "without calling in_progress()", delivered)
            return
        try:
            with attached(extract(msg.headers or {})):
                await handle(task, Delivery(num_delivered=delivered, stream_seq=seq, _msg=msg))
        except Exception as exc:  # noqa: BLE001 - any handler failure is a failed attempt
            error = f"{type(exc).__name__}: {exc}"
            if delivered >= self.max_deliver:
                await self._bury(msg, task, error, delivered)
            else:
                delay = self.backoff_s(delivered)
                log.warning("work_queue.step_failed", key=task.key, delivery=delivered,
                            retry_in_s=delay, error=error)
                await msg.nak(delay=delay)
            return
        try:
            # fire-and-forget ack: a lost ack only redelivers, and the run's claim makes
            # redelivery harmless; waiting for it would cost a round trip per step
            await msg.ack()
        except nats.errors.Error as exc:
            # The step will be redelivered; its handler must be idempotent on task.key.
            log.warning("work_queue.ack_failed", key=task.key, error=str(exc))

    async def _bury(self, msg: Msg, task: StepTask | None, error: str, delivered: int) -> None:
        """Copy the step to the dead-letter stream, then stop its redelivery."""
        seq = msg.metadata.sequence.stream
        run_token = task.run_id if task else "_undecodable"
        headers = {"Nats-Msg-Id": f"dead:{task.key if task else seq}",
                   ERROR_HEADER: _header_value(error), DELIVERIES_HEADER: str(delivered)}
        async with nats_unavailable_as_storage_error("dead-lettering a step", self.dead_stream):
            await self.js.publish(f"{self.dead_prefix}.{run_token}", msg.data or b"",
                                  stream=self.dead_stream, headers=headers)
        await msg.term()
        log.error("work_queue.dead_lettered", key=task.key if task else None, stream_seq=seq,
                  deliveries=delivered, error=error)

    async def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest `limit` dead letters, oldest first: task, error and delivery count."""
        letters: list[dict[str, Any]] = []
        async with nats_unavailable_as_storage_error("reading dead letters", self.dead_stream):
            state = (await self.js.stream_info(self.dead_stream)).state
            seq = max(state.first_seq, state.last_seq - limit + 1)
            while len(letters) < limit and state.messages and seq <= state.last_seq:
                try:
                    raw = await self.js.get_msg(self.dead_stream, seq=seq, next=True,
                                                subject=f"{self.dead_prefix}.>")
                except nats.js.errors.NotFoundError:
                    break
                letters.append(_dead_letter(raw.data or b"", raw.headers or {}, raw.seq))
                seq = (raw.seq or seq) + 1
        return letters


def _dead_letter(data: bytes, headers: dict[str, str], seq: int | None) -> dict[str, Any]:
    try:
        task: dict[str, Any] | None = json.loads(data)
    except ValueError:
        task = None
    letter: dict[str, Any] = {"task": task, "error": headers.get(ERROR_HEADER, ""),
                              "deliveries": int(headers.get(DELIVERIES_HEADER, "0")),
                              "dead_seq": seq}
    if task is None:
        letter["raw"] = data.decode(errors="replace")
    return letter
