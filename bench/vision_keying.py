"""The keying section of bench/eval_vision.py: KeyGreenScreen's keyer (the green_keyer graph
in onnxruntime on one thread, as Triton runs it for the service, with the service's screen
estimate and default KeyParams) beside FFmpeg's chromakey + despill and colorkey + despill
(PyAV filter graphs, one filter thread), on clips with an exact alpha
(mediamesh.synth.green_screen; seeds from 3000, never used by the tests).

Clips: for each of `count` seeds, 2 s at 25 fps at 1280x720 and at 640x360, each as the
generator's green screen and as a blue-screen variant (the same render with the G and B
channels swapped: the screen, the subject and the spill on the rim trade channels, the truth
alpha is unchanged). Every clip goes through H.264 (mediamesh.media.VideoWriter, crf 20) and
is decoded once with mediamesh.media.iter_yuv_frames: every method keys the same decoded
4:2:0 frames (ours reads their chroma planes; FFmpeg gets them as yuv420p frames, its own
decoder's format). Seeds offset the clip in the generator's motion (start frame 37 * k) so
the subject is in a different place per seed, and change the screen noise.

Per method and screen colour, over every frame:
  alpha_mae   mean |alpha - truth| (0..1) over all pixels; alpha_mae_8bit the same in 8-bit
              alpha levels (0..255), which the 3-decimal markdown table can still tell apart
  edge_mae    the same within EDGE_PX of the truth edge (the 0.5 contour), where the soft
              rim and the spill are
  iou         subject IoU, both mattes at 0.5
  fps         frames per second spent in the keyer call at 1280x720 (decoded frames in,
              alpha and de-spilled foreground out as arrays: for ours stacking the chunk's
              chroma and the graph; for FFmpeg the frame conversion in, the filters and the
              conversion out; decode excluded); fps_360p the same at 640x360
FFmpeg's parameters are tuned once per screen colour, at run time, on a separate seed
(TUNE_SEED, 640x360, never evaluated) by grid search on alpha MAE over key colour (the pure
key, 0x00FF00 / 0x0000FF, or the screen colour picked from the tuning frame's border, as an
eyedropper would), similarity and blend. Ours runs as the service does by default (screen
colour detected, thresholds AUTO_LOW / AUTO_HIGH of the screen's own key signal: the row the
targets are about) and, for a like-for-like second row, with those two fractions tuned the
same way on the same frames.

The whole-job rows time a 720p KeyGreenScreen job in-process: the service's own job
(services.vision.green_screen.GreenScreenKeyer over bench/local_models.py: iter_yuv_frames
-> green_keyer in chunks of CHUNK_FRAMES -> composite per plane over a colour ->
VideoWriter.write_planes mp4) against the decode + encode ceiling (the same decode and
writer, frames passed straight through), run alternately in the same process, best of
JOB_REPEATS each; x_ceiling is job fps / ceiling fps.
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import product
from pathlib import Path
from typing import Any, Protocol

import av
import numpy as np
from local_models import LocalModels
from scipy import ndimage

from mediamesh import media
from mediamesh.storage import StoredOutput
from mediamesh.synth import green_screen
from services.vision import green_screen as service
from services.vision import keying
from services.vision.keying import KeyChannel, KeyParams, ScreenEstimate, estimate_screen

FIRST_SEED = 3000
TUNE_SEED = 2999
FPS = 25.0
SECONDS = 2.0
SIZES = ((1280, 720), (640, 360))
SCREENS = (KeyChannel.GREEN, KeyChannel.BLUE)
EDGE_PX = 3
TUNE_FRAMES = 10
JOB_REPEATS = 3
JOB_SECONDS = 10.0
TRANSPORT_CALLS = 20
JOB_BACKGROUND = (20, 40, 160)
COLUMNS = ["method", "screen", "frames", "alpha_mae", "alpha_mae_8bit", "edge_mae", "iou", "fps",
           "fps_360p", "params", "x_ceiling"]


class Keyer(Protocol):
    """Keys a clip's decoded frames chunk by chunk: `start` once per clip with its first
    frame (ours reads the screen off it, as the service does), then calls on chunks that
    return alpha (N, H, W) uint8 and the de-spilled foreground (in the keyer's own form)."""

    def start(self, first: media.YuvPlanes) -> None: ...

    def __call__(self, frames: list[media.YuvPlanes]) -> tuple[np.ndarray, Any]: ...


# data ---------------------------------------------------------------------------------


def screen_frame(rgb: np.ndarray, screen: KeyChannel) -> np.ndarray:
    """The generator's green frame, or its blue-screen variant (G and B swapped)."""
    return rgb if screen is KeyChannel.GREEN else np.ascontiguousarray(rgb[..., [0, 2, 1]])


def write_clip(path: Path, seed: int, width: int, height: int, screen: KeyChannel,
               frames: int) -> list[np.ndarray]:
    """Render and encode one clip; returns the truth alpha of every frame (float32 0..1)."""
    start = 37 * (seed - FIRST_SEED) if seed >= FIRST_SEED else 11
    truth = []
    with media.VideoWriter(path, width, height, FPS) as writer:
        for i in range(frames):
            frame = green_screen.render_frame(start + i, FPS, width, height, seed)
            writer.write(screen_frame(frame.rgb, screen))
            truth.append(frame.alpha)
    return truth


def decoded(path: Path) -> list[media.YuvPlanes]:
    return [f.planes for f in media.iter_yuv_frames(path)]


def edge_band(truth: np.ndarray, width: int = EDGE_PX) -> np.ndarray:
    inside = truth >= 0.5
    return ndimage.binary_dilation(inside, iterations=width) & \
        ~ndimage.binary_erosion(inside, iterations=width)


# keyers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoThresholds:
    """Thresholds as fractions of the screen's key signal (what the service's defaults
    are: keying.AUTO_LOW / AUTO_HIGH)."""

    low: float = keying.AUTO_LOW
    high: float = keying.AUTO_HIGH

    def params(self, screen: ScreenEstimate, spill: float = KeyParams.spill) -> KeyParams:
        if screen.strength is None:  # no screen on the border: the service's own fallback
            return KeyParams(spill=spill)
        return KeyParams(self.low * screen.strength, self.high * screen.strength, spill)

    def label(self) -> str:
        return f"low={self.low:g} high={self.high:g} of the screen's key signal"


class OurKeyer:
    """The service's keyer without the server: the screen read off each clip's first frame
    (colour detected), thresholds from it, the green_keyer graph in onnxruntime (1
    thread, bench/local_models.py), called with the service's chunks."""

    def __init__(self, thresholds: AutoThresholds | None = None) -> None:
        self.models = LocalModels()
        self.thresholds = thresholds or AutoThresholds()
        self.row = np.zeros(0, np.float32)

    def start(self, first: media.YuvPlanes) -> None:
        screen = estimate_screen(first)
        self.row = screen.row(self.thresholds.params(screen))

    def __call__(self, frames: list[media.YuvPlanes]) -> tuple[np.ndarray, np.ndarray]:
        chroma = np.stack([f.chroma for f in frames])
        alpha, despilled = self.models.session(service.MODEL).run(
            ["alpha", "despilled_chroma"],
            {"chroma": chroma, "params": np.repeat(self.row[None], len(frames), axis=0)})
        h, w = frames[0].height, frames[0].width
        return alpha[:, 0, :h, :w], despilled


@dataclass(frozen=True)
class FFmpegKey:
    """One FFmpeg keying chain: `filter` (chromakey / colorkey) then despill."""

    filter: str  # "chromakey" (YUV: keyed in yuva420p) or "colorkey" (RGB: keyed in rgba)
    color: str
    similarity: float
    blend: float

    def label(self) -> str:
        return f"color={self.color}:similarity={self.similarity:g}:blend={self.blend:g}"


class FFmpegKeyer:
    """A PyAV filter graph (1 thread): yuv420p -> [format] -> key -> rgba -> despill."""

    def __init__(self, key: FFmpegKey, channel: KeyChannel) -> None:
        self.key, self.channel = key, channel
        self.graph: av.filter.Graph | None = None
        self.size: tuple[int, int] | None = None
        self.pts = 0

    def start(self, first: media.YuvPlanes) -> None:
        if self.size != (first.width, first.height):
            self._configure(first.width, first.height)

    def _configure(self, width: int, height: int) -> None:
        graph = av.filter.Graph()
        graph.threads = 1
        last = graph.add_buffer(width=width, height=height, format="yuv420p",
                                time_base=Fraction(1, int(FPS)))
        chain = [("format", "yuva420p" if self.key.filter == "chromakey" else "rgba"),
                 (self.key.filter, self.key.label()),
                 ("format", "rgba"),
                 ("despill", f"type={self.channel.value}")]
        for name, args in chain:
            node = graph.add(name, args)
            last.link_to(node)
            last = node
        sink = graph.add("buffersink")
        last.link_to(sink)
        graph.configure()
        self.graph, self.size = graph, (width, height)

    def __call__(self, frames: list[media.YuvPlanes]) -> tuple[np.ndarray, np.ndarray]:
        assert self.graph is not None, "start() configures the graph"
        alphas, foregrounds = [], []
        for planes in frames:
            frame = planes.to_frame()
            frame.pts = self.pts
            self.pts += 1
            self.graph.push(frame)
            out = self.graph.pull().to_ndarray()
            alphas.append(out[..., 3])
            foregrounds.append(out[..., :3])
        return np.stack(alphas), np.stack(foregrounds)


def run_keyer(keyer: Keyer, frames: list[media.YuvPlanes], chunk: int
              ) -> tuple[list[np.ndarray], float]:
    """Alpha (H, W) float32 0..1 of every frame, and the seconds spent in the keyer."""
    keyer.start(frames[0])
    seconds, out = 0.0, []
    for i in range(0, len(frames), chunk):
        started = time.perf_counter()
        alpha, _ = keyer(frames[i:i + chunk])
        seconds += time.perf_counter() - started
        out += [a.astype(np.float32) * np.float32(1 / 255) for a in alpha]
    return out, seconds


def mean_error(alphas: list[np.ndarray], truth: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(a - t).mean() for a, t in zip(alphas, truth, strict=True)]))


