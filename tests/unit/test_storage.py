"""MediaStore: confinement to the media root, input resolution and output placement."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from mediamesh.errors import (
    InlineDataTooLarge,
    InvalidArgument,
    MediaNotFound,
    MeshError,
    PathOutsideMediaRoot,
    StatusCode,
    UriSchemeNotAllowed,
)
from mediamesh.storage import MediaStore
from mediamesh.v1.common_pb2 import MediaRef

LIMIT = 64


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "media"
    path.mkdir()
    return path


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    return tmp_path / "scratch"


@pytest.fixture
def store(root: Path, scratch: Path) -> MediaStore:
    return MediaStore(root, inline_limit_bytes=LIMIT, scratch_dir=scratch)


# confine -------------------------------------------------------------------------------


def test_relative_path_inside_root_is_confined(store: MediaStore, root: Path) -> None:
    assert store.confine("clips/a.mp4") == root / "clips" / "a.mp4"
    assert store.confine("clips/../b.mp4") == root / "b.mp4"
    assert store.confine(".") == root


def test_dotdot_escape_is_refused(store: MediaStore, root: Path) -> None:
    with pytest.raises(PathOutsideMediaRoot) as info:
        store.confine("../x", field_name="input.uri")
    err = info.value
    assert err.code is StatusCode.INVALID_ARGUMENT
    assert err.reason == "PATH_OUTSIDE_MEDIA_ROOT"
    assert "'../x'" in err.message
    assert str(root) in err.message
    assert err.field_name == "input.uri"
    assert err.resource == "../x"


def test_absolute_path_outside_root_is_refused(store: MediaStore, tmp_path: Path) -> None:
    outside = str(tmp_path / "elsewhere.mp4")
    with pytest.raises(PathOutsideMediaRoot) as info:
        store.confine(outside)
    assert outside in info.value.message
    assert info.value.reason == "PATH_OUTSIDE_MEDIA_ROOT"
    with pytest.raises(PathOutsideMediaRoot):
        store.confine("/etc/passwd")


def test_sibling_directory_sharing_the_prefix_is_outside(store: MediaStore, root: Path) -> None:
    sibling = root.parent / (root.name + "-evil") / "x.mp4"  # "/…/media-evil" starts with "/…/media"
    with pytest.raises(PathOutsideMediaRoot):
        store.confine(str(sibling))


def test_absolute_path_inside_root_is_accepted(store: MediaStore, root: Path) -> None:
    inside = root / "sub" / "clip.wav"
    assert store.confine(str(inside)) == inside


def test_symlink_out_of_root_is_refused(store: MediaStore, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    os.symlink(outside, root / "link.txt")
    with pytest.raises(PathOutsideMediaRoot):
        store.confine("link.txt")
    os.symlink(tmp_path, root / "dirlink")
    with pytest.raises(PathOutsideMediaRoot):
        store.confine("dirlink/outside.txt")


def test_symlink_within_root_is_accepted(store: MediaStore, root: Path) -> None:
    (root / "real.txt").write_text("x")
    os.symlink(root / "real.txt", root / "alias.txt")
    assert store.confine("alias.txt") == root / "real.txt"


def test_nul_byte_and_empty_path_are_invalid(store: MediaStore) -> None:
    with pytest.raises(InvalidArgument) as nul:
        store.confine("a\x00b", field_name="output.uri")
    assert nul.value.field_name == "output.uri"
    assert "NUL" in nul.value.message
    for empty in ("", "   "):
        with pytest.raises(InvalidArgument) as info:
            store.confine(empty)
        assert info.value.code is StatusCode.INVALID_ARGUMENT
        assert "empty" in info.value.message


# local_file -----------------------------------------------------------------------------


async def test_uri_of_existing_file_yields_its_path(store: MediaStore, root: Path) -> None:
    target = root / "in" / "clip.mp4"
    target.parent.mkdir()
    target.write_bytes(b"data")
    async with store.local_file(MediaRef(uri="in/clip.mp4")) as path:
        assert path == target
        assert path.read_bytes() == b"data"
    assert target.exists()  # a stored input is never deleted


async def test_file_uri_is_accepted(store: MediaStore, root: Path) -> None:
    target = root / "my clip.mp4"
    target.write_bytes(b"data")
    async with store.local_file(MediaRef(uri=target.as_uri())) as path:  # space is %20
        assert path == target
    async with store.local_file(MediaRef(uri=f"file://{target}")) as path:
        assert path == target


async def test_file_uri_outside_root_is_refused(store: MediaStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    with pytest.raises(PathOutsideMediaRoot):
        async with store.local_file(MediaRef(uri=outside.as_uri())):
            pass


async def test_missing_file_is_not_found(store: MediaStore) -> None:
    with pytest.raises(MediaNotFound) as info:
        async with store.local_file(MediaRef(uri="nope/missing.mp4")):
            pass
    assert info.value.code is StatusCode.NOT_FOUND
    assert info.value.reason == "MEDIA_NOT_FOUND"
    assert "nope/missing.mp4" in info.value.message
    assert info.value.resource == "nope/missing.mp4"


async def test_directory_is_not_a_media_file(store: MediaStore, root: Path) -> None:
    (root / "folder").mkdir()
    with pytest.raises(MediaNotFound):
        async with store.local_file(MediaRef(uri="folder")):
            pass


@pytest.mark.parametrize("uri", ["http://example.com/a.mp4", "s3://bucket/key", "ftp://h/x"])
async def test_other_schemes_are_refused(store: MediaStore, uri: str) -> None:
    with pytest.raises(UriSchemeNotAllowed) as info:
        async with store.local_file(MediaRef(uri=uri)):
            pass
    assert info.value.code is StatusCode.INVALID_ARGUMENT
    assert info.value.reason == "URI_SCHEME_NOT_ALLOWED"
    assert info.value.field_name == "input.uri"


async def test_inline_data_over_limit_is_refused(store: MediaStore) -> None:
    data = b"x" * (LIMIT + 1)
    with pytest.raises(InlineDataTooLarge) as info:
        async with store.local_file(MediaRef(inline_data=data)):
            pass
    err = info.value
    assert err.code is StatusCode.RESOURCE_EXHAUSTED
    assert err.reason == "INLINE_DATA_TOO_LARGE"
    assert err.metadata["limit_bytes"] == str(LIMIT)
    assert str(LIMIT + 1) in err.message
    assert str(LIMIT) in err.message
    assert err.field_name == "input.inline_data"


async def test_inline_data_within_limit_is_a_temp_file_removed_after(
        store: MediaStore, root: Path, scratch: Path) -> None:
    data = bytes(range(LIMIT))  # exactly at the limit
    async with store.local_file(MediaRef(inline_data=data, name="clip.wav")) as path:
        assert path.read_bytes() == data
        assert path.name == "clip.wav"
        assert path.is_relative_to(scratch)
        assert not path.is_relative_to(root)
    assert not path.exists()
    assert not path.parent.exists()


async def test_inline_name_cannot_escape_the_scratch_folder(store: MediaStore,
                                                            tmp_path: Path) -> None:
    async with store.local_file(MediaRef(inline_data=b"abc", name="../../evil.bin")) as path:
        assert path.name == "evil.bin"
        assert path.read_bytes() == b"abc"
    assert not (tmp_path / "evil.bin").exists()


@pytest.mark.parametrize("name", ["..", "."])
async def test_inline_name_that_is_no_file_name_still_works(store: MediaStore, name: str) -> None:
    """A client-chosen name like '..' must not turn into an internal error."""
    async with store.local_file(MediaRef(inline_data=b"abc", name=name)) as path:
        assert path.read_bytes() == b"abc"


@pytest.mark.parametrize("name,suffix", [("A" * 1025, ""), ("é" * 300 + ".wav", ".wav"),
                                         ("clip\x00.mp4", ".mp4"), ("x." + "y" * 300, "")])
async def test_inline_name_too_long_or_odd_is_shortened(store: MediaStore, name: str,
                                                        suffix: str) -> None:
    """Found by the fuzz: a 1025-character name hint was an OSError (ENAMETOOLONG), INTERNAL."""
    async with store.local_file(MediaRef(inline_data=b"abc", name=name)) as path:
        assert path.read_bytes() == b"abc"
        assert len(path.name.encode()) <= 136 and "\x00" not in path.name
        assert path.name.endswith(suffix)


async def test_empty_inline_data_is_invalid(store: MediaStore) -> None:
    with pytest.raises(InvalidArgument) as info:
        async with store.local_file(MediaRef(inline_data=b"")):
            pass
    assert info.value.field_name == "input.inline_data"


async def test_empty_media_ref_is_invalid(store: MediaStore) -> None:
    with pytest.raises(InvalidArgument) as info:
        async with store.local_file(MediaRef(), field_name="background"):
            pass
    assert "uri" in info.value.message
    assert info.value.field_name == "background"
    assert info.value.code is StatusCode.INVALID_ARGUMENT


async def test_nats_object_without_nats_is_unavailable(store: MediaStore) -> None:
    with pytest.raises(MeshError) as info:
        async with store.local_file(MediaRef(uri="nats-object://bucket/a.mp4")):
            pass
    assert info.value.code is StatusCode.UNAVAILABLE
    assert info.value.reason == "STORAGE_UNAVAILABLE"


# output_path ----------------------------------------------------------------------------


async def test_empty_output_uri_gets_a_fresh_name_under_outputs(store: MediaStore, root: Path) -> None:
    first = await store.output_path("", ".mp4")
    second = await store.output_path("", "mp4")
    assert first.final is not None and second.final is not None
    assert first.final.parent == root / "outputs" and first.path.parent == root / "outputs"
    assert first.path.parent.is_dir()
    assert first.path.suffix == first.final.suffix == second.final.suffix == ".mp4"
    assert not first.final.name.startswith(".") and ".." not in first.final.name
    assert first.final != second.final
    assert first.uri == f"outputs/{first.final.name}" == f"outputs/{first.name}"
    assert not Path(first.uri).is_absolute()
    assert (root / first.uri) == first.final


async def test_named_output_is_placed_and_its_parent_created(store: MediaStore, root: Path) -> None:
    out = await store.output_path("renders/final.mp4", "mp4")
    assert out.final == root / "renders" / "final.mp4"
    assert out.path.parent.is_dir() and out.path.parent == out.final.parent
    assert out.uri == "renders/final.mp4" and out.name == "final.mp4"


async def test_an_output_appears_whole_at_its_uri_only_when_published(store: MediaStore,
                                                                      root: Path) -> None:
    # a job writes to a hidden staging file; the URI shows nothing (or the old file) until
    # publish renames it into place: never half a file, whatever happens to the job
    (root / "clip.mp4").write_bytes(b"old")
    first = await store.output_path("clip.mp4", "mp4", overwrite=True)
    second = await store.output_path("clip.mp4", "mp4", overwrite=True)  # a duplicate call
    assert first.path != second.path and first.path.name.startswith(".")
    assert first.path.suffix == ".mp4"  # writers pick the container by the extension
    first.path.write_bytes(b"first, whole")
    second.path.write_bytes(b"second, half")
    assert (root / "clip.mp4").read_bytes() == b"old"
    second.path.unlink()  # the duplicate failed and cleaned up after itself
    published = await store.publish(first)
    assert published.path == root / "clip.mp4" and published.uri == "clip.mp4"
    assert (root / "clip.mp4").read_bytes() == b"first, whole"
    assert sorted(p.name for p in root.iterdir()) == ["clip.mp4"]


async def test_existing_output_needs_overwrite(store: MediaStore, root: Path) -> None:
    (root / "done.mp4").write_bytes(b"old")
    with pytest.raises(MeshError) as info:
        await store.output_path("done.mp4", "mp4")
    assert info.value.code is StatusCode.FAILED_PRECONDITION
    assert info.value.reason == "OUTPUT_EXISTS"
    assert "done.mp4" in info.value.message
    out = await store.output_path("done.mp4", "mp4", overwrite=True)
    assert out.final == root / "done.mp4"
    assert out.uri == "done.mp4"


async def test_output_outside_root_is_refused(store: MediaStore, tmp_path: Path) -> None:
    with pytest.raises(PathOutsideMediaRoot):
        await store.output_path("../escape.mp4", "mp4")
    with pytest.raises(PathOutsideMediaRoot):
        await store.output_path(str(tmp_path / "escape.mp4"), "mp4", overwrite=True)
    assert not (tmp_path / "escape.mp4").exists()


async def test_output_with_other_scheme_is_refused(store: MediaStore) -> None:
    with pytest.raises(UriSchemeNotAllowed):
        await store.output_path("http://example.com/out.mp4", "mp4")


async def test_sibling_sits_next_to_the_main_output(store: MediaStore, root: Path) -> None:
    main = await store.output_path("renders/clip.mp4", "mp4")
    aux = store.sibling(main, ".alpha", "png")
    assert aux.final == root / "renders" / "clip.alpha.png"
    assert aux.path.parent == aux.final.parent and aux.path.suffix == ".png"
    assert aux.uri == "renders/clip.alpha.png" and aux.object_key is None


async def test_object_store_output_stages_locally_with_its_key(root: Path, tmp_path: Path) -> None:
    store = MediaStore(root, inline_limit_bytes=10, nats_url=None, scratch_dir=tmp_path / "s")
    out = await store.output_path("nats-object://renders/a/clip.mp4", "mp4", overwrite=True)
    assert out.object_key == ("renders", "a/clip.mp4")
    assert out.uri == "nats-object://renders/a/clip.mp4"
    assert out.path.is_relative_to(tmp_path / "s") and not out.path.is_relative_to(root)
    aux = store.sibling(out, ".alpha", "png")
    assert aux.object_key == ("renders", "a/clip.alpha.png")
    with pytest.raises(InvalidArgument):
        await store.output_path("nats-object://renders", "mp4", overwrite=True)


# Paths the operating system refuses (found by tests/fuzz): the request's fault, so
# INVALID_ARGUMENT naming the field, never the OSError or RuntimeError pathlib raises.


@pytest.mark.parametrize("uri", ["x" * 300, "a/" + "é" * 200 + "/b.mp4", "é" * 20_000,
                                 "a/" * 3000, "a/" * 2040])
async def test_paths_longer_than_the_os_allows_are_invalid(store: MediaStore, uri: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        async with store.local_file(MediaRef(uri=uri), "image"):
            pass
    assert info.value.field_name == "image.uri" and "at most" in info.value.message
    assert len(info.value.message) < 400  # the path is quoted shortened
    with pytest.raises(InvalidArgument):
        await store.output_path(uri, "mp4", overwrite=True)


async def test_symlink_loop_is_invalid(store: MediaStore, root: Path) -> None:
    (root / "a.mp4").symlink_to(root / "b.mp4")
    (root / "b.mp4").symlink_to(root / "a.mp4")
    for uri in ("a.mp4", "a.mp4/inside.mp4"):
        with pytest.raises(InvalidArgument, match="loop of symbolic links"):
            async with store.local_file(MediaRef(uri=uri)):
                pass
        with pytest.raises(InvalidArgument, match="loop of symbolic links"):
            await store.output_path(uri, "mp4", overwrite=True)


async def test_special_file_input_says_what_it_is(store: MediaStore, root: Path) -> None:
    os.mkfifo(root / "pipe.wav")
    with pytest.raises(MediaNotFound, match="special file"):
        async with store.local_file(MediaRef(uri="pipe.wav")):
            pass


async def test_output_never_replaces_a_folder_or_special_file(store: MediaStore,
                                                               root: Path) -> None:
    (root / "renders").mkdir()
    os.mkfifo(root / "pipe.wav")
    for uri in ("renders", ".", "pipe.wav"):
        with pytest.raises(InvalidArgument, match="folder or a special file"):
            await store.output_path(uri, "mp4", overwrite=True)
    assert (root / "renders").is_dir() and not (root / "pipe.wav").is_file()


async def test_output_inside_a_file_is_invalid(store: MediaStore, root: Path) -> None:
    (root / "clip.mp4").write_bytes(b"x")
    with pytest.raises(InvalidArgument, match="inside a file"):
        await store.output_path("clip.mp4/out.mp4", "mp4", overwrite=True)
    with pytest.raises(InvalidArgument, match="inside a file"):
        await store.output_path("clip.mp4/deeper/out.mp4", "mp4")
