"""Mixed load on the mesh at rising concurrency, and Triton dynamic batching on vs off.

Part 1, the mesh, closed loop. At each level C (--levels, default 1,2,4,8,16) C clients each
send a request, wait for its answer and send the next, for --seconds; every client walks the
same fixed mix (--mix, default AnalyzeRhythm=2,DetectChorus=2,KeyGreenScreen=2,
RecognizeText=3,medley=1), each from its own place in it. Requests started before the end of
a level are waited for and counted: throughput = answers / (last answer - level start).
  AnalyzeRhythm   a ~3-minute MP3 (mediamesh.synth.songs; three songs in turn)
  DetectChorus    the same songs with the beat grid of an earlier AnalyzeRhythm, as the
                  medley workflow asks it (the audio service's analysis cache answers)
  KeyGreenScreen  a 2 s 640x360 green-screen clip (mediamesh.synth.green_screen) over a colour
  RecognizeText   OCR of a 1280x720 frame with a subtitle, a sign and a watermark
                  (mediamesh.synth.subtitles)
  medley          workflows/medley.yaml on two songs through the orchestrator: SubmitWorkflow,
                  WatchRun to the end, GetRun; a run that does not succeed is an error
Per level and RPC: throughput (successful answers/s), p50/p99 latency of the successes and
the error rate by status code. Per level: the batch sizes Triton achieved per model and
their queue time (deltas of its Prometheus counters: mediamesh.mesh.triton_metrics), and the
peak RSS of every part's process tree, sampled every second
(mediamesh.mesh.process_memory).

The knee: the first level L whose next level gains less than 10% throughput while its
typical p99 grows more than 50%: past L more clients only wait in queues. Typical p99 = the
geometric mean of the RPCs' p99s, so a fast RPC weighs as much as the medley. "not reached"
when no step of the levels qualifies.

Part 2, Triton dynamic batching on vs off, for every model whose config (the variant the
mesh's Triton runs, e.g. configs/cpu.pbtxt) has dynamic_batching. On: the mesh's own Triton,
as configured. Off: a second Triton on free ports over a temporary repository holding the
same configs less their dynamic_batching block (model files symlinked), in explicit model
control so that it holds one model at a time. Per model, --batch-concurrency closed-loop
clients send the request its service sends (rows and sizes in REQUESTS, read off the
services' own constants; dtypes and fixed dims from the model's config), on and off
alternating over --batch-rounds rounds of --batch-seconds (off first every other round), so
machine noise hits both. Reported: throughput on and off and their ratio, requests joined per
execution, p50/p99.

Prints tables and writes bench/results/load.json (--quick: bench/results/load_quick.json).

    python bench/load.py                          # full run, ~15 min on 2 idle cores
    python bench/load.py --quick                  # smoke run, ~2 min
    python bench/load.py --state-dir .mediamesh   # against the mesh `mediamesh up` started
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from pathlib import Path
from statistics import geometric_mean
from typing import Any

import grpc
import numpy as np
from rich.console import Console
from rich.table import Table
from tritonclient.utils import triton_to_np_dtype

from bench.harness import bench_console, bench_mesh, latency_summary, machine
from mediamesh import media, ocr
from mediamesh.client import JobFailed, MeshClient
from mediamesh.config import Settings, load_settings
from mediamesh.errors import MeshError
from mediamesh.inference import TritonClient
from mediamesh.mesh import process_memory
from mediamesh.mesh.ports import free_port_base
from mediamesh.mesh.servers import prepare_triton_backends, triton_command, triton_environment
from mediamesh.mesh.supervisor import SupervisorNotRunning
from mediamesh.mesh.triton_metrics import (
    BatchStats,
    ModelCounters,
    batch_deltas,
    batch_stats,
    metrics_url,
    scrape,
)
from mediamesh.synth import green_screen, subtitles
from mediamesh.synth.songs import render_song
from mediamesh.v1 import audio_pb2, common_pb2, text_pb2, vision_pb2, workflow_pb2
from services.audio import rhythm
from services.text import embedder, transcriber
from services.vision import (
    fingerprint_job,
    portrait,
    reframe_job,
    region_blur,
    shot_detection,
)
from services.vision import green_screen as keying_job

RESULTS = Path(__file__).resolve().parent / "results"
RPCS = ("AnalyzeRhythm", "DetectChorus", "KeyGreenScreen", "RecognizeText", "medley")
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"levels": "1,2,4,8,16", "seconds": 40.0, "batch_rounds": 3,
             "batch_seconds": 3.0, "out": RESULTS / "load.json"},
    "quick": {"levels": "1,4", "seconds": 6.0, "batch_rounds": 1, "batch_seconds": 1.0,
              "out": RESULTS / "load_quick.json"},
}
DEFAULT_MIX = "AnalyzeRhythm=2,DetectChorus=2,KeyGreenScreen=2,RecognizeText=3,medley=1"
SONG_SEEDS = (50023, 1, 50033)  # 123, 173 and 136 BPM, 4/4, about 3 minutes each
CLIP_W, CLIP_H, CLIP_FPS, CLIP_SECONDS = 640, 360, 25.0, 2.0
PICTURE_W, PICTURE_H = 1280, 720
MIN_GAIN, MAX_P99_GROWTH = 0.10, 0.50  # the knee's thresholds
MEMORY_PERIOD_S = 1.0


# -- pure functions ---------------------------------------------------------------------

def parse_mix(text: str) -> dict[str, int]:
    """'AnalyzeRhythm=2,medley=1' -> weights; unknown names and weights < 1 are errors."""
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition("=")
        if name not in RPCS or not weight.isdigit() or int(weight) < 1:
            raise ValueError(f"bad mix item {item!r}: want NAME=N with N >= 1 and NAME one of "
                             f"{', '.join(RPCS)}")
        weights[name] = int(weight)
    if not weights:
        raise ValueError("the mix is empty")
    return weights


def mix_sequence(weights: Mapping[str, int]) -> list[str]:
    """One cycle of the mix, interleaved (smooth weighted round robin): each name appears
    `weight` times, spread out rather than in runs."""
    total = sum(weights.values())
    credit = dict.fromkeys(weights, 0)
    sequence = []
    for _ in range(total):
        for name, weight in weights.items():
            credit[name] += weight
        chosen = max(credit, key=lambda n: credit[n])
        credit[chosen] -= total
        sequence.append(chosen)
    return sequence


def parse_levels(text: str) -> list[int]:
    levels = [int(v) for v in text.split(",") if v.strip()]
    if not levels or any(v < 1 for v in levels) or levels != sorted(set(levels)):
        raise ValueError(f"levels {text!r}: want rising positive integers, e.g. 1,2,4,8")
    return levels


@dataclass(frozen=True)
class Outcome:
    rpc: str
    latency_s: float
    code: str  # "OK" or a gRPC status code name (RUN_STATE_FAILED for a failed workflow)


def rpc_summary(outcomes: Sequence[Outcome], wall_s: float) -> dict[str, Any]:
    """Throughput, latency of the successes, error rate and codes of one RPC's outcomes."""
    ok_ms = [o.latency_s * 1000 for o in outcomes if o.code == "OK"]
    errors = Counter(o.code for o in outcomes if o.code != "OK")
    latency = latency_summary(ok_ms)
    return {"requests": len(outcomes), "ok": len(ok_ms),
            "throughput_rps": len(ok_ms) / wall_s if wall_s > 0 else 0.0,
            "p50_ms": latency["p50_ms"], "p99_ms": latency["p99_ms"],
            "error_rate": sum(errors.values()) / len(outcomes) if outcomes else 0.0,
            "errors": dict(errors)}