# tuning -------------------------------------------------------------------------------


def screen_colour(planes: media.YuvPlanes) -> str:
    """The screen as an eyedropper would pick it: the median of the frame's border."""
    border = keying.border_pixels(planes.to_rgb())
    r, g, b = (round(float(v)) for v in np.median(border, axis=0))
    return f"0x{r:02X}{g:02X}{b:02X}"


def tune(filter_name: str, channel: KeyChannel, frames: list[media.YuvPlanes],
         truth: list[np.ndarray]) -> tuple[FFmpegKey, float]:
    """The grid point with the lowest alpha MAE on the tuning frames."""
    pure = "0x00FF00" if channel is KeyChannel.GREEN else "0x0000FF"
    similarities = (0.02, 0.05, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4)
    blends = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
    best: tuple[float, FFmpegKey] | None = None
    for color, similarity, blend in product((pure, screen_colour(frames[0])), similarities,
                                            blends):
        key = FFmpegKey(filter_name, color, similarity, blend)
        alpha, _ = run_keyer(FFmpegKeyer(key, channel), frames, len(frames))
        mae = mean_error(alpha, truth)
        if best is None or mae < best[0]:
            best = (mae, key)
    assert best is not None
    return best[1], best[0]


def tune_ours(frames: list[media.YuvPlanes], truth: list[np.ndarray]
              ) -> tuple[AutoThresholds, float]:
    """The same search for our two threshold fractions (spill does not change alpha)."""
    best: tuple[float, AutoThresholds] | None = None
    for low, high in product((0.0, 0.05, 0.1, 0.15, 0.2, 0.3),
                             (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)):
        thresholds = AutoThresholds(low, high)
        alpha, _ = run_keyer(OurKeyer(thresholds), frames, service.CHUNK_FRAMES)
        mae = mean_error(alpha, truth)
        if best is None or mae < best[0]:
            best = (mae, thresholds)
    assert best is not None
    return best[1], best[0]


