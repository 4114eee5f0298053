"""Semantic search indexes that persist in NATS JetStream and that every TextService
replica shares.

An index is an object-store bucket (`search-<index>`); each media item is one object in it
(named by the caller's media id) holding its texts, where they occur, its metadata and their
embeddings. Re-indexing a media id replaces its object, so an update is atomic. JetStream
keeps the buckets on disk (file storage), so indexes survive restarts of the services and
of NATS; replicas see each other's writes because a search lists the bucket first.

Search is exact: each replica keeps the vectors it has read, refreshes only the objects
whose version (NATS nuid) changed, and scores a query against all of them with one matrix
product. That is milliseconds up to a few hundred thousand texts; an approximate index
(HNSW) would be the next step past that.
"""
from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from nats.js.errors import BucketNotFoundError, NotFoundError, ObjectNotFoundError
from nats.js.object_store import ObjectStore

from mediamesh.errors import InvalidArgument, MeshError, StatusCode
from mediamesh.nats_client import NatsConnection

BUCKET_PREFIX = "search-"
INDEX_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_MEDIA_ID = 512
MAX_TOP_K = 1000
DEFAULT_TOP_K = 10


@dataclass(frozen=True)
class IndexedEntry:
    text: str
    start: float | None
    end: float | None
    kind: str


@dataclass(frozen=True)
class MediaEntries:
    """One media item's part of an index."""

    media_id: str
    media_uri: str
    metadata: dict[str, str]
    entries: list[IndexedEntry]
    vectors: np.ndarray  # (len(entries), D) float32, unit rows

    def encode(self) -> bytes:
        doc = {"media_id": self.media_id, "media_uri": self.media_uri,
               "metadata": self.metadata,
               "entries": [[e.text, e.start, e.end, e.kind] for e in self.entries]}
        buffer = io.BytesIO()
        np.savez(buffer, vectors=self.vectors.astype(np.float32),
                 doc=np.frombuffer(json.dumps(doc).encode(), np.uint8))
        return buffer.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> MediaEntries:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            doc: dict[str, Any] = json.loads(z["doc"].tobytes())
            vectors = z["vectors"]
        return cls(doc["media_id"], doc["media_uri"], doc["metadata"],
                   [IndexedEntry(*e) for e in doc["entries"]], vectors)


@dataclass(frozen=True)
class Hit:
    media_id: str
    score: float
    entry: IndexedEntry
    metadata: dict[str, str]


@dataclass
class _Cached:
    """What this replica has read of one index."""

    versions: dict[str, str] = field(default_factory=dict)  # media id -> nuid
    media: dict[str, MediaEntries] = field(default_factory=dict)
    matrix: np.ndarray | None = None  # every entry's vector, rows in `rows` order
    rows: list[tuple[str, int]] = field(default_factory=list)


def check_index_name(name: str, field_name: str = "index") -> str:
    if not INDEX_NAME.match(name):
        raise InvalidArgument(f"{field_name} '{name[:80]}' is not a valid index name: use 1-64 "
                              "letters, digits, '-' or '_'", field_name=field_name)
    return name


def check_media_id(media_id: str) -> str:
    if not media_id.strip() or len(media_id) > MAX_MEDIA_ID:
        raise InvalidArgument(f"media_id must be 1-{MAX_MEDIA_ID} characters, not blank",
                              field_name="media_id")
    return media_id


def index_not_found(name: str) -> MeshError:
    return MeshError(f"search index '{name}' does not exist (or holds no media): add media "
                     "to it with IndexMedia first", StatusCode.NOT_FOUND, "INDEX_NOT_FOUND",
                     field_name="index", resource=name)


class SearchIndexes:
    def __init__(self, nats: NatsConnection) -> None:
        self.nats = nats
        self._cache: dict[str, _Cached] = {}

    async def _bucket(self, index: str, create: bool) -> ObjectStore | None:
        js = await self.nats.jetstream()
        try:
            return await js.object_store(BUCKET_PREFIX + index)
        except BucketNotFoundError:
            if not create:
                return None
            return await js.create_object_store(BUCKET_PREFIX + index)

    async def put(self, index: str, media: MediaEntries) -> None:
        """Add or replace a media item's entries; no entries removes the media."""
        bucket = await self._bucket(index, create=bool(media.entries))
        if bucket is None:
            return
        if media.entries:
            await bucket.put(media.media_id, media.encode())
            return
        try:
            await bucket.delete(media.media_id)
        except ObjectNotFoundError:
            pass

    async def search(self, index: str, query: np.ndarray, top_k: int,
                     min_score: float) -> list[Hit]:
        cached = await self._refresh(index)
        if cached.matrix is None or not cached.rows:
            raise index_not_found(index)
        scores = cached.matrix @ query.astype(np.float32)
        k = min(top_k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        hits = []
        for row in best:
            score = float(np.clip(scores[row], 0.0, 1.0))
            if score < min_score:
                break
            media_id, i = cached.rows[row]
            media = cached.media[media_id]
            hits.append(Hit(media_id, score, media.entries[i], media.metadata))
        return hits

    async def _refresh(self, index: str) -> _Cached:
        """Read the objects that changed since this replica last looked."""
        bucket = await self._bucket(index, create=False)
        if bucket is None:
            self._cache.pop(index, None)
            raise index_not_found(index)
        try:
            infos = await bucket.list(ignore_deletes=True)
        except NotFoundError:
            infos = []
        cached = self._cache.setdefault(index, _Cached())
        current = {info.name: info.nuid or "" for info in infos}
        changed = False
        for name in list(cached.versions):
            if name not in current:
                del cached.versions[name], cached.media[name]
                changed = True
        for name, nuid in current.items():
            if cached.versions.get(name) == nuid:
                continue
            try:
                result = await bucket.get(name)
            except ObjectNotFoundError:  # deleted since the listing
                continue
            cached.media[name] = MediaEntries.decode(result.data or b"")
            cached.versions[name] = nuid
            changed = True
        if changed or cached.matrix is None:
            ordered = sorted(cached.media.items())
            cached.rows = [(m, i) for m, media in ordered for i in range(len(media.entries))]
            cached.matrix = np.concatenate([media.vectors for _, media in ordered]) \
                if ordered else None
        return cached
