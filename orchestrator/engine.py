"""The workflow engine: runs in NATS KV, steps on a JetStream work queue, events on a stream.

Every change to a run is one compare-and-set on its document through `orchestrator.scheduler`
(pure transitions). Events of a transition get their sequence numbers inside that same
write and sit in the document's outbox until published, so a crash between the write and
the publish loses nothing: the reconciler publishes them again (de-duplicated by id). Items
are claimed with a CAS too, so a redelivered or duplicated task never runs a recorded step
twice. Any number of engines (replicas) share the queue.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message_factory import GetMessageClass
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status
from opentelemetry.trace import StatusCode as SpanStatusCode

from mediamesh.channels import open_part_channel
from mediamesh.config import Settings
from mediamesh.errors import InvalidArgument, MeshError, StatusCode
from mediamesh.grpc_server import RUN_ID_METADATA
from mediamesh.logs import bound_context, get_logger
from mediamesh.nats_client import NatsConnection
from mediamesh.telemetry import current_traceparent, extract, tracer
from orchestrator import arguments, expressions, scheduler
from orchestrator.contracts import RpcInfo
from orchestrator.event_order import EventOrder
from orchestrator.events import TERMINAL_EVENTS, EventLog, is_terminal
from orchestrator.inputs import validate_inputs
from orchestrator.metrics import QUEUE_DEPTH, QUEUE_IN_PROGRESS, RUNS_FINISHED, STEP_SECONDS
from orchestrator.registry import WorkflowRegistry
from orchestrator.run_store import RunExists, RunStore
from orchestrator.work_queue import Delivery, StepTask, WorkQueue
from orchestrator.workflow_spec import Workflow, load_workflow

log = get_logger()

CANCEL_SUBJECT = "mediamesh.control.cancel"
PROGRESS_EVERY_S = 1.0
RECONCILE_EVERY_S = 5.0
REQUEUE_AFTER_S = 15.0
STALE_OUTBOX_S = 10.0  # well inside JetStream's 120 s de-duplication window


@dataclass(frozen=True)
class EngineConfig:
    """Names and timings; tests give each engine set its own names."""

    bucket: str = "mediamesh_runs"
    steps_stream: str = "MEDIAMESH_STEPS"
    steps_prefix: str = "mediamesh.steps"
    dead_stream: str = "MEDIAMESH_DEAD"
    dead_prefix: str = "mediamesh.dead"
    events_stream: str = "MEDIAMESH_EVENTS"
    events_prefix: str = "mediamesh.run"
    durable: str = "workers"
    ack_wait_s: float = 30.0
    max_deliver: int = 5
    workers: int = 8  # concurrent step executions per engine


def run_id_for(idempotency_key: str) -> str:
    """Same key, same run: Submit is idempotent on the client's request id."""
    if not idempotency_key:
        return uuid.uuid4().hex
    return "k" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:31]