# tallies ------------------------------------------------------------------------------


@dataclass
class Tally:
    mae: list[float] = field(default_factory=list)
    edge: list[float] = field(default_factory=list)
    iou: list[float] = field(default_factory=list)
    frames: dict[int, int] = field(default_factory=dict)  # by height
    seconds: dict[int, float] = field(default_factory=dict)

    def add(self, alphas: list[np.ndarray], truth: list[np.ndarray],
            bands: list[np.ndarray], seconds: float) -> None:
        height = truth[0].shape[0]
        self.frames[height] = self.frames.get(height, 0) + len(alphas)
        self.seconds[height] = self.seconds.get(height, 0.0) + seconds
        for a, t, b in zip(alphas, truth, bands, strict=True):
            error = np.abs(a - t)
            self.mae.append(float(error.mean()))
            self.edge.append(float(error[b].mean()))
            ours, true = a >= 0.5, t >= 0.5
            union = np.logical_or(ours, true).sum()
            self.iou.append(float(np.logical_and(ours, true).sum() / union) if union else 1.0)

    def fps(self, height: int) -> float | None:
        seconds = self.seconds.get(height)
        return self.frames[height] / seconds if seconds else None

    def row(self, method: str, screen: str, params: str) -> dict[str, Any]:
        return {"method": method, "screen": screen, "frames": len(self.mae),
                "alpha_mae": float(np.mean(self.mae)),
                "alpha_mae_8bit": 255 * float(np.mean(self.mae)),
                "edge_mae": float(np.mean(self.edge)),
                "iou": float(np.mean(self.iou)), "fps": self.fps(720),
                "fps_360p": self.fps(360), "params": params}


