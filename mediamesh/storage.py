"""Where media lives: resolve a MediaRef to a local file and publish outputs as MediaRefs.

Backends: the local media root (the embedded default; no path may leave it, symlinks
included), the NATS JetStream object store (`nats-object://bucket/name`), and inline bytes up
to a configured limit. Services only ever see local paths.
"""
from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse

from mediamesh.errors import (
    InlineDataTooLarge,
    InvalidArgument,
    MediaNotFound,
    MeshError,
    PathOutsideMediaRoot,
    StatusCode,
    StorageUnavailable,
    UriSchemeNotAllowed,
)
from mediamesh.remote_fetch import FetchPolicy, fetch

NATS_OBJECT_SCHEME = "nats-object"
OUTPUTS_DIR = "outputs"


class MediaRefLike(Protocol):
    """The fields of mediamesh.v1.MediaRef we read (kept structural: no proto import here)."""

    uri: str
    inline_data: bytes
    name: str

    def WhichOneof(self, group: str) -> str | None: ...  # noqa: N802 - protobuf API


@dataclass(frozen=True)
class StoredOutput:
    """An output file a service writes locally at `path`, and the URI clients fetch it by.

    `path` is a staging file until `MediaStore.publish` makes it visible at the URI: for
    the media root it is renamed to `final` (atomically: a reader never sees half a file,
    and two jobs writing the same URI at once each finish their own file, the last one
    published wins); for the object store it is uploaded to `object_key` (bucket, name).
    """

    path: Path
    uri: str
    object_key: tuple[str, str] | None = None
    final: Path | None = None

    @property
    def name(self) -> str:
        """The output's file name, as clients will see it."""
        if self.final is not None:
            return self.final.name
        return Path(urlparse(self.uri).path).name or self.path.name


#: Linux limits: a file or folder name of 255 bytes, a path of 4096 (the kernel answers
#: ENAMETOOLONG past them, an OSError that is the request's fault, not the server's).
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 4096