def typical_p99(rpcs: Mapping[str, Mapping[str, Any]]) -> float | None:
    """Geometric mean of the RPCs' p99 latencies (those with any success)."""
    values = [r["p99_ms"] for r in rpcs.values() if r["p99_ms"]]
    return geometric_mean(values) if values else None


@dataclass(frozen=True)
class LevelPoint:
    concurrency: int
    throughput: float
    p99_ms: float | None


def find_knee(points: Sequence[LevelPoint], min_gain: float = MIN_GAIN,
              max_p99_growth: float = MAX_P99_GROWTH) -> int | None:
    """The first level whose next one gains < min_gain throughput while p99 grows by more
    than max_p99_growth (see the module docstring); None when no step qualifies."""
    for here, after in pairwise(points):
        if here.p99_ms is None or after.p99_ms is None:
            continue
        if after.throughput < here.throughput * (1 + min_gain) and \
                after.p99_ms > here.p99_ms * (1 + max_p99_growth):
            return here.concurrency
    return None


_DYNAMIC_BATCHING = re.compile(r"^\s*dynamic_batching\s*\{")


def _code(line: str) -> str:
    """A config line without its comment (pbtxt strings here never hold '#')."""
    return line.split("#", 1)[0]


def has_dynamic_batching(config_text: str) -> bool:
    return any(_DYNAMIC_BATCHING.match(_code(line)) for line in config_text.splitlines())