# the whole job ------------------------------------------------------------------------


def time_ceiling(source: Path, target: Path) -> float:
    """fps of decode -> encode with nothing between: the ceiling of any rewrite."""
    info = media.probe(source)
    started = time.perf_counter()
    frames = 0
    with media.VideoWriter(target, int(info.width or 0), int(info.height or 0),
                           info.fps or FPS) as writer:
        for frame in media.iter_yuv_frames(source):
            writer.write_planes(frame.planes)
            frames += 1
    return frames / (time.perf_counter() - started)


def time_job(source: Path, target: Path) -> float:
    """fps of the service's own KeyGreenScreen job (composite over a colour), in-process
    on bench/local_models.py."""
    info = media.probe(source)
    job = service.KeyJob(source, None, KeyParams(), service.OutputMode.COMPOSITE,
                         JOB_BACKGROUND, None, 0.0, None)
    keyer = service.GreenScreenKeyer(LocalModels())  # type: ignore[arg-type]
    preview = target.with_suffix(".alpha.png")

    async def run() -> int:
        frames = 0
        async for item in keyer.run(job, info, StoredOutput(target, target.name),
                                    StoredOutput(preview, preview.name)):
            if isinstance(item, service.KeyOutcome):
                frames = item.frames
        return frames

    started = time.perf_counter()
    frames = asyncio.run(run())
    return frames / (time.perf_counter() - started)


def write_job_clip(path: Path) -> None:
    """JOB_SECONDS of 1280x720 green screen (a rendered loop remuxed: cheap to make)."""
    from tests.integration.long_clips import write_long_clip

    write_long_clip(path, JOB_SECONDS, 1280, 720)


