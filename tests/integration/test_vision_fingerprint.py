"""Fingerprint and MatchFingerprints through the real mesh: client -> VisionService ->
Triton (frame_hash), on a generated clip, an altered copy with known alignment
(mediamesh.synth.copies) and an unrelated clip."""
from __future__ import annotations

import json
from pathlib import Path

import grpc
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.grpc_errors import error_info
from mediamesh.synth import copies, videos
from mediamesh.v1 import common_pb2, vision_pb2
from tests.integration.streams import collect
from tests.integration.test_mesh_health import cli

RECIPE = copies.CopyRecipe(trim_start=3.2, keep=14.0, scale=0.5, crf=30, logo=True)


@pytest.fixture(scope="module")
def clips(media_root: Path) -> dict[str, float]:
    """original.mp4 (seed 611), copy.mp4 (RECIPE of it), other.mp4 (seed 612); returns the
    copy's true offset."""
    folder = media_root / "tests" / "fingerprint"
    folder.mkdir(parents=True, exist_ok=True)
    videos.write_clip(folder / "original.mp4", 611, shots=6)
    videos.write_clip(folder / "other.mp4", 612, shots=6)
    truth = copies.write_copy(folder / "original.mp4", folder / "copy.mp4", RECIPE)
    return {"offset": truth.offset, "duration": truth.duration}


async def fingerprint(client: MeshClient, name: str, sample_fps: float = 0.0
                      ) -> tuple[list[common_pb2.Progress], vision_pb2.FingerprintResult]:
    request = vision_pb2.FingerprintRequest(
        video=common_pb2.MediaRef(uri=f"tests/fingerprint/{name}"), sample_fps=sample_fps)
    return await collect(client.vision.Fingerprint(request, timeout=300))


async def test_a_copy_matches_its_original_where_it_was_cut_and_nothing_else(
        client: MeshClient, clips: dict[str, float], media_root: Path) -> None:
    progress, original = await fingerprint(client, "original.mp4")
    _, copy = await fingerprint(client, "copy.mp4")
    _, other = await fingerprint(client, "other.mp4")
    duration = media.probe(media_root / "tests/fingerprint/original.mp4").duration
    assert original.duration == pytest.approx(duration, abs=0.05)
    assert original.algorithm and original.version == 1
    assert len(original.frame_hashes) == pytest.approx(2 * duration, abs=2)  # 2 per second
    assert all(len(h.hash) == 32 for h in original.frame_hashes)
    times = [h.time for h in original.frame_hashes]
    assert times == sorted(times) and times[1] - times[0] == pytest.approx(0.5)
    assert progress and progress[-1].fraction == pytest.approx(1.0)
    response = await client.vision.MatchFingerprints(vision_pb2.MatchFingerprintsRequest(
        query=copy.fingerprint,
        candidates=[vision_pb2.Candidate(id="other", fingerprint=other.fingerprint),
                    vision_pb2.Candidate(id="original", fingerprint=original.fingerprint)]),
        timeout=60)
    assert [m.id for m in response.matches] == ["original"]
    found = response.matches[0]
    assert found.score > 0.6
    assert found.offset == pytest.approx(clips["offset"], abs=0.3)
    span = found.query_range.end - found.query_range.start
    assert 0.6 * clips["duration"] <= span <= clips["duration"] + 0.3  # noise shots aside
    assert found.candidate_range.start == pytest.approx(found.query_range.start + found.offset,
                                                        abs=1e-3)
    # a copy's own PDQ hashes are close to the original's at the same pictures
    hashes = np.array([np.frombuffer(h.hash, np.uint8) for h in original.frame_hashes])
    at = round((clips["offset"] + 5.0) * 2)
    near = np.frombuffer(copy.frame_hashes[10].hash, np.uint8)
    distances = np.unpackbits(hashes ^ near, axis=1).sum(axis=1)
    assert distances[at - 1:at + 2].min() < 64 < np.median(distances)


async def test_denser_sampling_is_honoured(client: MeshClient, clips: dict[str, float]) -> None:
    _, dense = await fingerprint(client, "copy.mp4", sample_fps=5.0)
    assert len(dense.frame_hashes) == pytest.approx(5 * clips["duration"], abs=2)


BAD_MATCH = [
    ("garbage query", vision_pb2.MatchFingerprintsRequest(query=b"hello"), "query"),
    ("damaged candidate", None, "candidates[0]"),
    ("min_score", vision_pb2.MatchFingerprintsRequest(min_score=1.5), "min_score"),
]


@pytest.mark.parametrize("name,request_,field", BAD_MATCH, ids=[b[0] for b in BAD_MATCH])
async def test_bad_fingerprints_are_invalid_argument(
        client: MeshClient, clips: dict[str, float], name: str,
        request_: vision_pb2.MatchFingerprintsRequest | None, field: str) -> None:
    _, good = await fingerprint(client, "other.mp4")
    if request_ is None:
        request_ = vision_pb2.MatchFingerprintsRequest(query=good.fingerprint, candidates=[
            vision_pb2.Candidate(id="x", fingerprint=good.fingerprint[:-3])])
    elif not request_.query:
        request_.query = good.fingerprint
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.vision.MatchFingerprints(request_, timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert field in caught.value.details()
    assert error_info(caught.value)[0] == "INVALID_ARGUMENT_VALUE"


@pytest.mark.parametrize("request_,text", [
    (vision_pb2.FingerprintRequest(video=common_pb2.MediaRef(uri="tests/fingerprint/copy.mp4"),
                                   sample_fps=-1), "sample_fps"),
    (vision_pb2.FingerprintRequest(video=common_pb2.MediaRef(
        inline_data=b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 300, name="cut.mp4")), "cut.mp4"),
])
async def test_bad_fingerprint_requests_are_invalid_argument(
        client: MeshClient, clips: dict[str, float],
        request_: vision_pb2.FingerprintRequest, text: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(client.vision.Fingerprint(request_, timeout=60))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    assert text in caught.value.details()


def test_cli_saves_a_fingerprint_and_matches_files_and_videos(
        mesh: Settings, clips: dict[str, float], tmp_path: Path) -> None:
    folder = mesh.media_root / "tests" / "fingerprint"
    saved = tmp_path / "original.mmfp"
    made = cli(mesh, "fingerprint", str(folder / "original.mp4"), "-o", str(saved))
    assert made.returncode == 0, made.stderr
    assert saved.stat().st_size > 1000 and "samples over" in made.stdout
    table = cli(mesh, "match", str(folder / "copy.mp4"), str(saved), str(folder / "other.mp4"))
    assert table.returncode == 0, table.stderr
    assert "1 of 2 candidates" in table.stdout and "original.mmfp" in table.stdout
    as_json = json.loads(cli(mesh, "match", str(folder / "copy.mp4"), str(saved),
                             "--json").stdout)
    assert as_json["matches"][0]["offset"] == pytest.approx(clips["offset"], abs=0.3)
    broken = tmp_path / "broken.mmfp"
    broken.write_bytes(b"MMFP" + b"\x01" * 40)
    failed = cli(mesh, "match", str(saved), str(broken))
    assert failed.returncode == 1 and "INVALID_ARGUMENT" in failed.stderr
    assert "Traceback" not in failed.stderr
