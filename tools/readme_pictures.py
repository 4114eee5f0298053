"""The README's before/after pictures, rendered from generated media with exact truth by the
services' own job code, run in-process on the models in onnxruntime (bench/local_models.py:
the work Triton does for the service, on one thread).

    .venv/bin/python tools/readme_pictures.py [--only NAME]

Writes docs/images/<name>.png for shots, keying, fingerprint, blur, reframe, subtitles and
covers (docs/images/portrait.png is made elsewhere and left alone). Every clip is rendered
from a fixed seed into a temporary folder; only the PNGs land in docs/images. Captions
report what the job returned next to the generator's truth, so a picture never claims more
than the run showed.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from local_models import LocalModels  # noqa: E402

from mediamesh import media  # noqa: E402
from mediamesh.storage import StoredOutput  # noqa: E402
from mediamesh.synth import copies, green_screen, overlays, portraits, subtitles, videos  # noqa: E402
from services.vision import cover_job, fingerprint, reframe_job, shot_detection  # noqa: E402
from services.vision import green_screen as keyer  # noqa: E402
from services.vision.keying import KeyParams  # noqa: E402
from services.vision.reframe_path import crop_at  # noqa: E402
from services.vision.region_blur import BlurJob, BlurOutcome, RegionBlurrer  # noqa: E402
from services.vision.regions import NormBox, Region, Style  # noqa: E402
from services.vision.shots import ShotParams  # noqa: E402
from services.vision.subtitle_job import SubtitleJob, SubtitleOutcome, SubtitleRemover  # noqa: E402
from services.vision.subtitle_removal import Method  # noqa: E402

IMAGES = REPO / "docs" / "images"
MAX_WIDTH = 1400
MAX_BYTES = 400_000
GAP = 8
WHITE = (255, 255, 255)
INK = (34, 34, 34)
GREY = (120, 120, 120)
TRUTH = (40, 90, 200)
FOUND = (20, 150, 60)
MISSED = (210, 40, 40)
BOX = (255, 220, 0)
FONT = ImageFont.load_default(size=14)
SMALL = ImageFont.load_default(size=12)

T = TypeVar("T")


# jobs ---------------------------------------------------------------------------------


async def _last(items: AsyncIterator[Any], kind: type[T]) -> T:
    """Drain a job (progress, then one outcome) and return its outcome."""
    outcome = None
    async for item in items:
        if isinstance(item, kind):
            outcome = item
    if outcome is None:
        raise RuntimeError(f"the job ended without a {kind.__name__}")
    return outcome


def run(items: AsyncIterator[Any], kind: type[T]) -> T:
    return asyncio.run(_last(items, kind))


def output(folder: Path, name: str) -> StoredOutput:
    return StoredOutput(folder / name, f"pictures/{name}")


def frame_at(path: Path, seconds: float) -> np.ndarray:
    return media.read_frame_at(path, seconds).rgb


# drawing ------------------------------------------------------------------------------


def fit(rgb: np.ndarray | Image.Image, width: int) -> Image.Image:
    """A panel `width` px wide, the aspect kept."""
    image = rgb if isinstance(rgb, Image.Image) else Image.fromarray(np.ascontiguousarray(rgb))
    height = max(1, round(image.height * width / image.width))
    return image.convert("RGB").resize((width, height), Image.LANCZOS)


def rectangle(image: Image.Image, box: tuple[float, float, float, float],
              colour: tuple[int, int, int], width: int = 2, dashed: bool = False) -> None:
    """Outline a normalised (x, y, w, h) box on a panel, in place."""
    draw = ImageDraw.Draw(image)
    x, y, w, h = box
    left, top = x * image.width, y * image.height
    right, bottom = (x + w) * image.width - 1, (y + h) * image.height - 1
    if not dashed:
        draw.rectangle((left, top, right, bottom), outline=colour, width=width)
        return
    for a, b in (((left, top), (right, top)), ((right, top), (right, bottom)),
                 ((left, bottom), (right, bottom)), ((left, top), (left, bottom))):
        length = float(np.hypot(b[0] - a[0], b[1] - a[1]))
        for s in np.arange(0.0, length, 8.0):
            e = min(length, s + 4.0)
            draw.line((a[0] + (b[0] - a[0]) * s / length, a[1] + (b[1] - a[1]) * s / length,
                       a[0] + (b[0] - a[0]) * e / length, a[1] + (b[1] - a[1]) * e / length),
                      fill=colour, width=width)


def caption(panel: Image.Image, lines: Sequence[str], font: Any = FONT) -> Image.Image:
    """The panel with a white strip of text lines under it."""
    line_h = font.size + 4
    out = Image.new("RGB", (panel.width, panel.height + 6 + line_h * len(lines)), WHITE)
    out.paste(panel, (0, 0))
    draw = ImageDraw.Draw(out)
    for i, text in enumerate(lines):
        draw.text((2, panel.height + 4 + i * line_h), text, fill=INK, font=font)
    return out


def hstack(panels: Sequence[Image.Image], gap: int = GAP) -> Image.Image:
    out = Image.new("RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1),
                            max(p.height for p in panels)), WHITE)
    x = 0
    for p in panels:
        out.paste(p, (x, 0))
        x += p.width + gap
    return out


def vstack(panels: Sequence[Image.Image], gap: int = GAP) -> Image.Image:
    out = Image.new("RGB", (max(p.width for p in panels),
                            sum(p.height for p in panels) + gap * (len(panels) - 1)), WHITE)
    y = 0
    for p in panels:
        out.paste(p, (0, y))
        y += p.height + gap
    return out


def save(image: Image.Image, name: str) -> tuple[Path, Image.Image]:
    if image.width > MAX_WIDTH:
        raise ValueError(f"{name}: {image.width} px wide, the README's limit is {MAX_WIDTH}")
    path = IMAGES / f"{name}.png"
    image.save(path, optimize=True)
    while path.stat().st_size > MAX_BYTES:  # busy textures: a little smaller, never a palette
        image = image.resize((round(image.width * 0.92), round(image.height * 0.92)),
                             Image.LANCZOS)
        image.save(path, optimize=True)
    return path, image


# 1. shots -----------------------------------------------------------------------------

SHOTS_SEED = 12  # opens with a fade in; fade out, dissolve, cut, dissolve, fade in; 2 flashes
THUMBS = 12
THUMB_W = 108
LABELS = {"cut": "cut", "dissolve": "dissolve", "fade_in": "fade in", "fade_out": "fade out"}


def shots_picture(tmp: Path, models: LocalModels) -> tuple[Image.Image, list[str]]:
    path = tmp / "shots.mp4"
    truth = videos.write_clip(path, SHOTS_SEED, shots=6)
    info = media.probe(path)
    job = shot_detection.ShotJob(path, 0.0, None, ShotParams.from_sensitivity(0.0, True), False)
    outcome = run(shot_detection.ShotDetector(models).run(job, info, None),  # type: ignore[arg-type]
                  shot_detection.ShotOutcome)
    n = truth.frame_count
    wanted = [round((k + 0.5) * n / THUMBS) for k in range(THUMBS)]
    thumbs = {f.index: f.rgb for f in media.iter_frames(path, size=(THUMB_W, THUMB_W * 9 // 16))
              if f.index in wanted}
    strip = hstack([fit(thumbs[i], THUMB_W) for i in wanted], gap=2)
    width = strip.width

    def x_of(frame: float) -> float:
        return frame / n * width

    found = [(s.start_frame, s.shot.transition_in.value) for s in outcome.shots[1:]]
    rows = Image.new("RGB", (width, 118), WHITE)
    draw = ImageDraw.Draw(rows)
    draw.text((2, 2), f"truth ({n} frames, {n / truth.fps:.1f} s): first frame of the new "
              "shot, gradual spans shaded", fill=TRUTH, font=SMALL)
    draw.text((2, 62), "DetectShots (--gradual), in-process on the models", fill=FOUND,
              font=SMALL)
    for y in (40, 100):
        draw.line((0, y, width, y), fill=(200, 200, 200), width=1)
    notes = []
    for b in truth.boundaries:
        draw.rectangle((x_of(b.span_start), 34, max(x_of(b.span_end), x_of(b.span_start) + 2),
                        40), fill=(170, 190, 235))
        draw.line((x_of(b.frame), 22, x_of(b.frame), 40), fill=TRUTH, width=3)
        label = f"{LABELS[b.kind.value]} {b.frame}"
        draw.text((x_of(b.frame) + 4, 18), label, fill=TRUTH, font=SMALL)
    for flash in truth.flashes:
        x = x_of(flash.start)
        draw.polygon((x, 40, x - 4, 46, x + 4, 46), fill=GREY)
        draw.text((x - 14, 46), "flash", fill=GREY, font=SMALL)
    errors = []
    for frame, kind in found:
        near = min(truth.boundaries, key=lambda b: abs(b.frame - frame))
        ok = abs(near.frame - frame) <= 3 and near.kind.value == kind
        if ok:
            errors.append(abs(near.frame - frame))
        else:
            notes.append(f"shots: detected {kind} at frame {frame}; the nearest truth is "
                         f"{near.kind.value} at {near.frame}")
        colour = FOUND if ok else MISSED
        draw.line((x_of(frame), 82, x_of(frame), 100), fill=colour, width=3)
        draw.text((x_of(frame) + 4, 78), f"{LABELS.get(kind, kind)} {frame}", fill=colour,
                  font=SMALL)
    for b in truth.boundaries:
        if not any(abs(b.frame - f) <= 3 for f, _ in found):
            notes.append(f"shots: truth {b.kind.value} at frame {b.frame} not detected")
    opening = outcome.shots[0].shot.transition_in.value
    summary = (f"{len(truth.boundaries)} true boundaries, {len(found)} detected, "
               f"{len(errors)} matching in kind within 3 frames (max error "
               f"{max(errors, default=0)} frames); the clip opens with a "
               f"{truth.shots[0].transition_in.value.replace('_', ' ')} (detected: "
               f"{opening.replace('_', ' ')}); white flashes are not boundaries")
    draw.text((2, 104), summary, fill=INK, font=SMALL)
    if opening != truth.shots[0].transition_in.value:
        notes.append(f"shots: opening detected as {opening}, truth "
                     f"{truth.shots[0].transition_in.value}")
    return vstack([strip, rows], gap=4), notes


# 2. keying ----------------------------------------------------------------------------

KEY_SIZE = (640, 360)
KEY_FRAME = 11
PANEL_W = 420


def keying_picture(tmp: Path, models: LocalModels) -> tuple[Image.Image, list[str]]:
    width, height = KEY_SIZE
    frame = green_screen.render_frame(KEY_FRAME, 25.0, width, height, seed=7)
    source = tmp / "green.png"
    media.write_image(source, frame.rgb)
    backdrop = green_screen.background_image(width, height)
    job = keyer.KeyJob(source, None, KeyParams(), keyer.OutputMode.COMPOSITE, None, backdrop,
                       0.0, None)
    outcome = run(keyer.GreenScreenKeyer(models).run(  # type: ignore[arg-type]
        job, media.probe(source), output(tmp, "keyed.png"), output(tmp, "keyed.alpha.png")),
        keyer.KeyOutcome)
    composite = media.read_image(outcome.output.path)[..., :3]
    alpha = media.read_image(outcome.alpha_preview.path)[..., 0].astype(np.float32) / 255.0
    mae = float(np.abs(alpha - frame.alpha).mean())
    edge = (frame.alpha > 0.02) & (frame.alpha < 0.98)
    edge = ndimage.binary_dilation(edge, iterations=2)
    edge_mae = float(np.abs(alpha - frame.alpha)[edge].mean())
    panels = [
        caption(fit(frame.rgb, PANEL_W), ["input: lit green screen, soft rim with spill",
                                          "(mediamesh.synth.green_screen)"]),
        caption(fit(np.repeat((alpha * 255).astype(np.uint8)[..., None], 3, -1), PANEL_W),
                [f"alpha from green_keyer (key: {outcome.key_channel.value}, detected)",
                 f"vs exact matte: MAE {mae:.3f}, {edge_mae:.3f} at the edge"]),
        caption(fit(composite, PANEL_W), ["composite over a background image",
                                          "(de-spilled foreground)"]),
    ]
    notes = [f"keying: alpha MAE {mae:.4f}, edge MAE {edge_mae:.4f}"] if edge_mae > 0.1 else []
    leak = float((alpha[frame.alpha == 0] > 8 / 255).mean())  # screen left partly opaque
    if leak > 0.01:
        notes.append(f"keying: {leak:.1%} of the screen's pixels keep alpha > 8/255 (max "
                     f"{alpha[frame.alpha == 0].max() * 255:.0f}/255)")
    return hstack(panels), notes


# 3. fingerprint -----------------------------------------------------------------------

FP_SEED = 21
FP_OTHER_SEED = 14
FP_RECIPE = copies.CopyRecipe(trim_start=2.6, scale=2 / 3, crf=30, logo=True)
FP_SHOWN = "shapes"  # the frames shown are the middle of the original's first shot of this kind


def _fingerprint(models: LocalModels, path: Path) -> fingerprint.Fingerprint:
    from services.vision.fingerprint_job import (
        Fingerprinter,
        FingerprintJob,
        FingerprintOutcome,
    )

    info = media.probe(path)
    outcome = run(Fingerprinter(models).run(FingerprintJob(path, 2.0), info),  # type: ignore[arg-type]
                  FingerprintOutcome)
    return outcome.samples.fingerprint(2.0, outcome.duration)


def fingerprint_picture(tmp: Path, models: LocalModels) -> tuple[Image.Image, list[str]]:
    original, other, copy = tmp / "original.mp4", tmp / "other.mp4", tmp / "copy.mp4"
    source = videos.write_clip(original, FP_SEED, shots=6)
    videos.write_clip(other, FP_OTHER_SEED, shots=4)
    truth = copies.write_copy(original, copy, FP_RECIPE)
    shown = next(s for s in source.shots if s.content == FP_SHOWN)
    show_at = round((shown.start + shown.end) / 2 / source.fps - truth.offset, 2)
    query = _fingerprint(models, copy)
    found = fingerprint.match(query, _fingerprint(models, original))
    unrelated = fingerprint.match(query, _fingerprint(models, other),
                                  fingerprint.MatchParams(min_score=0.0))
    notes = []
    if found is None:
        notes.append("fingerprint: the copy does not match its original")
        offset, score = truth.offset, 0.0
        found_text = "no match found"
    else:
        offset, score = found.offset, found.score
        found_text = (f"match: score {score:.3f}, offset {offset:+.2f} s "
                      f"(truth {truth.offset:+.2f} s)")
        if abs(found.offset - truth.offset) > 0.1:
            notes.append(f"fingerprint: offset {found.offset:+.3f} s, truth {truth.offset:+.3f}")
    copy_info = media.probe(copy)
    info = media.probe(original)
    panels = [
        caption(fit(frame_at(original, show_at + offset), PANEL_W),
                [f"original ({info.width}x{info.height}) at {show_at + offset:.2f} s",
                 "= copy time + the offset the match found"]),
        caption(fit(frame_at(copy, show_at), PANEL_W),
                [f"copy ({copy_info.width}x{copy_info.height}, CRF {FP_RECIPE.crf}, "
                 f"first {FP_RECIPE.trim_start:g} s cut, logo) at {show_at:.2f} s",
                 found_text]),
        caption(fit(frame_at(other, show_at), PANEL_W),
                ["an unrelated clip as the candidate: no match",
                 f"(best alignment scores {unrelated.score:.2f})" if unrelated
                 else "(no offset gets a vote: nothing aligns)"]),
    ]
    if unrelated is not None and unrelated.score >= fingerprint.MatchParams().min_score:
        notes.append(f"fingerprint: the unrelated clip scores {unrelated.score:.3f}")
    return hstack(panels), notes


# 4. blur ------------------------------------------------------------------------------

BLUR_SEED = 15  # textured shots at BLUR_TIMES (seed 11 adds a false box at (0.40, 0.17))
BLUR_SECONDS = 6.0
MOVING = Region(((0.5, NormBox(0.10, 0.45, 0.22, 0.30)), (5.5, NormBox(0.62, 0.50, 0.22, 0.30))))
BLUR_TIMES = (2.0, 4.0)


BLUR_PANEL_W = 370  # busy textures: narrower panels keep the file under MAX_BYTES


def blur_picture(tmp: Path, models: LocalModels) -> tuple[Image.Image, list[str]]:
    path = tmp / "logo.mp4"
    truth = overlays.write_clip(path, BLUR_SEED, seconds=BLUR_SECONDS, corner="top_right")
    job = BlurJob(path, (MOVING,), Style.GAUSSIAN, 0.5, True)
    outcome = run(RegionBlurrer(models).run(job, media.probe(path), output(tmp, "blurred.mp4")),  # type: ignore[arg-type]
                  BlurOutcome)
    assert truth.box is not None
    tx, ty, tw, th = truth.box

    def covered(d: Any) -> float:
        inter_w = max(0.0, min(d.box.x + d.box.width, tx + tw) - max(d.box.x, tx))
        inter_h = max(0.0, min(d.box.y + d.box.height, ty + th) - max(d.box.y, ty))
        return inter_w * inter_h / (tw * th)

    logo = max(outcome.detected, key=covered, default=None)
    others = [d for d in outcome.detected if d is not logo]
    notes = []
    if logo is None or covered(logo) < 0.95:
        notes.append("blur: the drawn logo was not found" if logo is None else
                     f"blur: the found box covers {covered(logo):.0%} of the drawn logo")
    for d in others:
        notes.append(f"blur: a box that is no logo: ({d.box.x:.3f}, {d.box.y:.3f}, "
                     f"{d.box.width:.3f}, {d.box.height:.3f}) {d.start:.1f}-{d.end:.1f} s, "
                     f"confidence {d.confidence:.2f}")
    found_text = (f"found ({logo.box.x:.3f}, {logo.box.y:.3f}, {logo.box.width:.3f}, "
                  f"{logo.box.height:.3f}), {logo.start:.1f}-{logo.end:.1f} s" if logo
                  else "no logo found")
    if others:
        found_text += f" (+{len(others)} false)"
    before = fit(frame_at(path, BLUR_TIMES[0]), BLUR_PANEL_W)
    for d in outcome.detected:
        rectangle(before, (d.box.x, d.box.y, d.box.width, d.box.height), BOX)
    moving = MOVING.box_at(BLUR_TIMES[0])
    assert moving is not None
    rectangle(before, (moving.x, moving.y, moving.width, moving.height), WHITE, dashed=True)
    panels = [
        caption(before, [f"before, {BLUR_TIMES[0]:g} s: the logo box BlurRegions found (yellow),",
                         "a keyframed box given in the request (dashed)"]),
        caption(fit(frame_at(outcome.output.path, BLUR_TIMES[0]), BLUR_PANEL_W),
                [f"after, {BLUR_TIMES[0]:g} s (Gaussian, strength 0.5)", found_text]),
        caption(fit(frame_at(outcome.output.path, BLUR_TIMES[1]), BLUR_PANEL_W),
                [f"after, {BLUR_TIMES[1]:g} s: the keyframed box has moved",
                 f"drawn logo: ({tx:.3f}, {ty:.3f}, {tw:.3f}, {th:.3f}), whole clip"]),
    ]
    return hstack(panels), notes


# 5. reframe ---------------------------------------------------------------------------

REFRAME_SEED = 5  # the coffee photo behind; the face moves from 0.30 to 0.59 of the width
SOURCE_W, OUT_H = 304, 171


def reframe_picture(tmp: Path, models: LocalModels) -> tuple[Image.Image, list[str]]:
    path = tmp / "portrait.mp4"
    clip = portraits.write_clip(path, REFRAME_SEED, seconds=6.0, background="photo")
    t = clip.truth
    options = reframe_job.ReframeOptions.checked(0, 0, (9, 16), None, False, 0.0, [])
    outcome = run(reframe_job.Reframer(models).run(  # type: ignore[arg-type]
        reframe_job.ReframeJob(path, options), media.probe(path), output(tmp, "vertical.mp4")),
        reframe_job.ReframeOutcome)
    xs = np.array([p.centre_x for p in t.poses])
    picks = sorted({int(np.argmin(xs)), int(np.argmax(xs)),
                    int(np.argmin(np.abs(xs - (xs.min() + xs.max()) / 2)))})
    starts = [p.start for p in outcome.plans]
    notes = []
    pairs = []
    for index in picks:
        when = index / t.fps
        plan = outcome.plans[max(0, int(np.searchsorted(starts, when + 1e-6, side="right")) - 1)]
        crop = crop_at(plan, when)
        face = portraits.face_box(t.poses[index], t.width, t.height)
        source = fit(frame_at(path, when), SOURCE_W)
        rectangle(source, (crop.x, crop.y, crop.width, crop.height), BOX, width=3)
        rectangle(source, face, WHITE, width=1, dashed=True)
        vertical = frame_at(outcome.output.path, when)
        inside = (face[0] >= crop.x - 0.005 and face[0] + face[2] <= crop.x + crop.width + 0.005)
        if not inside:
            notes.append(f"reframe: at {when:.2f} s the face ({face[0]:.3f}-"
                         f"{face[0] + face[2]:.3f}) is not inside the crop ({crop.x:.3f}-"
                         f"{crop.x + crop.width:.3f})")
        out = Image.fromarray(vertical).resize((round(OUT_H * vertical.shape[1]
                                                      / vertical.shape[0]), OUT_H),
                                               Image.LANCZOS)
        pair = hstack([source, out], gap=4)
        pairs.append(caption(pair, [f"{when:.2f} s: crop (yellow), true face (dashed),",
                                    f"{plan.mode.value} camera; 9:16 output right"]))
    modes = ", ".join(f"{p.start:.1f}-{p.end:.1f} s {p.mode.value}" for p in outcome.plans)
    picture = hstack(pairs, gap=14)
    footer = caption(Image.new("RGB", (picture.width, 1), WHITE),
                     [f"Reframe 16:9 {t.width}x{t.height} -> {outcome.size[0]}x"
                      f"{outcome.size[1]}; shots: {modes}"])
    return vstack([picture, footer], gap=0), notes


# 6. subtitles -------------------------------------------------------------------------

SUB_SEED = 2
SUB_CUE = 1  # the second line, over a slowly drifting texture, 0.24 s after a cut
SUB_SECONDS = 6.0
SUB_PANEL_W = 380


def subtitles_picture(tmp: Path, models: LocalModels) -> tuple[Image.Image, list[str]]:
    frames, clean, truth = subtitles.render(SUB_SEED, seconds=SUB_SECONDS)
    path = tmp / "subtitled.mp4"
    with media.VideoWriter(path, truth.width, truth.height, truth.fps) as writer:
        for f in frames:
            writer.write(f)
    job = SubtitleJob(path, None, Method.TELEA)
    outcome = run(SubtitleRemover(models).run(job, media.probe(path),  # type: ignore[arg-type]
                                              output(tmp, "cleaned.mp4")), SubtitleOutcome)
    cue = truth.cues[SUB_CUE]
    index = round((cue.start + 0.7 * (cue.end - cue.start)) * truth.fps)
    when = index / truth.fps
    cleaned = frame_at(outcome.output.path, when)
    subtitled = frame_at(path, when)
    x, y, w, h = cue.box
    rows = slice(max(0, round((y - 0.04) * truth.height)),
                 min(truth.height, round((y + h + 0.04) * truth.height)))
    cols = slice(max(0, round((x - 0.03) * truth.width)),
                 min(truth.width, round((x + w + 0.03) * truth.width)))
    text_px = np.zeros(clean.shape[1:3], bool)
    text_px[round(y * truth.height):round((y + h) * truth.height),
            round(x * truth.width):round((x + w) * truth.width)] = True
    err_before = float(np.abs(subtitled.astype(np.float32) - clean[index])[text_px].mean())
    err_after = float(np.abs(cleaned.astype(np.float32) - clean[index])[text_px].mean())
    b = outcome.band
    spans = ", ".join(f"{a:.2f}-{z:.2f}" for a, z in outcome.erased) or "none"
    cue_spans = ", ".join(f"{c.start:.2f}-{c.end:.2f}" for c in truth.cues)
    top = []
    for rgb, lines in ((subtitled, [f"burned-in subtitle at {when:.2f} s",
                                    f"mean error in the text box {err_before:.1f} (8-bit)"]),
                       (cleaned, [f"RemoveSubtitles (Telea), band y {b.y:.2f}-{b.y + b.height:.2f}",
                                  f"mean error in the text box {err_after:.1f}"]),
                       (clean[index], ["truth: the same frame never subtitled",
                                       "(mediamesh.synth.subtitles)"])):
        panel = fit(rgb, SUB_PANEL_W)
        zoom = fit(rgb[rows, cols], SUB_PANEL_W)
        top.append(caption(vstack([panel, zoom], gap=3), lines))
    picture = hstack(top)
    footer = caption(Image.new("RGB", (picture.width, 1), WHITE),
                     [f"cues (truth, s): {cue_spans}; text erased (s): {spans}"])
    notes = []
    if err_after > 0.5 * err_before:
        notes.append(f"subtitles: error in the text box {err_before:.1f} -> {err_after:.1f}")
    return vstack([picture, footer], gap=0), notes


# 7. covers ----------------------------------------------------------------------------

COVER_SEED = 3  # the rocket photo behind (seed 9: the Hubble field, text penalty 0.23)
COVER_PANEL_W = 420


def cover_clip(path: Path) -> list[tuple[float, float, str]]:
    """A texture shot, the astronaut, black, then the astronaut blurred; returns the
    shots (start s, end s, what)."""
    fps, (width, height) = 25.0, (640, 360)
    clip = portraits.plan_clip(COVER_SEED, seconds=4.0, background="photo")
    texture = videos.shot_frames("shapes", COVER_SEED, 50, width, height)
    parts: list[tuple[str, Callable[[], Any]]] = [
        ("moving shapes", lambda: iter(texture)),
        ("the astronaut", lambda: (rgb for rgb, _ in clip.frames())),
        ("black", lambda: iter([np.zeros((height, width, 3), np.uint8)] * 25)),
        ("the astronaut, out of focus", lambda: (
            ndimage.gaussian_filter(rgb, sigma=(6, 6, 0)) for rgb, _ in
            (clip.frame(i) for i in range(0, clip.truth.frame_count, 2)))),
    ]
    shots = []
    with media.VideoWriter(path, width, height, fps) as writer:
        for name, frames in parts:
            start = writer.frames_written / fps
            for rgb in frames():
                writer.write(rgb)
            shots.append((start, writer.frames_written / fps, name))
    return shots


def covers_picture(tmp: Path, models: LocalModels) -> tuple[Image.Image, list[str]]:
    path = tmp / "covers.mp4"
    shots = cover_clip(path)
    job = cover_job.CoverJob(path, 3, None, 3.0, 0, None)
    outcome = run(cover_job.CoverSelector(models).run(  # type: ignore[arg-type]
        job, media.probe(path), lambda i: output(tmp, f"cover{i}.jpg"), None),
        cover_job.CoverOutcome)
    panels = []
    notes = []
    for rank, c in enumerate(outcome.candidates):
        what = next((name for a, z, name in shots if a <= c.time < z), "?")
        s = c.score
        panels.append(caption(fit(media.read_image(c.image.path), COVER_PANEL_W), [
            f"#{rank + 1} at {c.time:.2f} s ({what}): score {s.total:.3f}",
            f"sharp {s.sharpness:.2f}  exposure {s.exposure:.2f}  colour {s.colorfulness:.2f}",
            f"faces {s.faces:.2f}  penalties: face cut {s.face_cut_penalty:.2f}, "
            f"transition {s.transition_penalty:.2f}, text {s.text_penalty:.2f}"], SMALL))
        if what in ("black",):
            notes.append(f"covers: candidate {rank + 1} is from the black shot")
    if outcome.candidates and "astronaut" not in next(
            name for a, z, name in shots if a <= outcome.candidates[0].time < z):
        notes.append("covers: the best candidate is not a frame with the astronaut")
    picture = hstack(panels)
    layout = "; ".join(f"{a:.1f}-{z:.1f} s {name}" for a, z, name in shots)
    footer = caption(Image.new("RGB", (picture.width, 1), WHITE),
                     [f"SelectCover's top 3 of a clip of four shots: {layout}"])
    return vstack([picture, footer], gap=0), notes


PICTURES: dict[str, Callable[[Path, LocalModels], tuple[Image.Image, list[str]]]] = {
    "shots": shots_picture,
    "keying": keying_picture,
    "fingerprint": fingerprint_picture,
    "blur": blur_picture,
    "reframe": reframe_picture,
    "subtitles": subtitles_picture,
    "covers": covers_picture,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(PICTURES), action="append",
                        help="render only this picture (repeatable)")
    args = parser.parse_args()
    IMAGES.mkdir(parents=True, exist_ok=True)
    models = LocalModels()
    started = time.perf_counter()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="readme-pictures-") as folder:
        for name in args.only or PICTURES:
            began = time.perf_counter()
            tmp = Path(folder) / name
            tmp.mkdir()
            image, found = PICTURES[name](tmp, models)
            path, image = save(image, name)
            notes += found
            print(f"{path.relative_to(REPO)}: {image.width}x{image.height}, "
                  f"{path.stat().st_size / 1024:.0f} KB ({time.perf_counter() - began:.1f} s)",
                  flush=True)
    print(f"done in {time.perf_counter() - started:.1f} s")
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