def without_dynamic_batching(config_text: str) -> str:
    """The model config with its dynamic_batching block (one line or several) removed."""
    kept, depth = [], 0
    for line in config_text.splitlines(keepends=True):
        code = _code(line)
        if depth == 0 and _DYNAMIC_BATCHING.match(code):
            depth = code.count("{") - code.count("}")
            continue
        if depth > 0:
            depth += code.count("{") - code.count("}")
            continue
        kept.append(line)
    return "".join(kept)


def model_config_path(repository: Path, model: str, variant: str) -> Path:
    """The config Triton reads with --model-config-name=variant (falls back as Triton does)."""
    named = repository / model / "configs" / f"{variant}.pbtxt"
    return named if variant and named.exists() else repository / model / "config.pbtxt"


# -- closed loop ------------------------------------------------------------------------

class RunNotSucceeded(Exception):
    def __init__(self, state: str) -> None:
        super().__init__(state)
        self.state = state


async def status_of(call: Awaitable[object]) -> str:
    """"OK", or the status code name the call failed with."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code().name
    except MeshError as exc:
        return str(exc.code)
    except RunNotSucceeded as exc:
        return exc.state
    except JobFailed:
        return "NO_RESULT"
    except TimeoutError:
        return "DEADLINE_EXCEEDED"
    return "OK"


Request = Callable[[int, int], tuple[str, Awaitable[object]]]  # (client, n) -> (name, call)


async def closed_loop(concurrency: int, seconds: float, request: Request
                      ) -> tuple[list[Outcome], float]:
    """`concurrency` clients, each sending its next request as soon as the last is answered,
    until `seconds` have passed; returns every outcome and the wall time to the last answer."""
    started = time.perf_counter()
    deadline = started + seconds
    outcomes: list[Outcome] = []

    async def client(k: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            name, call = request(k, n)
            sent = time.perf_counter()
            code = await status_of(call)
            outcomes.append(Outcome(name, time.perf_counter() - sent, code))
            n += 1

    await asyncio.gather(*(client(k) for k in range(concurrency)))
    return outcomes, time.perf_counter() - started


# -- part 1: the mesh -------------------------------------------------------------------

@dataclass
class MeshInputs:
    songs: list[str]  # URIs in the media root
    clip: str
    picture: str
    rhythms: dict[str, audio_pb2.AnalyzeRhythmResponse] = field(default_factory=dict)


def write_inputs(media_root: Path) -> MeshInputs:
    """Songs, a green-screen clip and a picture with text, rendered into the media root."""
    folder = media_root / "load"
    folder.mkdir(parents=True, exist_ok=True)
    songs = []
    for seed in SONG_SEEDS:
        song = render_song(seed)
        media.write_audio(folder / f"song-{seed}.mp3", song.samples, song.rate)
        songs.append(f"load/song-{seed}.mp3")
    with media.VideoWriter(folder / "greenscreen.mp4", CLIP_W, CLIP_H, CLIP_FPS,
                           audio_sample_rate=48_000) as writer:
        for frame in green_screen.render_clip(int(CLIP_SECONDS * CLIP_FPS), CLIP_FPS,
                                              CLIP_W, CLIP_H):
            writer.write(frame.rgb)
        writer.write_audio(green_screen.tone(CLIP_SECONDS))
    frames, _, truth = subtitles.render(7, width=PICTURE_W, height=PICTURE_H, seconds=2.0,
                                        scene_text="OPEN 24 HOURS", watermark="mediamesh")
    cue = truth.cues[0] if truth.cues else None
    index = round((cue.start + cue.end) / 2 * truth.fps) if cue else 0
    media.write_image(folder / "text.png", frames[min(index, len(frames) - 1)])
    return MeshInputs(songs, "load/greenscreen.mp4", "load/text.png")


class MixedLoad:
    """The five calls of the mix against one mesh; `request` picks client k's n-th."""

    def __init__(self, mesh: MeshClient, inputs: MeshInputs, sequence: Sequence[str],
                 timeout_s: float) -> None:
        self.mesh, self.inputs, self.sequence, self.timeout_s = mesh, inputs, sequence, timeout_s
        self.calls: dict[str, Callable[[int, int], Awaitable[object]]] = {
            "AnalyzeRhythm": self.analyze_rhythm, "DetectChorus": self.detect_chorus,
            "KeyGreenScreen": self.key_green_screen, "RecognizeText": self.recognize_text,
            "medley": self.medley}

    def request(self, k: int, n: int) -> tuple[str, Awaitable[object]]:
        name = self.sequence[(k + n) % len(self.sequence)]
        return name, self.calls[name](k, n)

    def _song(self, n: int) -> str:
        return self.inputs.songs[n % len(self.inputs.songs)]

    async def analyze_rhythm(self, k: int, n: int) -> audio_pb2.AnalyzeRhythmResponse:
        reply: audio_pb2.AnalyzeRhythmResponse = await self.mesh.audio.AnalyzeRhythm(
            audio_pb2.AnalyzeRhythmRequest(audio=common_pb2.MediaRef(uri=self._song(n))),
            timeout=self.timeout_s)
        return reply

    async def detect_chorus(self, k: int, n: int) -> object:
        song = self._song(n)
        return await self.mesh.audio.DetectChorus(audio_pb2.DetectChorusRequest(
            audio=common_pb2.MediaRef(uri=song), rhythm=self.inputs.rhythms[song],
            max_alternatives=2), timeout=self.timeout_s)

    async def key_green_screen(self, k: int, n: int) -> object:
        request = vision_pb2.KeyGreenScreenRequest(
            input=common_pb2.MediaRef(uri=self.inputs.clip),
            output=common_pb2.OutputSpec(uri=f"load/out/keyed-{k}.mp4", overwrite=True),
            background_color=common_pb2.RgbColor(r=30, g=60, b=200),
            output_mode=vision_pb2.KEY_OUTPUT_MODE_COMPOSITE)
        return await MeshClient.run_job(self.mesh.vision.KeyGreenScreen(
            request, timeout=self.timeout_s))

    async def recognize_text(self, k: int, n: int) -> object:
        return await self.mesh.text.RecognizeText(text_pb2.RecognizeTextRequest(
            image=common_pb2.MediaRef(uri=self.inputs.picture)), timeout=self.timeout_s)

    async def medley(self, k: int, n: int) -> object:
        pair = [self._song(n), self._song(n + 1)]
        run = await self.mesh.run_workflow(
            "medley", {"songs": pair, "output": f"load/out/medley-{k}.mp3"},
            timeout_s=self.timeout_s)
        if run.state != workflow_pb2.RUN_STATE_SUCCEEDED:
            raise RunNotSucceeded(workflow_pb2.RunState.Name(run.state))
        return run

    async def warm_up(self) -> None:
        """Every call once, one at a time; keeps each song's beat grid for DetectChorus."""
        for n, song in enumerate(self.inputs.songs):
            self.inputs.rhythms[song] = await self.analyze_rhythm(0, n)
        for name in self.calls:
            await self.calls[name](0, 0)


