"""`mediamesh remove-subtitles VIDEO` (VisionService.RemoveSubtitles), `mediamesh
extract-subtitles VIDEO` (TextService.ExtractSubtitles) and `mediamesh subtitles VIDEO`
(workflows/subtitles.yaml: OCR and speech to SRT, optionally burned in) on the running
mesh, with progress bars."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from mediamesh.config import Settings
from mediamesh.jobs import JobError, run_with_progress, stage
from mediamesh.v1 import common_pb2, text_pb2, vision_pb2

METHODS = {"telea": vision_pb2.INPAINT_METHOD_TELEA,
           "navier-stokes": vision_pb2.INPAINT_METHOD_NAVIER_STOKES,
           "blur": vision_pb2.INPAINT_METHOD_BLUR}


def parse_band(text: str) -> common_pb2.Box:
    """'top,bottom' (full width) or 'x,y,w,h', fractions of the frame."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 2:
        return common_pb2.Box(x=0.0, y=values[0], width=1.0, height=values[1] - values[0])
    if len(values) == 4:
        return common_pb2.Box(x=values[0], y=values[1], width=values[2], height=values[3])
    raise JobError(f"--band must be 'top,bottom' or 'x,y,w,h' fractions of the frame, e.g. "
                   f"'0.8,1.0'; got '{text}'")


async def remove_subtitles(settings: Settings, video: Path, console: Console, *,
                           band: str | None = None, method: str = "telea", output: str = ""
                           ) -> vision_pb2.RemoveSubtitlesResult:
    """Run RemoveSubtitles on a local file with a progress bar (on `console`)."""
    if method not in METHODS:
        raise JobError(f"--method must be one of {', '.join(METHODS)}, got '{method}'")
    request = vision_pb2.RemoveSubtitlesRequest(
        video=stage(settings, video), output=common_pb2.OutputSpec(uri=output, overwrite=True),
        method=METHODS[method])
    if band:
        request.region.CopyFrom(parse_band(band))
    result: vision_pb2.RemoveSubtitlesResult = await run_with_progress(
        settings, console, f"removing subtitles from {video.name}",
        lambda mesh: mesh.vision.RemoveSubtitles(request, timeout=3600))
    return result


async def extract_subtitles(settings: Settings, video: Path, console: Console, *,
                            band: str | None = None, sample_fps: float = 0.0,
                            split: bool = False, output: str = ""
                            ) -> text_pb2.ExtractSubtitlesResult:
    """Run ExtractSubtitles on a local file with a progress bar (on `console`)."""
    request = text_pb2.ExtractSubtitlesRequest(
        video=stage(settings, video), output=common_pb2.OutputSpec(uri=output, overwrite=True),
        sample_fps=sample_fps, split_languages=split)
    if band:
        request.region.CopyFrom(parse_band(band))
    result: text_pb2.ExtractSubtitlesResult = await run_with_progress(
        settings, console, f"reading subtitles of {video.name}",
        lambda mesh: mesh.text.ExtractSubtitles(request, timeout=3600))
    return result


def cues_table(result: text_pb2.ExtractSubtitlesResult) -> Table:
    table = Table(title=f"{len(result.cues)} cues")
    for column in ("#", "start s", "end s", "lang", "text", "conf"):
        table.add_column(column, justify="right" if column.endswith("s") or column in (
            "#", "conf") else "left")
    for cue in result.cues:
        table.add_row(str(cue.index), f"{cue.range.start:.2f}", f"{cue.range.end:.2f}",
                      cue.language, cue.text, f"{cue.confidence:.2f}")
    return table


async def subtitles_workflow(settings: Settings, video: Path, console: Console, *,
                             ocr: bool, speech: bool, burn_in: bool, mux: bool,
                             out_dir: Path) -> dict[str, Path]:
    """workflows/subtitles.yaml on a local video (progress per step from the run's events);
    copies the SRT files (and the subtitled video) into `out_dir`."""
    from mediamesh import workflow_cli as wc

    if burn_in and not speech:
        raise JobError("--burn-in burns the speech subtitles: drop --no-speech")
    if not (ocr or speech):
        raise JobError("--no-ocr and --no-speech leave nothing to do")
    inputs = {"video": stage(settings, video).uri, "name": video.stem, "ocr": ocr,
              "speech": speech, "burn_in": burn_in, "mux": mux}
    outputs = await wc.run_to_end(settings, "subtitles", inputs, console, "subtitles")
    refs = {key: outputs.get(key) for key in ("srt", "speech_srt", "subtitled_video",
                                              "tracks_video")}
    refs |= {f"srt ({language})": ref
             for language, ref in sorted((outputs.get("srt_by_language") or {}).items())}
    written: dict[str, Path] = {}
    for key, ref in refs.items():
        copied = wc.copy_output(settings, ref, out_dir / Path((ref or {}).get("uri", "")).name)
        if copied is not None:
            written[key] = copied
    return written
