"""`mediamesh demo --job greenscreen`: green-screen keying end to end through the running mesh.

Render a clip with an exact alpha matte, key it through VisionService -> Triton (green_keyer),
composite it over a backdrop, measure the alpha error against the truth, and draw a contact
sheet.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.jobs import key_green_screen, require_healthy_mesh
from mediamesh.synth import green_screen as synth
from mediamesh.v1 import audio_pb2, common_pb2

WIDTH, HEIGHT, FPS, SECONDS = 640, 360, 25.0, 4.0


def render_inputs(folder: Path) -> tuple[Path, Path, list[np.ndarray]]:
    """The synthetic clip (with audio), its backdrop, and the true alpha of every frame."""
    folder.mkdir(parents=True, exist_ok=True)
    clip, backdrop = folder / "greenscreen.mp4", folder / "backdrop.png"
    truth = []
    with media.VideoWriter(clip, WIDTH, HEIGHT, FPS, audio_sample_rate=48000) as writer:
        for frame in synth.render_clip(int(SECONDS * FPS), FPS, WIDTH, HEIGHT):
            writer.write(frame.rgb)
            truth.append(frame.alpha)
        writer.write_audio(synth.tone(SECONDS))
    media.write_image(backdrop, synth.background_image(WIDTH, HEIGHT))
    return clip, backdrop, truth


def alpha_error(alpha_video: Path, truth: list[np.ndarray]) -> float:
    """Mean absolute alpha error (0-1) of the keyed matte against the exact one."""
    errors = [float(np.abs(f.rgb[..., 0].astype(np.float32) / 255.0 - truth[f.index]).mean())
              for f in media.iter_frames(alpha_video) if f.index < len(truth)]
    return float(np.mean(errors))


def contact_sheet(rows: list[Path], times: list[float], target: Path) -> None:
    """One row per video (input, matte, composite), one column per time, as a PNG."""
    tiles = []
    for video in rows:
        frames = [media.read_frame_at(video, t).rgb[::2, ::2] for t in times]
        tiles.append(np.concatenate(frames, axis=1))
    media.write_image(target, np.concatenate(tiles, axis=0))


async def measure_loudness(settings: Settings, uri: str) -> audio_pb2.AnalyzeLoudnessResponse:
    """The kept audio track, measured by AudioService (BS.1770-4)."""
    async with MeshClient.from_settings(settings) as mesh:
        return await mesh.audio.AnalyzeLoudness(audio_pb2.AnalyzeLoudnessRequest(
            audio=common_pb2.MediaRef(uri=uri)), timeout=120)


async def run_demo(settings: Settings, out_dir: Path, console: Console) -> dict[str, object]:
    require_healthy_mesh(settings)
    root = settings.media_root
    console.print("[bold]mediamesh demo[/bold]: green-screen keying through VisionService -> "
                  "Triton, loudness of the kept audio through AudioService")
    clip, backdrop, truth = render_inputs(root / "demo")
    started = time.perf_counter()
    composite = await key_green_screen(settings, clip, "demo/keyed.mp4", backdrop, "composite",
                                       console)
    keyed_s = time.perf_counter() - started
    matte = await key_green_screen(settings, clip, "demo/alpha.mp4", None, "alpha", console)
    out_dir.mkdir(parents=True, exist_ok=True)
    keyed, alpha = root / composite.output.uri, root / matte.output.uri
    mae = alpha_error(alpha, truth)
    loudness = await measure_loudness(settings, composite.output.uri)
    sheet = out_dir / "contact_sheet.png"
    contact_sheet([clip, alpha, keyed], [0.5, 1.5, 2.5, 3.5], sheet)
    for path in (clip, keyed, alpha):
        shutil.copy2(path, out_dir / path.name)
    outputs = {"composite": str(out_dir / keyed.name), "alpha": str(out_dir / alpha.name),
               "contact_sheet": str(sheet)}
    report: dict[str, object] = {"frames": composite.frames, "seconds_of_video": composite.duration,
              "keying_wall_s": round(keyed_s, 2),
              "fps": round(composite.frames / keyed_s, 1),
              "alpha_mae_vs_truth": round(mae, 4), "key_color": "green",
              "audio_integrated_lufs": round(loudness.integrated_lufs, 1),
              "audio_true_peak_dbtp": round(loudness.true_peak_dbtp, 1), "outputs": outputs}
    (out_dir / "demo.json").write_text(json.dumps(report, indent=2))
    table = Table(title="demo result")
    table.add_column("what")
    table.add_column("value")
    for key_name in ("frames", "keying_wall_s", "fps", "alpha_mae_vs_truth",
                     "audio_integrated_lufs", "audio_true_peak_dbtp"):
        table.add_row(key_name, str(report[key_name]))
    for name, where in outputs.items():
        table.add_row(name, where)
    console.print(table)
    return report
