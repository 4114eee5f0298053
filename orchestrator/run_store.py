"""Workflow runs as JSON documents in a JetStream KV bucket, keyed by run id.

Every change goes through `RunStore.update`, a compare-and-set loop on the key's revision, so
several orchestrator replicas can advance the same run without losing each other's writes.
"""
from __future__ import annotations

import asyncio
import builtins
import copy
import json
import random
import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.kv import KeyValue

from mediamesh.errors import InvalidArgument, MeshError, StatusCode, StorageUnavailable

RUNS_BUCKET = "mediamesh_runs"
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

Mutation = Callable[[dict[str, Any]], dict[str, Any] | None]


class RunNotFound(MeshError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"workflow run {run_id!r} does not exist (or was deleted); list runs "
                         "to find the right id", StatusCode.NOT_FOUND, "RUN_NOT_FOUND",
                         resource=run_id)


class RunExists(MeshError):
    """Raised by `create` when the id is taken: Submit with the same id is then a no-op."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"workflow run {run_id!r} already exists; reuse it or submit with a "
                         "new run id", StatusCode.FAILED_PRECONDITION, "RUN_EXISTS",
                         resource=run_id)


class RunUpdateConflict(MeshError):
    """The CAS loop kept losing to other writers; retryable, so UNAVAILABLE with a hint."""

    def __init__(self, run_id: str, attempts: int) -> None:
        super().__init__(f"workflow run {run_id!r} changed under us {attempts} times in a row; "
                         "too many concurrent writers, retry shortly", StatusCode.UNAVAILABLE,
                         "RUN_UPDATE_CONFLICT", resource=run_id, retry_after_s=0.5)


def validate_run_id(run_id: str) -> str:
    """Run ids become KV keys and subject tokens, so only a safe alphabet is allowed."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.fullmatch(run_id):
        raise InvalidArgument(f"run id {run_id!r} is invalid: use 1-64 characters from "
                              "A-Z a-z 0-9 _ -", field_name="run_id")
    return run_id