def time_on_mesh(source: Path) -> dict[str, list[float]]:
    """On a mesh this bench starts: the whole KeyGreenScreen job through VisionService and
    Triton (alternating with the in-process ceiling), and one keying chunk sent to Triton
    inline in gRPC vs. through shared memory."""
    from mediamesh.client import MeshClient
    from mediamesh.config import load_settings
    from mediamesh.inference import TritonClient
    from mediamesh.mesh import control
    from mediamesh.mesh.ports import free_port_base
    from mediamesh.v1 import common_pb2, vision_pb2

    state = Path(tempfile.mkdtemp(prefix="mm-bench-keying-"))
    settings = load_settings(state_dir=state, port_base=free_port_base())
    control.up(settings, timeout_s=120)
    (settings.media_root / "bench").mkdir(parents=True, exist_ok=True)
    (settings.media_root / "bench" / source.name).write_bytes(source.read_bytes())
    r, g, b = JOB_BACKGROUND
    request = vision_pb2.KeyGreenScreenRequest(
        input=common_pb2.MediaRef(uri=f"bench/{source.name}"),
        output=common_pb2.OutputSpec(uri="bench/keyed.mp4", overwrite=True),
        background_color=common_pb2.RgbColor(r=r, g=g, b=b))
    planes = [f.planes for _, f in zip(range(service.CHUNK_FRAMES),
                                        media.iter_yuv_frames(source), strict=False)]
    row = estimate_screen(planes[0]).row(KeyParams())

    async def job(client: MeshClient) -> float:
        started, frames = time.perf_counter(), 0
        async for event in client.vision.KeyGreenScreen(request, timeout=300):
            if event.WhichOneof("event") == "result":
                frames = event.result.frames
        return frames / (time.perf_counter() - started)

    async def chunk_ms(shared: bool) -> list[float]:
        triton = TritonClient(settings.triton_address, shared_memory=shared)
        keyer = service.GreenScreenKeyer(triton)
        times = []
        try:
            for _ in range(TRANSPORT_CALLS):
                started = time.perf_counter()
                await keyer.key_planes(planes, row)
                times.append(1000 * (time.perf_counter() - started))
        finally:
            await triton.close()
        return times

    async def measure() -> dict[str, list[float]]:
        out: dict[str, list[float]] = {"ceiling_fps": [], "mesh_job_fps": [], "grpc_ms": [],
                                       "shm_ms": []}
        async with MeshClient.from_settings(settings) as client:
            await job(client)  # warm: models loaded, regions registered
            for _ in range(JOB_REPEATS):
                out["ceiling_fps"].append(time_ceiling(source, source.with_name("c.mp4")))
                out["mesh_job_fps"].append(await job(client))
                out["grpc_ms"] += await chunk_ms(False)
                out["shm_ms"] += await chunk_ms(True)
        return out

    try:
        return asyncio.run(measure())
    finally:
        control.down(settings)


# the section --------------------------------------------------------------------------


