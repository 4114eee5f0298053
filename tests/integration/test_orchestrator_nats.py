"""The orchestrator's JetStream primitives against a real, private nats-server (no mesh).

Each test gets its own bucket/stream names, so tests share one server but no state.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext

from mediamesh.errors import InvalidArgument, StatusCode, StorageUnavailable
from mediamesh.nats_client import NatsConnection
from orchestrator.events import EventLog, EventType
from orchestrator.run_store import RunExists, RunNotFound, RunStore, RunUpdateConflict
from orchestrator.work_queue import Delivery, StepTask, WorkQueue
from tests.integration.nats_server import running_nats_server

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_nats_server(tmp_path_factory.mktemp("nats")) as server:
        yield server.url


@pytest.fixture
async def connect(nats_url: str) -> AsyncIterator[Callable[[], Awaitable[JetStreamContext]]]:
    """Opens independent connections (one per simulated replica); closes them all after."""
    opened: list[NatsConnection] = []

    async def open_one() -> JetStreamContext:
        conn = NatsConnection(nats_url)
        opened.append(conn)
        return await conn.jetstream()

    yield open_one
    for conn in opened:
        await conn.close()


@pytest.fixture
async def js(connect: Callable[[], Awaitable[JetStreamContext]]) -> JetStreamContext:
    return await connect()


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:10]


async def eventually(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- run store

async def test_concurrent_updates_from_two_replicas_lose_nothing(connect: Any, uid: str) -> None:
    replicas = [RunStore(await connect(), bucket=f"runs_{uid}") for _ in range(2)]
    await replicas[0].ensure()
    first_revision = await replicas[0].create("run-1", {"counter": 0})
    calls = 0

    def increment(doc: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        doc["counter"] += 1
        return doc

    async def fifty(store: RunStore) -> None:
        for _ in range(50):
            await store.update("run-1", increment)

    await asyncio.gather(fifty(replicas[0]), fifty(replicas[1]))
    doc, revision = await replicas[1].get("run-1")
    assert doc == {"counter": 100}
    assert revision == first_revision + 100  # exactly one write per successful increment
    assert calls >= 100


async def test_update_retries_when_another_replica_wrote_first(connect: Any, uid: str) -> None:
    mine, theirs = [RunStore(await connect(), bucket=f"runs_{uid}") for _ in range(2)]
    await theirs.create("run-1", {"steps": []})  # `mine` has no remembered copy: it reads
    seen: list[list[str]] = []

    async def competing_write() -> None:
        await theirs.update("run-1", lambda d: {**d, "steps": [*d["steps"], "theirs"]})

    def append_mine(doc: dict[str, Any]) -> dict[str, Any]:
        seen.append(list(doc["steps"]))
        doc["steps"].append("mine")
        return doc

    # A replica sneaks in between our read and our write (deterministically).
    original_get = mine.get
    raced = False

    async def get_then_race(run_id: str) -> tuple[dict[str, Any], int]:
        nonlocal raced
        result = await original_get(run_id)
        if not raced:
            raced = True
            await competing_write()
        return result

    mine.get = get_then_race  # type: ignore[method-assign]
    doc, _ = await mine.update("run-1", append_mine)
    assert seen == [[], ["theirs"]]  # first attempt lost, second saw the competing write
    assert doc["steps"] == ["theirs", "mine"]
    assert (await theirs.get("run-1"))[0]["steps"] == ["theirs", "mine"]


async def test_update_gives_up_with_a_retryable_error(connect: Any, uid: str) -> None:
    store, rival = [RunStore(await connect(), bucket=f"runs_{uid}") for _ in range(2)]
    await rival.create("busy", {"n": 0})  # `store` has no remembered copy: it reads
    original_get = store.get

    async def always_raced(run_id: str) -> tuple[dict[str, Any], int]:
        result = await original_get(run_id)
        await rival.update(run_id, lambda d: {"n": d["n"] + 1})
        return result

    store.get = always_raced  # type: ignore[method-assign]
    with pytest.raises(RunUpdateConflict) as caught:
        await store.update("busy", lambda d: {"n": -1}, attempts=3)
    assert caught.value.code == StatusCode.UNAVAILABLE and caught.value.retry_after_s
    assert (await rival.get("busy"))[0] == {"n": 3}  # our stale write never landed


async def test_a_stale_remembered_copy_is_detected_and_reread(connect: Any, uid: str) -> None:
    mine, theirs = [RunStore(await connect(), bucket=f"runs_{uid}") for _ in range(2)]
    await mine.create("run-2", {"n": 0})  # `mine` remembers revision 1
    await theirs.update("run-2", lambda d: {"n": d["n"] + 10})  # ...which is now stale
    doc, _ = await mine.update("run-2", lambda d: {"n": d["n"] + 1})
    assert doc == {"n": 11}  # the CAS on the stale copy failed; the re-read copy won
    assert (await theirs.get("run-2"))[0] == {"n": 11}


async def test_create_is_atomic_and_idempotent(js: JetStreamContext, uid: str) -> None:
    store = RunStore(js, bucket=f"runs_{uid}")
    revision = await store.create("run-1", {"v": 1})
    with pytest.raises(RunExists) as caught:
        await store.create("run-1", {"v": 2})
    assert caught.value.reason == "RUN_EXISTS" and "run-1" in caught.value.message
    assert await store.get("run-1") == ({"v": 1}, revision)


async def test_missing_runs_are_not_found(js: JetStreamContext, uid: str) -> None:
    store = RunStore(js, bucket=f"runs_{uid}")
    for action in (store.get("nope"), store.update("nope", lambda d: d), store.delete("nope")):
        with pytest.raises(RunNotFound) as caught:
            await action
        assert caught.value.code == StatusCode.NOT_FOUND
        assert caught.value.reason == "RUN_NOT_FOUND" and caught.value.resource == "nope"


async def test_mutate_returning_none_writes_nothing(js: JetStreamContext, uid: str) -> None:
    store = RunStore(js, bucket=f"runs_{uid}")
    revision = await store.create("run-1", {"state": "RUNNING"})
    doc, returned_revision = await store.update("run-1", lambda d: None)
    assert (doc, returned_revision) == ({"state": "RUNNING"}, revision)
    assert (await store.get("run-1"))[1] == revision
    kv = await js.key_value(f"runs_{uid}")
    assert [entry.revision for entry in await kv.history("run-1")] == [revision]


@pytest.mark.parametrize("bad", ["", "a.b", "a/b", "a b", "x" * 65, "run*"])
async def test_unsafe_run_ids_are_rejected(js: JetStreamContext, uid: str, bad: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await RunStore(js, bucket=f"runs_{uid}").create(bad, {})
    assert caught.value.field_name == "run_id"


async def test_list_and_delete(js: JetStreamContext, uid: str) -> None:
    store = RunStore(js, bucket=f"runs_{uid}")
    assert await store.list() == []
    for run_id in ("b-1", "a-2", "a-1"):
        await store.create(run_id, {"id": run_id})
    await store.update("a-1", lambda d: {**d, "state": "DONE"})
    assert await store.list() == [{"id": "a-1", "state": "DONE"}, {"id": "a-2"}, {"id": "b-1"}]
    assert [d["id"] for d in await store.list("a-")] == ["a-1", "a-2"]
    await store.delete("a-1")
    with pytest.raises(RunNotFound):
        await store.get("a-1")
    assert [d["id"] for d in await store.list()] == ["a-2", "b-1"]
    await store.create("a-1", {"id": "a-1", "again": True})  # a deleted id can be reused
    assert (await store.get("a-1"))[0] == {"id": "a-1", "again": True}


async def test_nats_gone_is_storage_unavailable(tmp_path: Path, uid: str) -> None:
    with running_nats_server(tmp_path / "doomed") as server:
        nc = await nats.connect(server.url, allow_reconnect=False)
        store = RunStore(nc.jetstream(timeout=1.0), bucket=f"runs_{uid}")
        await store.create("run-1", {})
        server.process.kill()
        server.process.wait()
        await eventually(lambda: nc.is_closed, 5.0, "the client to notice the dead server")
        with pytest.raises(StorageUnavailable) as caught:
            await store.get("run-1")
    assert caught.value.code == StatusCode.UNAVAILABLE
    assert "nats-server" in caught.value.message


# --------------------------------------------------------------------------- work queue

def make_queue(js: JetStreamContext, uid: str, **kw: Any) -> WorkQueue:
    return WorkQueue(js, stream=f"STEPS_{uid}", subject_prefix=f"t{uid}.steps",
                     dead_stream=f"DEAD_{uid}", dead_prefix=f"t{uid}.dead",
                     durable=f"workers_{uid}", **kw)


@asynccontextmanager
async def worker(queue: WorkQueue, handle: Any, **kw: Any) -> AsyncIterator[asyncio.Task[None]]:
    """A background worker, stopped cleanly afterwards; its own errors fail the test."""
    stop = asyncio.Event()
    task = asyncio.create_task(queue.run_worker(handle, stop=stop, fetch_timeout_s=0.3, **kw))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


def step(run_id: str, step_id: str = "s", item: int = 0, attempt: int = 1) -> StepTask:
    return StepTask(run_id=run_id, step_id=step_id, item=item, attempt=attempt,
                    payload={"step": step_id, "item": item})


def test_step_task_round_trips_and_keys() -> None:
    task = step("run-1", "detect", 3, 2)
    assert task.key == "run-1/detect/3/2"
    assert StepTask.from_json(task.to_json()) == task
    with pytest.raises(InvalidArgument):
        step("bad.run")


async def test_worker_without_ensure_fails_fast(js: JetStreamContext, uid: str) -> None:
    async def handle(t: StepTask, d: Delivery) -> None:
        raise AssertionError("no step can arrive")

    with pytest.raises(StorageUnavailable) as caught:
        await make_queue(js, uid).run_worker(handle, stop=asyncio.Event())
    assert "ensure()" in caught.value.message


async def test_duplicate_enqueue_is_delivered_once(js: JetStreamContext, uid: str) -> None:
    queue = make_queue(js, uid)
    await queue.ensure()
    task, sentinel = step("run-1", "a"), step("run-1", "b")
    assert await queue.enqueue(task) is True
    assert await queue.enqueue(task) is False
    assert await queue.enqueue(sentinel) is True
    handled: list[str] = []

    async def handle(t: StepTask, d: Delivery) -> None:
        handled.append(t.key)

    async with worker(queue, handle):
        await eventually(lambda: sentinel.key in handled, 5.0, "the sentinel step")
    assert handled == [task.key, sentinel.key]
    assert (await js.stream_info(queue.stream)).state.messages == 0  # acked work is gone


async def test_failures_are_retried_with_backoff(js: JetStreamContext, uid: str) -> None:
    queue = make_queue(js, uid, backoff_base_s=0.2)
    await queue.ensure()
    await queue.enqueue(step("run-1"))
    attempts: list[tuple[int, float]] = []
    succeeded: list[int] = []

    async def flaky(t: StepTask, d: Delivery) -> None:
        attempts.append((d.num_delivered, time.monotonic()))
        if d.num_delivered < 3:
            raise RuntimeError(f"transient failure {d.num_delivered}")
        succeeded.append(d.num_delivered)

    async with worker(queue, flaky):
        await eventually(lambda: bool(succeeded), 5.0, "the third attempt")
        await asyncio.sleep(0.5)
    assert succeeded == [3]
    assert [n for n, _ in attempts] == [1, 2, 3]
    gaps = [b - a for (_, a), (_, b) in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.18 and gaps[1] >= 0.38  # 0.2 s then 0.4 s: exponential back-off
    assert queue.backoff_s(1) == 0.2 and make_queue(js, uid).backoff_s(10) == 10.0  # cap


async def test_exhausted_steps_become_dead_letters(js: JetStreamContext, uid: str) -> None:
    queue = make_queue(js, uid, max_deliver=3, ack_wait_s=1.0, backoff_base_s=0.1)
    await queue.ensure()
    task = step("run-9", "transcode", 4)
    await queue.enqueue(task)
    calls: list[int] = []

    async def broken(t: StepTask, d: Delivery) -> None:
        calls.append(d.num_delivered)
        raise ValueError(f"codec not supported\nfor {t.key}")

    async with worker(queue, broken):
        await eventually(lambda: len(calls) == 3, 5.0, "three attempts")
        letters: list[dict[str, Any]] = []
        for _ in range(100):
            if letters := await queue.dead_letters():
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)  # longer than ack_wait: nothing may come back
    assert calls == [1, 2, 3]
    assert len(letters) == 1
    assert letters[0]["task"] == asdict(task)
    assert letters[0]["error"] == f"ValueError: codec not supported | for {task.key}"
    assert letters[0]["deliveries"] == 3
    info = await js.consumer_info(queue.stream, queue.durable)
    assert info.num_pending == 0 and info.num_ack_pending == 0
    assert (await js.stream_info(queue.stream)).state.messages == 0
    assert len(await queue.dead_letters()) == 1


async def test_crashed_worker_step_is_redelivered(js: JetStreamContext, nats_url: str,
                                                  uid: str, tmp_path: Path) -> None:
    queue = make_queue(js, uid, ack_wait_s=2.0)
    await queue.ensure()
    task = step("run-1", "slow")
    await queue.enqueue(task)
    script = tmp_path / "hanging_worker.py"
    script.write_text(
        "import asyncio, sys\n"
        "import nats\n"
        "from orchestrator.work_queue import WorkQueue\n"
        "async def main():\n"
        "    url, stream, prefix, dead, dead_prefix, durable = sys.argv[1:7]\n"
        "    nc = await nats.connect(url)\n"
        "    queue = WorkQueue(nc.jetstream(), stream, prefix, dead, dead_prefix, durable)\n"
        "    async def hang(task, delivery):\n"
        "        print('FETCHED', task.key, delivery.num_delivered, flush=True)\n"
        "        await asyncio.Event().wait()\n"
        "    await queue.run_worker(hang, stop=asyncio.Event())\n"
        "asyncio.run(main())\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(script), nats_url, queue.stream, queue.subject_prefix,
        queue.dead_stream, queue.dead_prefix, queue.durable, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, stdout=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        fetched_at = time.monotonic()
        assert line.split() == ["FETCHED", task.key, "1"]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    received: list[tuple[str, int, float]] = []

    async def handle(t: StepTask, d: Delivery) -> None:
        received.append((t.key, d.num_delivered, time.monotonic()))

    async with worker(queue, handle):
        await eventually(lambda: bool(received), 4.0, "redelivery after ack_wait")
    key, delivered, at = received[0]
    assert (key, delivered) == (task.key, 2)
    assert 1.5 <= at - fetched_at <= 3.5


async def test_step_nobody_acked_in_its_last_delivery_is_dead_lettered(
        js: JetStreamContext, uid: str) -> None:
    queue = make_queue(js, uid, max_deliver=1, ack_wait_s=1.0)
    await queue.ensure()
    task = step("run-2", "stuck")
    await queue.enqueue(task)
    started = asyncio.Event()

    async def hang(t: StepTask, d: Delivery) -> None:
        started.set()
        await asyncio.Event().wait()

    stop = asyncio.Event()
    crashed = asyncio.create_task(queue.run_worker(hang, stop=stop, fetch_timeout_s=0.3))
    await asyncio.wait_for(started.wait(), 5)
    crashed.cancel()  # dies mid-step without acking, like a killed process
    with pytest.raises(asyncio.CancelledError):
        await crashed
    called: list[StepTask] = []

    async def never(t: StepTask, d: Delivery) -> None:
        called.append(t)

    async with worker(queue, never):
        letters: list[dict[str, Any]] = []
        deadline = time.monotonic() + 4
        while not letters and time.monotonic() < deadline:
            letters = await queue.dead_letters()
            await asyncio.sleep(0.1)
    assert called == []  # the extra delivery only dead-letters
    assert len(letters) == 1 and letters[0]["task"]["step_id"] == "stuck"
    assert letters[0]["deliveries"] == 2
    assert "not acknowledged after 1 deliveries" in letters[0]["error"]


async def test_two_workers_share_the_queue_exactly_once(connect: Any, uid: str) -> None:
    queues = [make_queue(await connect(), uid) for _ in range(2)]
    await queues[0].ensure()
    tasks = [step(f"run-{i % 4}", "frame", i) for i in range(20)]
    for task in tasks:
        assert await queues[0].enqueue(task)
    handled: list[tuple[int, str]] = []

    def handler(worker_no: int) -> Callable[[StepTask, Delivery], Awaitable[None]]:
        async def handle(t: StepTask, d: Delivery) -> None:
            await asyncio.sleep(0.02)
            handled.append((worker_no, t.key))
        return handle

    async with worker(queues[0], handler(0)), worker(queues[1], handler(1)):
        await eventually(lambda: len(handled) >= 20, 10.0, "all 20 steps")
        await asyncio.sleep(0.3)
    keys = [key for _, key in handled]
    assert sorted(keys) == sorted(t.key for t in tasks)  # none missing, none twice
    assert {worker_no for worker_no, _ in handled} == {0, 1}  # both really worked


# --------------------------------------------------------------------------- events

def make_log(js: JetStreamContext, uid: str) -> EventLog:
    return EventLog(js, stream=f"EVENTS_{uid}", prefix=f"t{uid}.run")


async def test_history_is_per_run_and_in_sequence(js: JetStreamContext, uid: str) -> None:
    log = make_log(js, uid)
    await log.ensure()
    kinds = [EventType.SUBMITTED, EventType.STEP_STARTED, EventType.STEP_PROGRESS,
             EventType.STEP_SUCCEEDED, EventType.SUCCEEDED]
    for seq, kind in enumerate(kinds, 1):
        for run_id in ("run-a", "run-b"):
            assert await log.publish(run_id, kind, {"n": seq, "run": run_id}, sequence=seq)
    for run_id in ("run-a", "run-b"):
        events = await log.history(run_id)
        assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5]
        assert [e["type"] for e in events] == [str(k) for k in kinds]
        assert {e["run_id"] for e in events} == {run_id}
        assert events[2]["data"] == {"n": 3, "run": run_id}
        assert datetime.fromisoformat(events[0]["time"]).utcoffset() is not None
    assert await log.history("run-unknown") == []


async def test_duplicate_sequence_is_deduplicated(js: JetStreamContext, uid: str) -> None:
    log = make_log(js, uid)
    await log.ensure()
    assert await log.publish("run-1", "submitted", {"first": True}, sequence=1) is True
    assert await log.publish("run-1", "submitted", {"first": False}, sequence=1) is False
    events = await log.history("run-1")
    assert len(events) == 1 and events[0]["data"] == {"first": True}
    with pytest.raises(ValueError):
        await log.publish("run-1", "exploded", {}, sequence=2)


async def test_caller_headers_travel_with_the_event(js: JetStreamContext, uid: str) -> None:
    log = make_log(js, uid)
    await log.ensure()
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await log.publish("run-1", EventType.STEP_STARTED, {}, sequence=7,
                      headers={"traceparent": traceparent})
    stored = await js.get_msg(log.stream, subject=f"{log.prefix}.run-1.step.started")
    assert stored.headers is not None
    assert stored.headers["traceparent"] == traceparent
    assert stored.headers["Nats-Msg-Id"] == "run-1:7"


async def test_follow_yields_history_then_live_and_stops(js: JetStreamContext, uid: str) -> None:
    log = make_log(js, uid)
    await log.ensure()
    await log.publish("run-1", EventType.SUBMITTED, {}, sequence=1)
    await log.publish("run-1", EventType.STEP_STARTED, {"step": "a"}, sequence=2)
    seen: list[dict[str, Any]] = []
    caught_up = asyncio.Event()

    async def watch() -> None:
        async for event in log.follow("run-1", from_start=True,
                                      stop_when=lambda e: e["type"] == "succeeded",
                                      idle_timeout_s=10):
            seen.append(event)
            if len(seen) == 2:
                caught_up.set()

    watcher = asyncio.create_task(watch())
    await asyncio.wait_for(caught_up.wait(), 5)
    await log.publish("run-1", EventType.STEP_SUCCEEDED, {"step": "a"}, sequence=3)
    await log.publish("run-1", EventType.SUCCEEDED, {}, sequence=4)
    await log.publish("run-1", EventType.STEP_PROGRESS, {"late": True}, sequence=5)
    started = time.monotonic()
    await asyncio.wait_for(watcher, 5)
    assert time.monotonic() - started < 2  # stopped at `succeeded`, not at the idle timeout
    assert [e["type"] for e in seen] == ["submitted", "step.started", "step.succeeded",
                                         "succeeded"]
    assert [e["sequence"] for e in seen] == [1, 2, 3, 4]


async def test_follow_of_a_silent_run_ends_after_idle_timeout(js: JetStreamContext,
                                                              uid: str) -> None:
    log = make_log(js, uid)
    await log.ensure()
    started = time.monotonic()
    events = [event async for event in log.follow("run-silent", from_start=True,
                                                  stop_when=lambda e: False,
                                                  idle_timeout_s=0.5)]
    assert events == []
    assert 0.4 <= time.monotonic() - started < 3


async def test_nothing_to_do_on_a_stale_remembered_copy_is_rechecked(connect: Any,
                                                                      uid: str) -> None:
    mine, theirs = [RunStore(await connect(), bucket=f"runs_{uid}") for _ in range(2)]
    await mine.create("run-3", {"ready": False})  # `mine` remembers ready=False
    await theirs.update("run-3", lambda d: {**d, "ready": True})

    def take_if_ready(doc: dict[str, Any]) -> dict[str, Any] | None:
        return {**doc, "taken": True} if doc["ready"] else None

    doc, _ = await mine.update("run-3", take_if_ready)
    assert doc == {"ready": True, "taken": True}  # decided on the latest copy, not the stale one