@asynccontextmanager
async def nats_unavailable_as_storage_error(what: str, resource: str) -> AsyncIterator[None]:
    """Turn "NATS is not there" client errors into StorageUnavailable (UNAVAILABLE)."""
    try:
        yield
    except (nats.errors.ConnectionClosedError, nats.errors.NoServersError,
            nats.errors.NoRespondersError, nats.errors.TimeoutError,
            nats.js.errors.ServiceUnavailableError, nats.js.errors.NoStreamResponseError,
            OSError) as exc:  # OSError covers builtin TimeoutError and socket errors
        raise StorageUnavailable(
            f"{what} failed: NATS JetStream did not answer ({type(exc).__name__}: {exc}); check "
            "that nats-server runs with JetStream enabled (`mediamesh status`) and that the "
            "streams exist (ensure())", resource=resource) from exc


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream unless it exists; an existing stream is left as an operator set it."""
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except nats.js.errors.NotFoundError:
        await js.add_stream(config)


def _encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


RECENT_RUNS = 4096  # documents remembered per process for cheap CAS


class RunStore:
    """CRUD plus compare-and-set updates of run documents."""

    def __init__(self, js: JetStreamContext, bucket: str = RUNS_BUCKET) -> None:
        self.js = js
        self.bucket = bucket
        self._bound: KeyValue | None = None
        # Last (document, revision) this process wrote or read, per run: an update tries it
        # first and reads again only when another writer got there first (saves a round trip
        # per transition in the common case of one engine driving a run).
        self._recent: OrderedDict[str, tuple[bytes, int]] = OrderedDict()

    def _remember(self, run_id: str, raw: bytes, revision: int) -> None:
        self._recent[run_id] = (raw, revision)
        self._recent.move_to_end(run_id)
        while len(self._recent) > RECENT_RUNS:
            self._recent.popitem(last=False)

    async def ensure(self) -> None:
        """Bind the bucket, creating it (history=5, file storage) on first use."""
        async with nats_unavailable_as_storage_error("opening the runs bucket", self.bucket):
            try:
                self._bound = await self.js.key_value(self.bucket)
            except nats.js.errors.BucketNotFoundError:
                self._bound = await self.js.create_key_value(KeyValueConfig(
                    bucket=self.bucket, history=5, storage=StorageType.FILE,
                    description="mediamesh workflow runs (JSON, CAS-updated)"))

    async def _kv(self) -> KeyValue:
        if self._bound is None:
            await self.ensure()
        assert self._bound is not None
        return self._bound

    async def create(self, run_id: str, doc: dict[str, Any]) -> int:
        """Store a new run atomically; RunExists when the id is taken. Returns the revision."""
        validate_run_id(run_id)
        kv = await self._kv()
        async with nats_unavailable_as_storage_error("creating a run", run_id):
            raw = _encode(doc)
            try:
                revision = await kv.create(run_id, raw)
            except nats.js.errors.KeyWrongLastSequenceError as exc:
                raise RunExists(run_id) from exc
        self._remember(run_id, raw, revision)
        return revision

    async def get(self, run_id: str) -> tuple[dict[str, Any], int]:
        """The run document and its revision (pass the revision nowhere: use `update`)."""
        validate_run_id(run_id)
        kv = await self._kv()
        async with nats_unavailable_as_storage_error("reading a run", run_id):
            try:
                entry = await kv.get(run_id)
            except nats.js.errors.KeyNotFoundError as exc:
                self._recent.pop(run_id, None)
                raise RunNotFound(run_id) from exc
        self._remember(run_id, entry.value or b"{}", entry.revision or 0)
        return json.loads(entry.value or b"{}"), entry.revision or 0

    async def update(self, run_id: str, mutate: Mutation, *,
                     attempts: int = 20) -> tuple[dict[str, Any], int]:
        """Apply `mutate` to a copy of the latest doc and write it only if nobody wrote first.

        `mutate` may run several times (once per lost race), so it must be a pure function of
        the document. Returning None means "nothing to change" and writes nothing.
        """
        kv = await self._kv()
        validate_run_id(run_id)
        for attempt in range(attempts):
            recent = self._recent.pop(run_id, None) if attempt == 0 else None
            if recent is not None:
                doc, revision = json.loads(recent[0]), recent[1]
            else:
                doc, revision = await self.get(run_id)
            changed = mutate(copy.deepcopy(doc))
            if changed is None:
                if recent is not None:
                    continue  # "nothing to do" from a remembered copy may be stale: re-read
                return doc, revision
            raw = _encode(changed)
            async with nats_unavailable_as_storage_error("updating a run", run_id):
                try:
                    new_revision = await kv.update(run_id, raw, last=revision)
                    self._remember(run_id, raw, new_revision)
                    return changed, new_revision
                except nats.js.errors.KeyWrongLastSequenceError:
                    if recent is not None:
                        continue  # our copy was stale: read the latest, no back-off needed
            # Lost the race: back off a little (jittered so replicas do not collide again).
            await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise RunUpdateConflict(run_id, attempts)

    async def list(self, prefix_filter: str | None = None) -> builtins.list[dict[str, Any]]:
        """Every live run document (ordered by run id), optionally only ids with a prefix."""
        kv = await self._kv()
        docs: dict[str, dict[str, Any]] = {}
        async with nats_unavailable_as_storage_error("listing runs", self.bucket):
            watcher = await kv.watchall(ignore_deletes=True)
            try:
                while (entry := await watcher.updates(timeout=5.0)) is not None:
                    if prefix_filter is None or entry.key.startswith(prefix_filter):
                        docs[entry.key] = json.loads(entry.value or b"{}")
            finally:
                await watcher.stop()
        return [docs[key] for key in sorted(docs)]

    async def delete(self, run_id: str) -> None:
        """Forget a run and its history; RunNotFound when there is nothing to delete."""
        await self.get(run_id)
        kv = await self._kv()
        async with nats_unavailable_as_storage_error("deleting a run", run_id):
            await kv.purge(run_id)