class MemoryPeaks:
    """Peak RSS per part (and of their sum) while `run` samples every MEMORY_PERIOD_S."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self.peaks: dict[str, int] = dict.fromkeys(self.pids, 0)
        self.peak_total = 0

    def sample(self) -> None:
        now = process_memory.parts_rss(self.pids)
        for name, value in now.items():
            self.peaks[name] = max(self.peaks[name], value)
        self.peak_total = max(self.peak_total, sum(now.values()))

    async def run(self) -> None:
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(MEMORY_PERIOD_S)


async def run_level(load: MixedLoad, settings: Settings, pids: Mapping[str, int],
                    concurrency: int, seconds: float) -> dict[str, Any]:
    """One level of the closed loop, with Triton's counters and the parts' memory around it."""
    url = metrics_url(settings)
    before = await asyncio.to_thread(scrape, url)
    memory = MemoryPeaks(pids)
    sampler = asyncio.create_task(memory.run())
    try:
        outcomes, wall = await closed_loop(concurrency, seconds, load.request)
    finally:
        sampler.cancel()
        with suppress(asyncio.CancelledError):
            await sampler
    memory.sample()
    triton = batch_deltas(before, await asyncio.to_thread(scrape, url))
    rpcs = {name: rpc_summary([o for o in outcomes if o.rpc == name], wall)
            for name in RPCS if any(o.rpc == name for o in outcomes)}
    total = rpc_summary(outcomes, wall)
    return {"concurrency": concurrency, "wall_s": wall, "rpcs": rpcs,
            "total": {"requests": total["requests"], "ok": total["ok"],
                      "throughput_rps": total["throughput_rps"],
                      "error_rate": total["error_rate"], "errors": total["errors"],
                      "typical_p99_ms": typical_p99(rpcs)},
            "triton": {m: asdict(s) for m, s in triton.items()},
            "memory_peak_mb": {p: v / 2**20 for p, v in memory.peaks.items()},
            "memory_peak_total_mb": memory.peak_total / 2**20}


async def mesh_levels(settings: Settings, levels: Sequence[int], seconds: float,
                      weights: Mapping[str, int], timeout_s: float, console: Console
                      ) -> list[dict[str, Any]]:
    with console.status("rendering inputs (songs, clip, picture)..."):
        inputs = await asyncio.to_thread(write_inputs, settings.media_root)
    try:
        pids = process_memory.part_pids(settings)
    except SupervisorNotRunning:
        console.print("no supervisor for this mesh: memory is not measured")
        pids = {}
    results = []
    async with MeshClient.from_settings(settings) as mesh:
        load = MixedLoad(mesh, inputs, mix_sequence(weights), timeout_s)
        with console.status("warming up (every call once)..."):
            await load.warm_up()
        for concurrency in levels:
            with console.status(f"{concurrency} clients for {seconds:g} s..."):
                results.append(await run_level(load, settings, pids, concurrency, seconds))
            console.print(level_line(results[-1]))
    return results


def level_line(level: Mapping[str, Any]) -> str:
    total = level["total"]
    p99 = total["typical_p99_ms"]
    return (f"{level['concurrency']:>3} clients: {total['throughput_rps']:.2f} req/s, "
            f"typical p99 {p99:.0f} ms, errors {total['error_rate']:.1%}" if p99 else
            f"{level['concurrency']:>3} clients: no successful request")


# -- part 2: Triton dynamic batching on vs off ------------------------------------------

@dataclass(frozen=True)
class RequestShape:
    """One request as its service sends it: batch rows, the sizes of the config's free (-1)
    dims per input, and the inputs whose values matter (made from the row count)."""

    rows: int
    free_dims: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    values: Callable[[int], dict[str, np.ndarray]] | None = None


def _keyer_params(rows: int) -> dict[str, np.ndarray]:
    """A green screen's key row (key colour's chroma, its unit vector, thresholds, spill)."""
    return {"params": np.tile(np.array([-30, -50, 6, 46, 0.8], np.float32), (rows, 1))}


def _attention(rows: int) -> dict[str, np.ndarray]:
    return {"attention_mask": np.ones((rows, embedder.PAD_TO), np.int64)}


def _decoder_prompt(rows: int) -> dict[str, np.ndarray]:
    tokens = transcriber.prompt("en", simplified=False)
    return {"prompt": np.tile(np.asarray(tokens, np.int64), (rows, 1)),
            "max_tokens": np.full((rows, 1), DECODER_TOKENS, np.int64)}


DECODER_TOKENS = 32  # of the service's MAX_TOKENS 224: random hidden states rarely stop early
_DETECT_W, _DETECT_H = ocr.detector_size(PICTURE_W, PICTURE_H)

#: Per model, the request its service sends (the services' own chunk sizes).
REQUESTS: dict[str, RequestShape] = {
    "beat_tcn": RequestShape(1, {"features": (rhythm.CHUNK,)}),  # one chunk of a song
    "green_keyer": RequestShape(keying_job.CHUNK_FRAMES, {"chroma": (CLIP_H // 2, CLIP_W // 2)},
                                _keyer_params),  # 4 frames of a 640x360 clip's 4:2:0 chroma
    "edge_features": RequestShape(region_blur.SEARCH_CHUNK),
    "face_detection": RequestShape(reframe_job.SAMPLE_CHUNK),
    "frame_hash": RequestShape(fingerprint_job.CHUNK_FRAMES),
    "selfie_segmentation": RequestShape(portrait.CHUNK_FRAMES),
    "shot_features": RequestShape(shot_detection.CHUNK_FRAMES),
    "sentence_encoder": RequestShape(1, {"input_ids": (embedder.PAD_TO,)},  # a search query
                                     _attention),
    "text_detection": RequestShape(1, {"x": (_DETECT_H, _DETECT_W)}),  # a 1280x720 picture
    "text_recognition": RequestShape(8, {"x": (ocr.MIN_LINE_WIDTH,)}),  # recogniser_batches
    "whisper_encoder": RequestShape(1),  # one 30 s window (a short clip)
    "whisper_decoder": RequestShape(1, values=_decoder_prompt),  # a window's transcript
}


def request_inputs(config: Mapping[str, Any], shape: RequestShape, seed: int = 0
                   ) -> dict[str, np.ndarray]:
    """Inputs of one request from the model's config (Triton's JSON form): random values of
    the right dtype and shape, except those `shape.values` fixes."""
    rng = np.random.default_rng(seed)
    fixed = shape.values(shape.rows) if shape.values else {}
    out = {}
    for spec in config["input"]:
        name = spec["name"]
        if name in fixed:
            out[name] = fixed[name]
            continue
        free = iter(shape.free_dims.get(name, ()))
        dims = [shape.rows] + [next(free) if int(d) < 0 else int(d) for d in spec["dims"]]
        dtype = np.dtype(triton_to_np_dtype(spec["data_type"].removeprefix("TYPE_")))
        if dtype == np.uint8:
            out[name] = rng.integers(0, 256, dims, dtype=np.uint8)
        elif np.issubdtype(dtype, np.integer):
            out[name] = rng.integers(1, 1000, dims).astype(dtype)  # valid token ids
        else:
            out[name] = rng.random(dims, dtype=np.float32).astype(dtype)
    return out


def batching_models(repository: Path, variant: str) -> list[str]:
    """Models whose config (the variant Triton reads) has dynamic_batching."""
    configs = {f.name: model_config_path(repository, f.name, variant)
               for f in repository.iterdir() if f.is_dir()}
    return sorted(name for name, path in configs.items()
                  if path.exists() and has_dynamic_batching(path.read_text()))


def write_unbatched_repository(source: Path, target: Path, models: Sequence[str],
                               variant: str) -> None:
    """`models` of `source` under `target`: version folders symlinked, the config Triton
    reads rewritten without dynamic_batching."""
    for model in models:
        folder = target / model
        (folder / "configs").mkdir(parents=True, exist_ok=True)
        for version in (p for p in (source / model).iterdir() if p.name.isdigit()):
            (folder / version.name).symlink_to(version.resolve(), target_is_directory=True)
        config = without_dynamic_batching(model_config_path(source, model, variant).read_text())
        (folder / "configs" / f"{variant}.pbtxt").write_text(config)
        (folder / "config.pbtxt").write_text(config)


@contextmanager
def unbatched_triton(settings: Settings, models: Sequence[str]) -> Iterator[Settings]:
    """A second Triton on free ports serving `models` without dynamic batching, in explicit
    model control (nothing loaded until asked); stopped, stubs and all, on the way out."""
    folder = Path(tempfile.mkdtemp(prefix="mm-bench-nobatch-"))
    repository = folder / "repository"
    write_unbatched_repository(settings.model_repository, repository, models,
                               settings.triton_model_config)
    other = load_settings(state_dir=folder / "state", port_base=free_port_base(),
                          model_repository=repository,
                          triton_model_config=settings.triton_model_config)
    command = [*triton_command(other, prepare_triton_backends(other)),
               "--model-control-mode=explicit"]
    with (folder / "triton.log").open("wb") as log:
        process = subprocess.Popen(command, env={**os.environ, **triton_environment()},
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield other
    finally:
        _stop_group(process)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group we started (Triton and its stubs), SIGKILL after 20 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Side:
    """One Triton of the comparison and what was measured on it."""

    label: str
    client: TritonClient
    url: str  # its metrics
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    counters: ModelCounters = field(default_factory=ModelCounters)

    def report(self, model: str, rows: int) -> dict[str, Any]:
        ok = len(self.latencies_ms)
        stats: BatchStats = batch_stats(self.counters)
        latency = latency_summary(self.latencies_ms)
        return {"requests": ok + sum(self.errors.values()), "ok": ok,
                "throughput_rps": ok / self.wall_s if self.wall_s else 0.0,
                "rows_per_s": ok * rows / self.wall_s if self.wall_s else 0.0,
                "p50_ms": latency["p50_ms"], "p99_ms": latency["p99_ms"],
                "errors": dict(self.errors), "triton": asdict(stats)}


async def measure_side(side: Side, model: str, feed: Mapping[str, np.ndarray],
                       outputs: Sequence[str], concurrency: int, seconds: float) -> None:
    before = (await asyncio.to_thread(scrape, side.url)).get(model, ModelCounters())
    outcomes, wall = await closed_loop(concurrency, seconds, lambda k, n: (
        side.label, side.client.infer(model, feed, outputs)))
    after = (await asyncio.to_thread(scrape, side.url)).get(model, ModelCounters())
    side.latencies_ms += [o.latency_s * 1000 for o in outcomes if o.code == "OK"]
    side.errors.update(o.code for o in outcomes if o.code != "OK")
    side.wall_s += wall
    side.counters = side.counters + (after - before)


async def compare_model(model: str, on: Side, off: Side, concurrency: int, rounds: int,
                        seconds: float) -> dict[str, Any]:
    """Batching on vs off for one model (already loaded on both), rounds interleaved."""
    config = await on.client.client.get_model_config(model, as_json=True)
    config = config.get("config", config)
    shape = REQUESTS[model]
    feed = request_inputs(config, shape)
    outputs = [o["name"] for o in config["output"]]
    for side in (on, off):  # warm-up: first runs, shared-memory regions (errors show later)
        await asyncio.gather(*(status_of(side.client.infer(model, feed, outputs))
                               for _ in range(concurrency)))
    for r in range(rounds):
        for side in ((on, off) if r % 2 == 0 else (off, on)):
            await measure_side(side, model, feed, outputs, concurrency, seconds)
    result = {"rows_per_request": shape.rows, "concurrency": concurrency,
              "on": on.report(model, shape.rows), "off": off.report(model, shape.rows)}
    off_rps = result["off"]["throughput_rps"]
    result["on_over_off"] = result["on"]["throughput_rps"] / off_rps if off_rps else None
    return result


async def batching_comparison(settings: Settings, models: Sequence[str], concurrency: int,
                              rounds: int, seconds: float, console: Console
                              ) -> dict[str, Any]:
    shm = settings.triton_uses_shared_memory
    results: dict[str, Any] = {}
    with unbatched_triton(settings, models) as other:
        on = TritonClient(settings.triton_address, shared_memory=shm, retries=0)
        off = TritonClient(other.triton_address, shared_memory=shm, retries=0)
        try:
            await off.wait_ready(timeout_s=60)
            for model in models:
                with console.status(f"batching on vs off: {model}..."):
                    await off.client.load_model(model, client_timeout=120)
                    try:
                        results[model] = await compare_model(
                            model, Side("on", on, metrics_url(settings)),
                            Side("off", off, metrics_url(other)), concurrency, rounds, seconds)
                    finally:
                        await off.client.unload_model(model, client_timeout=60)
                console.print(batching_line(model, results[model]))
        finally:
            await on.close()
            await off.close()
    return results


def batching_line(model: str, result: Mapping[str, Any]) -> str:
    ratio = result["on_over_off"]
    return (f"{model}: on {result['on']['throughput_rps']:.1f} req/s, off "
            f"{result['off']['throughput_rps']:.1f} req/s"
            + (f" (x{ratio:.2f})" if ratio else ""))


# -- report -----------------------------------------------------------------------------

def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _codes(errors: Mapping[str, int]) -> str:
    return ", ".join(f"{code} {n}" for code, n in sorted(errors.items())) or "-"


def _table(title: str, columns: Sequence[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("RPC", "model", "part") else "right")
    return table


def print_levels(console: Console, levels: Sequence[Mapping[str, Any]], knee: int | None,
                 mix: str) -> None:
    table = _table(f"mixed load, closed loop ({mix})",
                   ("clients", "RPC", "requests", "req/s", "p50 ms", "p99 ms", "errors",
                    "error codes"))
    for level in levels:
        rows = [*level["rpcs"].items(), ("all", {**level["total"], "p50_ms": None,
                                                 "p99_ms": level["total"]["typical_p99_ms"]})]
        for k, (name, r) in enumerate(rows):
            table.add_row(str(level["concurrency"]) if k == 0 else "",
                          name if name != "all" else "[b]all (p99: typical)[/b]",
                          str(r["requests"]), f"{r['throughput_rps']:.2f}", _ms(r["p50_ms"]),
                          _ms(r["p99_ms"]), f"{r['error_rate']:.1%}", _codes(r["errors"]),
                          end_section=k == len(rows) - 1)
    console.print(table)
    triton = _table("Triton per level: dynamic batching achieved (Prometheus deltas)",
                    ("clients", "model", "requests", "executions", "req/exec", "rows/exec",
                     "queue ms/req", "run ms/req", "failures"))
    for level in levels:
        models = list(level["triton"].items())
        for k, (model, s) in enumerate(models):
            triton.add_row(str(level["concurrency"]) if k == 0 else "", model,
                           str(s["requests"]), str(s["executions"]),
                           f"{s['requests_per_execution']:.2f}",
                           f"{s['items_per_execution']:.2f}", _ms(s["queue_ms_per_request"]),
                           _ms(s["run_ms_per_request"]), str(s["failures"]),
                           end_section=k == len(models) - 1)
    console.print(triton)
    parts = list(levels[0]["memory_peak_mb"]) if levels else []
    memory = _table("peak RSS per level, MB (each part with its child processes)",
                    ("clients", *parts, "sum"))
    for level in levels:
        memory.add_row(str(level["concurrency"]),
                       *(f"{level['memory_peak_mb'][p]:.0f}" for p in parts),
                       f"{level['memory_peak_total_mb']:.0f}")
    console.print(memory)
    console.print(f"knee (next level: < {MIN_GAIN:.0%} more throughput and typical p99 > "
                  f"+{MAX_P99_GROWTH:.0%}): "
                  + (f"{knee} clients" if knee else "not reached at these levels"))


def print_batching(console: Console, results: Mapping[str, Mapping[str, Any]],
                   concurrency: int, rounds: int) -> None:
    table = _table(f"Triton dynamic batching on vs off, {concurrency} clients, {rounds} "
                   "interleaved rounds", ("model", "rows/req", "on req/s", "off req/s",
                                          "on/off", "on req/exec", "on rows/exec",
                                          "p50 on/off ms", "p99 on/off ms", "errors"))
    for model, r in results.items():
        on, off = r["on"], r["off"]
        table.add_row(model, str(r["rows_per_request"]), f"{on['throughput_rps']:.1f}",
                      f"{off['throughput_rps']:.1f}",
                      f"{r['on_over_off']:.2f}" if r["on_over_off"] else "-",
                      f"{on['triton']['requests_per_execution']:.2f}",
                      f"{on['triton']['items_per_execution']:.1f}",
                      f"{_ms(on['p50_ms'])} / {_ms(off['p50_ms'])}",
                      f"{_ms(on['p99_ms'])} / {_ms(off['p99_ms'])}",
                      _codes({**{f"on {c}": n for c, n in on["errors"].items()},
                              **{f"off {c}": n for c, n in off["errors"].items()}}))
    console.print(table)


# -- main -------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--state-dir", type=Path, help="use the mesh already running here")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 short levels, 1 short round per model")
    parser.add_argument("--levels", help="client counts, rising (full: 1,2,4,8,16)")
    parser.add_argument("--seconds", type=float, help="per level (full: 40)")
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"default {DEFAULT_MIX}")
    parser.add_argument("--timeout", type=float, default=300.0, help="per request, s")
    parser.add_argument("--batch-concurrency", type=int, default=8)
    parser.add_argument("--batch-rounds", type=int, help="on/off rounds per model (full: 3)")
    parser.add_argument("--batch-seconds", type=float, help="per round and side (full: 3)")
    parser.add_argument("--models", help="comma-separated models for on/off (default: every "
                                         "model with dynamic_batching)")
    parser.add_argument("--skip-mesh", action="store_true", help="only the on/off comparison")
    parser.add_argument("--skip-batching", action="store_true", help="only the mixed load")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    for name, value in PROFILES["quick" if args.quick else "full"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def chosen_models(settings: Settings, names: str | None, console: Console) -> list[str]:
    available = batching_models(settings.model_repository, settings.triton_model_config)
    wanted = [m.strip() for m in names.split(",")] if names else available
    unknown = [m for m in wanted if m not in available]
    if unknown:
        raise SystemExit(f"no dynamic_batching in the config of: {', '.join(unknown)}; "
                         f"models that have it: {', '.join(available)}")
    skipped = [m for m in wanted if m not in REQUESTS]
    if skipped:
        console.print(f"no request shape known for {', '.join(skipped)}: left out")
    return [m for m in wanted if m in REQUESTS]


async def run(args: argparse.Namespace, settings: Settings, console: Console,
              report: dict[str, Any]) -> None:
    """Both parts, filling `report` as they finish (so a failure keeps what was measured)."""
    weights = parse_mix(args.mix)
    report.update({"mix": weights, "levels": [], "knee_clients": None, "batching": {},
                   "phases_s": {}})
    if not args.skip_mesh:
        started = time.perf_counter()
        report["levels"] = await mesh_levels(settings, parse_levels(args.levels), args.seconds,
                                             weights, args.timeout, console)
        report["knee_clients"] = find_knee([
            LevelPoint(lv["concurrency"], lv["total"]["throughput_rps"],
                       lv["total"]["typical_p99_ms"]) for lv in report["levels"]])
        print_levels(console, report["levels"], report["knee_clients"], args.mix)
        report["phases_s"]["mesh"] = time.perf_counter() - started
    if not args.skip_batching:
        started = time.perf_counter()
        if not settings.embedded_triton:
            console.print("the mesh's Triton is external: no on/off comparison on this host")
        else:
            models = chosen_models(settings, args.models, console)
            report["batching"] = await batching_comparison(
                settings, models, args.batch_concurrency, args.batch_rounds,
                args.batch_seconds, console)
            print_batching(console, report["batching"], args.batch_concurrency,
                           args.batch_rounds)
        report["phases_s"]["batching"] = time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = bench_console()
    started = time.perf_counter()
    report: dict[str, Any] = {
        "benchmark": "load", "quick": args.quick, "machine": machine(),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}
    try:
        with bench_mesh(args.state_dir, console) as settings:
            asyncio.run(run(args, settings, console, report))
    finally:
        report["wall_s"] = time.perf_counter() - started
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
    phases = ", ".join(f"{k} {v:.0f} s" for k, v in report["phases_s"].items())
    console.print(f"took {report['wall_s']:.0f} s ({phases}); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