class Engine:
    def __init__(self, settings: Settings, nats: NatsConnection, registry: WorkflowRegistry,
                 *, config: EngineConfig | None = None, owner: str | None = None,
                 media_exists: Callable[[str], bool] | None = None) -> None:
        self.settings = settings
        self.nats = nats
        self.registry = registry
        self.config = config or EngineConfig()
        self.owner = owner or uuid.uuid4().hex[:12]
        self.media_exists = media_exists
        self._workflows: dict[str, Workflow] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._inflight: dict[str, set[asyncio.Task[Any]]] = {}
        self._published: dict[str, int] = {}  # last event sequence published, per run
        self._busy = 0  # steps this engine is executing (queue and local)
        self._local: set[asyncio.Task[None]] = set()
        #: claim newly ready steps in the write that readies them (skips a queue trip);
        #: only for an engine that runs workers (a submit-only client engine does not)
        self.local_claims = True
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self.store: RunStore
        self.queue: WorkQueue
        self.events: EventLog

    # Lifecycle ----------------------------------------------------------------------

    async def start(self, *, workers: bool = True) -> None:
        js = await self.nats.jetstream()
        c = self.config
        self.store = RunStore(js, c.bucket)
        self.queue = WorkQueue(js, c.steps_stream, c.steps_prefix, c.dead_stream, c.dead_prefix,
                               c.durable, c.ack_wait_s, c.max_deliver)
        self.events = EventLog(js, c.events_stream, c.events_prefix)
        for part in (self.store, self.queue, self.events):
            await part.ensure()
        client = await self.nats.client()
        await client.subscribe(f"{CANCEL_SUBJECT}.*", cb=self._on_cancel)
        self.local_claims = workers
        if workers:
            self._tasks = [asyncio.create_task(self.queue.run_worker(self._handle,
                                                                      stop=self._stop))
                           for _ in range(c.workers)]
            self._tasks.append(asyncio.create_task(self._reconcile_forever()))
        log.info("engine.started", owner=self.owner, workers=c.workers if workers else 0)

    async def stop(self) -> None:
        self._stop.set()
        for task in [*self._tasks, *self._local]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._local, return_exceptions=True)
        for channel in self._channels.values():
            await channel.close()

    # Runs -----------------------------------------------------------------------------

    def workflow_of(self, doc: dict[str, Any]) -> Workflow:
        """The run's own workflow (kept in the run: later registry changes don't touch it)."""
        source = doc["workflow"]["source"]
        digest = hashlib.sha256(source.encode()).hexdigest()
        if digest not in self._workflows:
            self._workflows[digest] = load_workflow(source)
        return self._workflows[digest]

    async def submit(self, *, name: str = "", yaml_text: str = "", inputs: dict[str, Any],
                     idempotency_key: str = "", labels: dict[str, str] | None = None
                     ) -> dict[str, Any]:
        """Validate and start a run; the same idempotency key returns the same run."""
        if bool(name) == bool(yaml_text):
            raise InvalidArgument("give either workflow_name or workflow_yaml",
                                  field_name="definition")
        if name:
            workflow = self.registry.get(name)
        else:  # the same inline YAML again (a client's fixed workflow): parse it once
            digest = hashlib.sha256(yaml_text.encode()).hexdigest()
            workflow = self._workflows.get(digest) or load_workflow(yaml_text)
        self._workflows[hashlib.sha256(workflow.source.encode()).hexdigest()] = workflow
        values = validate_inputs(workflow, inputs, self.media_exists)
        run_id = run_id_for(idempotency_key)
        doc = scheduler.new_run(run_id, workflow, values, labels or {}, idempotency_key)
        # one trace per run: the SubmitWorkflow span (a child of the caller's span when the
        # caller sent one); every step's span hangs below it, whichever engine runs it
        doc["traceparent"] = current_traceparent() or child_traceparent("")
        doc["trace_id"] = trace_id_of(doc["traceparent"])
        outcome = scheduler.start(doc, workflow)
        local = self._claim_locally(doc, outcome)
        self._stage(doc, outcome)
        try:
            await self.store.create(run_id, doc)
        except RunExists:
            existing, _ = await self.store.get(run_id)
            return existing
        await self._deliver(run_id, outcome, doc)
        self._start_local(run_id, local, doc)
        return doc

    async def get(self, run_id: str) -> dict[str, Any]:
        doc, _ = await self.store.get(run_id)
        return doc

    async def list(self) -> list[dict[str, Any]]:
        return await self.store.list()

    async def cancel(self, run_id: str, reason: str) -> dict[str, Any]:
        doc = await self._transact(run_id, lambda d: scheduler.cancel(d, reason))
        client = await self.nats.client()
        await client.publish(f"{CANCEL_SUBJECT}.{run_id}", reason.encode())
        return doc

    async def watch(self, run_id: str, from_start: bool,
                    idle_timeout_s: float = 15.0) -> AsyncIterator[dict[str, Any]]:
        """The run's events in sequence order, once each, until it ends.

        One subscription from the start of the run's events; `EventOrder` drops what the
        caller did not ask for (before `event_seq` when not `from_start`), repeats, and
        holds early arrivals. A quiet stretch (a long step) is not the end: the run's state
        decides whether to keep following.
        """
        doc, _ = await self.store.get(run_id)  # NOT_FOUND for an unknown run, first
        if not from_start and doc["state"] in scheduler.TERMINAL_RUN:
            return  # ended: nothing will come after now (no 15 s wait for silence)
        order = EventOrder(first=1 if from_start else doc["event_seq"])
        sub = await self.events.subscribe(run_id, from_start=True)
        try:
            while True:
                wait = order.gap_timeout_s if order.waiting else idle_timeout_s
                event = await self.events.next_event(sub, run_id, wait)
                ready = order.push(event) if event is not None else order.release()
                for item in ready:
                    yield item
                    if is_terminal(item):
                        return
                if event is None and not order.waiting:
                    current, _ = await self.store.get(run_id)
                    if current["state"] in scheduler.TERMINAL_RUN and \
                            order.next >= current["event_seq"]:
                        return  # ended, and everything it published was handed over
        finally:
            await self.events.close(sub)

    # Transactions ---------------------------------------------------------------------

    @staticmethod
    def _stage(doc: dict[str, Any], outcome: scheduler.Outcome) -> None:
        """Number the outcome's events and put them in the run's outbox (same write)."""
        for kind, data in outcome.events:
            doc["outbox"].append({"sequence": doc["event_seq"], "type": kind, "data": data,
                                  "staged": time.time()})
            doc["event_seq"] += 1
        doc["updated_at"] = scheduler.now()

    async def _transact(self, run_id: str,
                        change: Callable[[dict[str, Any]], scheduler.Outcome | None]
                        ) -> dict[str, Any]:
        """Apply a scheduler transition with CAS, then publish its events and tasks."""
        box: dict[str, Any] = {}

        def mutate(doc: dict[str, Any]) -> dict[str, Any] | None:
            box.clear()
            outcome = change(doc)
            if outcome is None:
                return None
            published = self._published.get(run_id, 0)  # trimmed here: no extra write
            doc["outbox"] = [e for e in doc["outbox"] if e["sequence"] > published]
            box["local"] = self._claim_locally(doc, outcome)
            self._stage(doc, outcome)
            box["outcome"] = outcome
            return doc

        doc, _ = await self.store.update(run_id, mutate)
        if "outcome" in box:
            for kind, _data in box["outcome"].events:
                if kind in TERMINAL_EVENTS:
                    RUNS_FINISHED.labels(doc["workflow"]["name"], kind).inc()
            await self._deliver(run_id, box["outcome"], doc)
            self._start_local(run_id, box["local"], doc)
        return doc

    def _claim_locally(self, doc: dict[str, Any], outcome: scheduler.Outcome
                       ) -> Sequence[tuple[scheduler.TaskRef, str]]:
        """Inside a transition's write: take the next task if this engine has room.

        One at most: that carries a chain of steps forward without a queue trip, while a
        fan-out's other items go through the queue so that every replica shares them.
        """
        slots = min(1, self.config.workers - self._busy) if self.local_claims else 0
        if slots <= 0 or not outcome.tasks:
            return []
        at = time.time()
        return scheduler.claim_ready(doc, outcome, f"{self.owner}:local", slots, at=at,
                                     lease_until=at + self.config.ack_wait_s)

    def _start_local(self, run_id: str, claimed: Sequence[tuple[scheduler.TaskRef, str]],
                     doc: dict[str, Any]) -> None:
        for ref, owner in claimed:
            self._busy += 1
            task = asyncio.create_task(self._run_local(run_id, ref, owner, doc))
            self._local.add(task)

    async def _deliver(self, run_id: str, outcome: scheduler.Outcome,
                       doc: dict[str, Any] | None = None) -> None:
        """Publish the staged events, then enqueue the tasks: one wait for all the acks."""
        current = doc if doc is not None else (await self.store.get(run_id))[0]
        tasks = [self.queue.enqueue(StepTask(run_id, ref.step_id, ref.item, ref.attempt,
                                             {"not_before": ref.not_before}))
                 for ref in outcome.tasks]
        await self._flush_outbox(run_id, current, then=tasks)

    async def _flush_outbox(self, run_id: str, doc: dict[str, Any], *, trim_now: bool = False,
                            then: Sequence[Coroutine[Any, Any, Any]] = ()) -> None:
        """Publish the outbox in order (and `then` after it). A running run's next write trims
        what was published (no extra write); a finished run, or the reconciler, trims now.

        Why one gather: asyncio starts its tasks in list order and each puts its message on
        the connection before its first wait, so the wire order is the list order: events in
        sequence, then the tasks (whose own events can only come later). One round trip
        instead of one per message.
        """
        already = 0 if trim_now else self._published.get(run_id, 0)
        pending = [e for e in doc.get("outbox") or [] if e["sequence"] > already]
        headers = {"traceparent": current_traceparent() or _run_traceparent(doc)}
        await asyncio.gather(*(self.events.publish(run_id, e["type"], e["data"],
                                                   sequence=e["sequence"], headers=headers)
                               for e in pending), *then)
        if pending:
            self._published[run_id] = max(already, pending[-1]["sequence"])
        if not doc.get("outbox") or (doc["state"] == "RUNNING" and not trim_now):
            return
        published = self._published.pop(run_id, 0)

        def trim(d: dict[str, Any]) -> dict[str, Any] | None:
            kept = [e for e in d["outbox"] if e["sequence"] > published]
            if len(kept) == len(d["outbox"]):
                return None
            d["outbox"] = kept
            return d

        await self.store.update(run_id, trim)

    # Worker -----------------------------------------------------------------------------

    async def _handle(self, task: StepTask, delivery: Delivery) -> None:
        """A task from the queue: wait out a retry's back-off, claim it, run it."""
        with bound_context(run_id=task.run_id, step=task.step_id, item=task.item):
            owner = f"{self.owner}:{delivery.stream_seq}:{delivery.num_delivered}"
            not_before = float(task.payload.get("not_before") or 0)
            while time.time() < not_before:  # a retry waits out its back-off
                await delivery.in_progress()
                await asyncio.sleep(min(self.heartbeat_s, max(0.0, not_before - time.time())))
            claimed = await self._claim(task, owner, steal=delivery.num_delivered > 1)
            if claimed is None:
                return  # finished, cancelled, or someone else's: never run twice; ack
            self._busy += 1
            try:
                await self._execute(task, owner, claimed, delivery.in_progress)
            finally:
                self._busy -= 1

    async def _run_local(self, run_id: str, ref: scheduler.TaskRef, owner: str,
                         doc: dict[str, Any]) -> None:
        """A task this engine claimed in the write that made it ready (no queue trip); its
        lease, renewed while the call runs, lets another engine take over if this one dies."""
        task = StepTask(run_id, ref.step_id, ref.item, ref.attempt)
        with bound_context(run_id=run_id, step=ref.step_id, item=ref.item):
            try:
                await self._execute(task, owner, doc, lambda: self._renew(task, owner))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the lease expires; another engine retries
                log.warning("engine.local_step_failed", error=str(exc))
            finally:
                self._busy -= 1
                self._local.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _renew(self, task: StepTask, owner: str) -> None:
        lease_until = time.time() + self.config.ack_wait_s
        await self.store.update(task.run_id, lambda d: d if scheduler.renew(
            d, task.step_id, task.item, task.attempt, owner, lease_until) else None)

    async def _execute(self, task: StepTask, owner: str, claimed: dict[str, Any],
                       keepalive: Callable[[], Awaitable[None]]) -> None:
        """Call the step's service for a claimed item and record the result."""
        workflow = self.workflow_of(claimed)
        spec = workflow.step(task.step_id)
        started = time.perf_counter()
        with tracer().start_as_current_span(
                f"step {task.step_id}", context=_step_parent(claimed),
                attributes={"mediamesh.run_id": task.run_id, "mediamesh.step": task.step_id,
                            "mediamesh.item": task.item, "mediamesh.attempt": task.attempt,
                            "mediamesh.workflow": workflow.name,
                            "rpc.method": spec.rpc.path}) as span:
            outcome = await self._execute_step(task, owner, claimed, keepalive, workflow, spec)
            if outcome != "OK":
                span.set_status(Status(SpanStatusCode.ERROR, outcome))
            STEP_SECONDS.labels(workflow.name, task.step_id, outcome).observe(
                time.perf_counter() - started)

    async def _execute_step(self, task: StepTask, owner: str, claimed: dict[str, Any],
                            keepalive: Callable[[], Awaitable[None]], workflow: Workflow,
                            spec: Any) -> str:
        """The step's call and its record; returns the status name it ended with."""
        try:
            request = arguments.to_request(spec.rpc.request, expressions.render(
                spec.arguments, scheduler.item_context(claimed, task.step_id, task.item)))
        except (ValueError, expressions.ExpressionError) as exc:
            await self._record_failure(task, owner, "INVALID_ARGUMENT", str(exc), workflow)
            return "INVALID_ARGUMENT"
        call = asyncio.create_task(self._call(spec.rpc, request, spec.timeout_s, task, owner))
        self._inflight.setdefault(task.run_id, set()).add(call)
        heartbeat = asyncio.create_task(self._heartbeat(keepalive))
        called = time.perf_counter()
        try:
            outputs = await call
        except asyncio.CancelledError:
            if self._stop.is_set():
                raise  # shutting down: unacked or unleased, another engine takes it over
            return "CANCELLED"  # the run was cancelled
        except grpc.aio.AioRpcError as exc:
            await self._record_failure(task, owner, exc.code().name, exc.details() or "",
                                       workflow)
            return str(exc.code().name)
        except MeshError as exc:
            await self._record_failure(task, owner, exc.code.value, exc.message, workflow)
            return str(exc.code.value)
        finally:
            heartbeat.cancel()
            self._inflight.get(task.run_id, set()).discard(call)
        call_ms = (time.perf_counter() - called) * 1000
        await self._transact(task.run_id, lambda d: scheduler.complete(
            d, workflow, task.step_id, task.item, task.attempt, owner, outputs, call_ms))
        return "OK"

    async def _claim(self, task: StepTask, owner: str, *, steal: bool) -> dict[str, Any] | None:
        won: dict[str, bool] = {}

        def mutate(doc: dict[str, Any]) -> dict[str, Any] | None:
            won["yes"] = scheduler.claim(doc, task.step_id, task.item, task.attempt, owner,
                                         steal=steal, at=time.time())
            return doc if won["yes"] else None

        doc, _ = await self.store.update(task.run_id, mutate)
        return doc if won.get("yes") else None

    async def _record_failure(self, task: StepTask, owner: str, code: str, message: str,
                              workflow: Workflow) -> None:
        log.info("step.failed", code=code, error=message, attempt=task.attempt)
        at = time.time()
        await self._transact(task.run_id, lambda d: scheduler.fail(
            d, workflow, task.step_id, task.item, task.attempt, owner, code, message, at=at))

    def _channel(self, part: str) -> grpc.aio.Channel:
        if part not in self._channels:
            self._channels[part] = open_part_channel(self.settings, part)
        return self._channels[part]

    @property
    def heartbeat_s(self) -> float:
        """How often a busy worker tells the queue it is alive (well inside ack_wait)."""
        return self.config.ack_wait_s / 3

    async def _heartbeat(self, keepalive: Callable[[], Awaitable[None]]) -> None:
        """Keep the task ours while its call runs: a dead worker stops, and is replaced."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await keepalive()
            except Exception as exc:  # noqa: BLE001 - NATS hiccup: the next beat may pass
                log.warning("engine.heartbeat_failed", error=str(exc))

    async def _call(self, rpc: RpcInfo, request: Any, timeout_s: float, task: StepTask,
                    owner: str) -> dict[str, Any]:
        """One gRPC call with a deadline, in the step's span (the channel's interceptor puts
        its traceparent in the metadata) and naming the run; streamed progress becomes
        (throttled) events."""
        channel = self._channel(rpc.part)
        decode = GetMessageClass(rpc.response).FromString
        metadata = ((RUN_ID_METADATA, task.run_id),)
        if not rpc.streaming:
            method = channel.unary_unary(rpc.path, request_serializer=type(request).SerializeToString,
                                         response_deserializer=decode)
            return arguments.to_outputs(await method(request, timeout=timeout_s,
                                                     metadata=metadata))
        stream = channel.unary_stream(rpc.path, request_serializer=type(request).SerializeToString,
                                      response_deserializer=decode)(request, timeout=timeout_s,
                                                                    metadata=metadata)
        last = 0.0
        result = None
        async for event in stream:
            if event.WhichOneof("event") == "result":
                result = event.result
                continue
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                await self._report_progress(task, owner, event.progress)
        if result is None:
            raise MeshError(f"{rpc.path} ended without a result", StatusCode.INTERNAL)
        return arguments.to_outputs(result)

    async def _report_progress(self, task: StepTask, owner: str, progress: Any) -> None:
        def change(doc: dict[str, Any]) -> scheduler.Outcome | None:
            if not scheduler.owns(doc, task.step_id, task.item, task.attempt, owner):
                return None
            outcome = scheduler.Outcome()
            outcome.event("step.progress", step_id=task.step_id, item_index=task.item,
                          item_fraction=progress.fraction, stage=progress.stage)
            return outcome

        await self._transact(task.run_id, change)

    async def _on_cancel(self, msg: Any) -> None:
        run_id = msg.subject.rsplit(".", 1)[-1]
        for call in list(self._inflight.get(run_id, ())):
            call.cancel()

    # Reconciliation ---------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Publish outboxes a crash left behind; re-enqueue items queued but not picked up."""
        for doc in await self.store.list():
            run_id = doc["run_id"]
            oldest = min((e.get("staged", 0) for e in doc.get("outbox") or []), default=None)
            if oldest is not None and time.time() - oldest > STALE_OUTBOX_S:
                # published but never trimmed (no later write), or lost in a crash: publish
                # again (de-duplicated by id) and trim, so nothing is published twice later
                await self._flush_outbox(run_id, doc, trim_now=True)
            if doc["state"] != "RUNNING":
                continue
            for step_id, st in doc["steps"].items():
                for index, item in enumerate(st["items"]):
                    lease = item.get("lease_until")
                    if item["status"] == "RUNNING" and lease is not None and lease < time.time():
                        # a local claim whose engine died: through the queue, to be taken over
                        await self.queue.enqueue(StepTask(run_id, step_id, index,
                                                          item["attempt"]),
                                                 redrive=f"lease{int(lease)}")
                    elif item["status"] == "QUEUED" and _age_s(item.get("queued_at")) > \
                            REQUEUE_AFTER_S + max(0.0, item.get("not_before", 0) - time.time()):
                        await self.queue.enqueue(StepTask(
                            run_id, step_id, index, item["attempt"],
                            {"not_before": item.get("not_before", 0)}),
                            redrive=str(int(time.time() // REQUEUE_AFTER_S)))

    async def _reconcile_forever(self) -> None:
        while not self._stop.is_set():
            try:
                await self.reconcile()
                waiting, in_progress = await self.queue.depth()
                QUEUE_DEPTH.set(waiting)
                QUEUE_IN_PROGRESS.set(in_progress)
            except Exception as exc:  # noqa: BLE001 - keep reconciling; log what happened
                log.warning("engine.reconcile_failed", error=str(exc))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RECONCILE_EVERY_S)


def trace_id_of(traceparent: str) -> str:
    """The trace id of a W3C `traceparent` (00-<32 hex>-<16 hex>-<flags>), or ''."""
    parts = traceparent.split("-")
    valid = len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32
    return parts[1] if valid else ""


def _run_traceparent(doc: dict[str, Any]) -> str:
    """The run's root span (older runs kept only a trace id: a span id is made up)."""
    return str(doc.get("traceparent") or child_traceparent(str(doc.get("trace_id") or "")))


def _step_parent(doc: dict[str, Any]) -> otel_context.Context | None:
    """A step's span continues the current trace (the message or the step that made it
    ready), or else the run's root: either way the run stays one trace."""
    if trace.get_current_span().get_span_context().is_valid:
        return None
    return extract({"traceparent": _run_traceparent(doc)})


def child_traceparent(trace_id: str) -> str:
    """A `traceparent` in the run's trace with a fresh span id (events, service calls)."""
    return f"00-{trace_id or uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"


def _age_s(stamp: str | None) -> float:
    if not stamp:
        return float("inf")
    from datetime import datetime

    return time.time() - datetime.fromisoformat(stamp).timestamp()
