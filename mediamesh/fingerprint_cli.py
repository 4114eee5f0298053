"""`mediamesh fingerprint VIDEO` and `mediamesh match QUERY CANDIDATE...`: VisionService's
Fingerprint and MatchFingerprints on the running mesh.

A fingerprint is saved as a `.mmfp` file (the RPC's opaque bytes, as they came); `match`
takes videos (fingerprinted first, each with a progress bar) or `.mmfp` files alike.
"""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from mediamesh.config import Settings
from mediamesh.jobs import JobError, call_mesh, run_with_progress, stage
from mediamesh.v1 import vision_pb2

SUFFIX = ".mmfp"


async def fingerprint_video(settings: Settings, video: Path, console: Console,
                            sample_fps: float = 0.0) -> vision_pb2.FingerprintResult:
    """Fingerprint a local video with a progress bar (on `console`)."""
    request = vision_pb2.FingerprintRequest(video=stage(settings, video), sample_fps=sample_fps)
    result: vision_pb2.FingerprintResult = await run_with_progress(
        settings, console, f"fingerprint of {video.name}",
        lambda mesh: mesh.vision.Fingerprint(request, timeout=3600))
    return result


async def load_or_fingerprint(settings: Settings, path: Path, console: Console) -> bytes:
    """A `.mmfp` file's bytes, or a video's fingerprint from the mesh."""
    if path.suffix == SUFFIX:
        if not path.is_file():
            raise JobError(f"{path} does not exist")
        return path.read_bytes()
    return (await fingerprint_video(settings, path, console)).fingerprint


async def match_files(settings: Settings, query: Path, candidates: list[Path],
                      console: Console, min_score: float = 0.0
                      ) -> vision_pb2.MatchFingerprintsResponse:
    """Match `query` against every candidate (videos or .mmfp files)."""
    request = vision_pb2.MatchFingerprintsRequest(
        query=await load_or_fingerprint(settings, query, console), min_score=min_score)
    for path in candidates:
        request.candidates.add(id=str(path),
                               fingerprint=await load_or_fingerprint(settings, path, console))
    response: vision_pb2.MatchFingerprintsResponse = await call_mesh(
        settings, lambda mesh: mesh.vision.MatchFingerprints(request, timeout=600))
    return response


def matches_table(query: Path, response: vision_pb2.MatchFingerprintsResponse,
                  candidates: int) -> Table:
    """One row per matching candidate: how sure, and where the two line up."""
    table = Table(title=f"{len(response.matches)} of {candidates} candidates show "
                        f"{query.name}'s pictures",
                  caption="candidate time = query time + offset")
    for column in ("candidate", "score", "offset s", "query span s", "candidate span s"):
        table.add_column(column, justify="left" if column == "candidate" else "right")
    for m in response.matches:
        table.add_row(m.id, f"{m.score:.3f}", f"{m.offset:+.2f}",
                      f"{m.query_range.start:.1f}-{m.query_range.end:.1f}",
                      f"{m.candidate_range.start:.1f}-{m.candidate_range.end:.1f}")
    return table