def eval_keying(count: int, on_mesh: bool = True) -> dict[str, Any]:
    """Alpha MAE, edge MAE, IoU and keying fps: ours vs FFmpeg chromakey / colorkey; the
    whole job in-process and (`on_mesh`) through a mesh this starts."""
    frame_count = round(SECONDS * FPS)
    rows: list[dict[str, Any]] = []
    tuned: dict[str, Any] = {}
    per_clip: list[dict[str, Any]] = []
    job: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="vision-keying-") as tmp:
        folder = Path(tmp)
        for screen in SCREENS:
            tune_path = folder / f"tune-{screen.value}.mp4"
            tune_truth = write_clip(tune_path, TUNE_SEED, 640, 360, screen, TUNE_FRAMES * 3)
            tune_frames, tune_truth = decoded(tune_path)[::3], tune_truth[::3]
            methods: dict[str, tuple[Keyer, int, str]] = {
                "mediamesh green_keyer": (OurKeyer(), service.CHUNK_FRAMES,
                                          (f"service defaults: {AutoThresholds().label()}, "
                                           f"spill={KeyParams.spill:g}"))}
            mine, mae = tune_ours(tune_frames, tune_truth)
            tuned[f"mediamesh/{screen.value}"] = {"params": mine.label(), "tune_mae": mae}
            methods["mediamesh green_keyer, tuned like FFmpeg"] = (
                OurKeyer(mine), service.CHUNK_FRAMES, f"tuned: {mine.label()}")
            for name in ("chromakey", "colorkey"):
                key, mae = tune(name, screen, tune_frames, tune_truth)
                tuned[f"{name}/{screen.value}"] = {"params": key.label(), "tune_mae": mae}
                methods[f"FFmpeg {name} + despill"] = (FFmpegKeyer(key, screen), 1,
                                                       key.label())
            tallies = {name: Tally() for name in methods}
            for k, (width, height) in product(range(count), SIZES):
                seed = FIRST_SEED + k
                path = folder / f"key-{seed}-{width}x{height}-{screen.value}.mp4"
                truth = write_clip(path, seed, width, height, screen, frame_count)
                frames = decoded(path)
                if len(frames) != len(truth):
                    raise RuntimeError(f"{path.name}: decoded {len(frames)} frames, "
                                       f"truth has {len(truth)}")
                bands = [edge_band(t) for t in truth]
                entry: dict[str, Any] = {"clip": path.name}
                for name, (keyer, chunk, _) in methods.items():
                    alphas, seconds = run_keyer(keyer, frames, chunk)
                    tallies[name].add(alphas, truth, bands, seconds)
                    entry[name] = mean_error(alphas, truth)
                per_clip.append(entry)
            rows += [tallies[name].row(name, screen.value, params)
                     for name, (_, _, params) in methods.items()]
        source = folder / "job-720p.mp4"
        write_job_clip(source)
        ceiling, keyed = [], []
        for _ in range(JOB_REPEATS):
            ceiling.append(time_ceiling(source, folder / "ceiling.mp4"))
            keyed.append(time_job(source, folder / "job.mp4"))
        job = {"ceiling_fps": ceiling, "job_fps": keyed, "frames": round(JOB_SECONDS * FPS)}
        if on_mesh:
            job["mesh"] = time_on_mesh(source)
    frames = job["frames"]
    ceiling_fps, job_fps = max(job["ceiling_fps"]), max(job["job_fps"])
    rows += [{"method": "whole 720p job in-process (decode, key, composite, encode)",
              "screen": "green", "frames": frames, "fps": job_fps,
              "x_ceiling": job_fps / ceiling_fps},
             {"method": "decode + encode ceiling (beside the in-process job)", "screen": "green",
              "frames": frames, "fps": ceiling_fps, "x_ceiling": 1.0}]
    if on_mesh:
        mesh = job["mesh"]
        mesh_ceiling, mesh_fps = max(mesh["ceiling_fps"]), max(mesh["mesh_job_fps"])
        grpc_ms, shm_ms = np.median(mesh["grpc_ms"]), np.median(mesh["shm_ms"])
        rows += [{"method": "whole 720p job through the mesh (VisionService + Triton)",
                  "screen": "green", "frames": frames, "fps": mesh_fps,
                  "x_ceiling": mesh_fps / mesh_ceiling},
                 {"method": "decode + encode ceiling (beside the mesh job)", "screen": "green",
                  "frames": frames, "fps": mesh_ceiling, "x_ceiling": 1.0},
                 {"method": f"one {service.CHUNK_FRAMES}-frame 720p chunk to Triton: gRPC "
                            f"{grpc_ms:.1f} ms, shared memory {shm_ms:.1f} ms (p50)",
                  "screen": "green", "frames": service.CHUNK_FRAMES,
                  "fps": service.CHUNK_FRAMES * 1000 / shm_ms,
                  "x_ceiling": None, "params": f"shared memory {grpc_ms / shm_ms:.2f}x faster"}]
    clips = count * len(SIZES) * len(SCREENS)
    return {"title": f"keying: {clips} clips ({count} seeds x 1280x720 / 640x360 x green / "
                     f"blue), {clips * frame_count} frames, alpha against the exact truth "
                     f"(edge = {EDGE_PX} px either side of the truth edge; fps = keyer call "
                     "only, 1 thread, at 720p; FFmpeg parameters tuned on a separate seed; "
                     f"jobs on a {JOB_SECONDS:g} s 720p clip, each beside its ceiling, best of "
                     f"{JOB_REPEATS}, H.264 crf 20 veryfast)",
            "table": rows, "columns": COLUMNS, "tuned": tuned, "clips": per_clip, "job": job}


if __name__ == "__main__":
    import json
    import sys

    result = eval_keying(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    print(json.dumps(result["table"], indent=1))