def shown(text: str, limit: int = 200) -> str:
    """`text` as quoted in an error message: whole if short, else its start."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_path_length(path_text: str, field_name: str, full_path: Path | None = None) -> None:
    """INVALID_ARGUMENT when a path (`full_path`: where it lands, the media root included)
    or one of its names is longer than the OS allows."""
    size = len(str(full_path or path_text).encode())
    if size > PATH_MAX_BYTES:
        raise InvalidArgument(f"{field_name} makes a path of {size} bytes in the media root; "
                              f"paths may have at most {PATH_MAX_BYTES}", field_name=field_name)
    longest = max(path_text.split("/"), key=lambda name: len(name.encode()))
    if len(longest.encode()) > NAME_MAX_BYTES:
        raise InvalidArgument(f"{field_name} has a name of {len(longest.encode())} bytes "
                              f"('{shown(longest, 40)}'); file and folder names may have at "
                              f"most {NAME_MAX_BYTES}", field_name=field_name)


def _clipped(text: str, max_bytes: int) -> str:
    return text.encode()[:max_bytes].decode(errors="ignore")


def scratch_name(hint: str) -> str:
    """A file name for media fetched to scratch from a client's name hint: its last
    component only (a name never picks the folder), no NUL, short enough for any filesystem,
    with the extension kept (decoders sniff by it)."""
    safe = Path(hint.replace("\x00", "")).name
    if safe in ("", ".", ".."):
        return "media.bin"
    suffix = Path(safe).suffix
    return _clipped(safe[:len(safe) - len(suffix)], 120) + _clipped(suffix, 16)


def staging_path(final: Path) -> Path:
    """A hidden, unique file beside `final` with its extension (writers pick the format
    by it): clip.mp4 -> .clip.<random>.partial.mp4. Same folder, so publishing is a
    rename on one filesystem."""
    return final.with_name(f".{final.stem}.{uuid.uuid4().hex[:12]}.partial{final.suffix}")


class MediaStore:
    """Resolves input references and places outputs, confined to one media root."""

    def __init__(self, media_root: Path, *, inline_limit_bytes: int, nats_url: str | None = None,
                 scratch_dir: Path | None = None,
                 nats_options: dict[str, Any] | None = None,
                 remote: FetchPolicy | None = None) -> None:
        self.root = media_root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.inline_limit_bytes = inline_limit_bytes
        self.nats_url = nats_url
        self.nats_options = dict(nats_options or {})  # credentials (nats_client.nats_options)
        self.remote = remote  # http(s):// inputs allowed, with these limits (None: refused)
        self.scratch_dir = scratch_dir or Path(tempfile.gettempdir())
        self._nats: object | None = None

    # Confinement ---------------------------------------------------------------------

    def confine(self, path_text: str, field_name: str = "uri") -> Path:
        """The absolute path of `path_text` (relative to the root), guaranteed inside it."""
        if "\x00" in path_text:
            raise InvalidArgument(f"{field_name} contains a NUL byte", field_name=field_name)
        if not path_text.strip():
            raise InvalidArgument(f"{field_name} is empty: give a path inside the media root",
                                  field_name=field_name)
        candidate = Path(path_text)
        joined = candidate if candidate.is_absolute() else self.root / candidate
        check_path_length(path_text, field_name, joined)
        try:
            resolved = joined.resolve()  # follows symlinks: a link out of the root is caught
        except RuntimeError:  # pathlib's "Symlink loop from ..."
            raise InvalidArgument(f"{field_name} '{shown(path_text)}' is a loop of symbolic "
                                  "links; point it at a real file", field_name=field_name,
                                  resource=shown(path_text)) from None
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise PathOutsideMediaRoot(
                f"{field_name} '{shown(path_text)}' resolves outside the media root "
                f"{self.root}; use a path inside it (no '..', no absolute paths elsewhere, no "
                "symlinks out)", resource=shown(path_text), field_name=field_name)
        return resolved

    def relative_uri(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()

    # Inputs ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def local_file(self, ref: MediaRefLike, field_name: str = "input") -> AsyncIterator[Path]:
        """A local file holding the referenced media for the duration of the block."""
        kind = ref.WhichOneof("source")
        if kind is None:
            raise InvalidArgument(f"{field_name} is empty: set {field_name}.uri (a path in the "
                                  f"media root) or {field_name}.inline_data",
                                  field_name=field_name)
        if kind == "inline_data":
            data = ref.inline_data
            if len(data) > self.inline_limit_bytes:
                raise InlineDataTooLarge(
                    f"{field_name}.inline_data is {len(data)} bytes, over the inline limit of "
                    f"{self.inline_limit_bytes} bytes; put the file in the media root or the "
                    "object store and pass its uri", field_name=f"{field_name}.inline_data",
                    limit=self.inline_limit_bytes)
            if not data:
                raise InvalidArgument(f"{field_name}.inline_data is empty",
                                      field_name=f"{field_name}.inline_data")
            with self._scratch_file(ref.name or "inline.bin") as path:
                path.write_bytes(data)
                yield path
            return
        uri = ref.uri
        parsed = urlparse(uri)
        scheme = parsed.scheme.lower()
        if scheme in ("", "file"):
            path_text = unquote(parsed.path) if scheme == "file" else uri
            path = self.confine(path_text, f"{field_name}.uri")
            if not path.is_file():
                what = ("is a folder or a special file, not a media file," if path.exists()
                        else "does not exist")
                raise MediaNotFound(f"{field_name}.uri '{shown(uri)}' {what} in the media root "
                                    f"{self.root}", resource=shown(uri))
            yield path
            return
        if scheme == NATS_OBJECT_SCHEME:
            with self._scratch_file(Path(parsed.path).name or "object.bin") as path:
                await self._nats_get(parsed.netloc, parsed.path.lstrip("/"), path, uri)
                yield path
            return
        if scheme in ("http", "https") and self.remote is not None:
            with self._scratch_file(Path(unquote(parsed.path)).name or "remote.bin") as path:
                await fetch(uri, path, self.remote, f"{field_name}.uri")
                yield path
            return
        hint = (" (http(s) inputs are off on this server: the operator enables http_fetch)"
                if scheme in ("http", "https") else "")
        raise UriSchemeNotAllowed(
            f"{field_name}.uri scheme '{scheme}:' is not allowed{hint}; use a path in the media "
            f"root or {NATS_OBJECT_SCHEME}://bucket/name", field_name=f"{field_name}.uri")

    @contextlib.contextmanager
    def _scratch_file(self, name: str) -> contextlib.Generator[Path, None, None]:  # type: ignore[name-defined]
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="mm-", dir=self.scratch_dir))
        try:
            yield folder / scratch_name(name)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # Outputs ---------------------------------------------------------------------------

    async def output_path(self, uri: str, extension: str, *, overwrite: bool = False,
                          field_name: str = "output.uri") -> StoredOutput:
        """Where to write an output: `uri` in the media root or the object store, or a
        fresh name under outputs/. Refuses to replace an existing output unless asked."""
        extension = extension.lstrip(".")
        if not uri:
            path = self.root / OUTPUTS_DIR / f"{uuid.uuid4().hex}.{extension}"
            path.parent.mkdir(parents=True, exist_ok=True)
            return self._staged(path)
        parsed = urlparse(uri)
        if parsed.scheme == NATS_OBJECT_SCHEME:
            bucket, name = parsed.netloc, parsed.path.lstrip("/")
            if not bucket or not name:
                raise InvalidArgument(f"{field_name} '{uri}' must be "
                                      f"{NATS_OBJECT_SCHEME}://bucket/name", field_name=field_name)
            if not overwrite and await self._object_exists(bucket, name):
                raise self._exists_error(uri, field_name)
            staging = self.scratch_dir / "staging" / f"{uuid.uuid4().hex}.{extension}"
            staging.parent.mkdir(parents=True, exist_ok=True)
            return StoredOutput(staging, uri, (bucket, name))
        if parsed.scheme not in ("", "file"):
            raise UriSchemeNotAllowed(f"{field_name} must be a path in the media root or "
                                      f"{NATS_OBJECT_SCHEME}://bucket/name (got scheme "
                                      f"'{parsed.scheme}:')", field_name=field_name)
        path = self.confine(unquote(parsed.path) if parsed.scheme else uri, field_name)
        if path.exists() and not path.is_file():
            raise InvalidArgument(f"{field_name} '{shown(uri)}' is a folder or a special file; "
                                  "an output replaces files only: add a file name",
                                  field_name=field_name)
        if path.exists() and not overwrite:
            raise self._exists_error(uri, field_name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise InvalidArgument(f"{field_name} '{shown(uri)}' puts the output inside a file "
                                  "(a part of its folder path is a file, not a folder): "
                                  "choose another folder", field_name=field_name) from None
        return self._staged(path)

    def _staged(self, final: Path) -> StoredOutput:
        return StoredOutput(staging_path(final), self.relative_uri(final), final=final)

    @staticmethod
    def _exists_error(uri: str, field_name: str) -> MeshError:
        return MeshError(f"{field_name} '{uri}' already exists; set output.overwrite or choose "
                         "another name", StatusCode.FAILED_PRECONDITION, "OUTPUT_EXISTS",
                         field_name=field_name, resource=uri)

    def sibling(self, output: StoredOutput, suffix: str, extension: str) -> StoredOutput:
        """An auxiliary output next to `output`: `clip.mp4` -> `clip<suffix>.<extension>`."""
        extension = extension.lstrip(".")
        if output.final is not None:
            final = output.final.with_name(f"{output.final.stem}{suffix}.{extension}")
            return self._staged(final)
        path = output.path.with_name(f"{output.path.stem}{suffix}.{extension}")
        if output.object_key is None:
            return StoredOutput(path, self.relative_uri(path))
        bucket, name = output.object_key
        stem = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name
        aux = f"{stem}{suffix}.{extension}"
        return StoredOutput(path, f"{NATS_OBJECT_SCHEME}://{bucket}/{aux}", (bucket, aux))

    async def publish(self, output: StoredOutput) -> StoredOutput:
        """Make a finished output visible at its URI: renamed into place in the media
        root, uploaded to the object store. Returns it as published (`path` final)."""
        if output.final is not None:
            output.path.replace(output.final)
            return StoredOutput(output.final, output.uri)
        if output.object_key is not None:
            bucket, name = output.object_key
            await self.put_object(bucket, name, output.path, create_bucket=True)
            output.path.unlink(missing_ok=True)
        return output

    # NATS object store -------------------------------------------------------------------

    async def _object_store(self, bucket: str, create: bool = False):  # type: ignore[no-untyped-def]
        import nats
        from nats.js.errors import BucketNotFoundError

        if not self.nats_url:
            raise StorageUnavailable("no NATS configured for nats-object:// URIs")
        try:
            if self._nats is None:
                self._nats = await nats.connect(self.nats_url, connect_timeout=2,
                                                max_reconnect_attempts=2, **self.nats_options)
            js = self._nats.jetstream()  # type: ignore[attr-defined]
            try:
                return await js.object_store(bucket)
            except BucketNotFoundError:
                if not create:
                    raise
                return await js.create_object_store(bucket)
        except BucketNotFoundError as exc:
            raise MediaNotFound(f"object store bucket '{bucket}' does not exist",
                                resource=bucket) from exc
        except (OSError, TimeoutError, nats.errors.NoServersError) as exc:
            raise StorageUnavailable(f"NATS at {self.nats_url} is unreachable: {exc}",
                                     resource=bucket) from exc

    async def _nats_get(self, bucket: str, name: str, target: Path, uri: str) -> None:
        from nats.js.errors import ObjectNotFoundError

        store = await self._object_store(bucket)
        try:
            result = await store.get(name)
        except ObjectNotFoundError as exc:
            raise MediaNotFound(f"object '{name}' not found in bucket '{bucket}'",
                                resource=uri) from exc
        target.write_bytes(result.data or b"")

    async def put_object(self, bucket: str, name: str, source: Path, *,
                         create_bucket: bool = False) -> str:
        """Upload a local file to the object store; returns its nats-object:// URI."""
        store = await self._object_store(bucket, create=create_bucket)
        await store.put(name, source.read_bytes())
        return f"{NATS_OBJECT_SCHEME}://{bucket}/{name}"

    async def _object_exists(self, bucket: str, name: str) -> bool:
        from nats.js.errors import BucketNotFoundError, ObjectNotFoundError

        try:
            store = await self._object_store(bucket)
            await store.get_info(name)
        except (ObjectNotFoundError, BucketNotFoundError, MediaNotFound):
            return False
        return True

    async def close(self) -> None:
        if self._nats is not None:
            await self._nats.close()  # type: ignore[attr-defined]
            self._nats = None
