"""Evaluate the text services on pictures with exact truth: a table per section on stdout,
everything in bench/results/eval_text.json (+ .md).

Sections:
  ocr   RecognizeText's reader (mediamesh.ocr_reader.TextReader: both PP-OCRv6 models in
        onnxruntime on one thread through bench/local_models.py, the service's own
        pre/post-processing) on 1280x720 frames that each carry one Chinese and one English
        subtitle line (sentences from fixed lists, so the truth is exact), drawn white with
        a black outline over a cluttered background in one of two fonts (WenQuanYi Zen
        Hei, Debian's fonts-wqy-zenhei; English also in DejaVu Sans, fonts-dejavu-core),
        at 34-46 px, then JPEG-compressed at quality 80 (as a video frame would be).
        A truth line matches the read line nearest its drawn box (centre within half a
        line's height); CER is jiwer's character error rate over the matched lines, per
        language; recall counts truth lines read at all; extra counts lines read that match
        no truth line; ms is wall time per frame, detection and recognition.

  subtitles  the ExtractSubtitles job (services.text.subtitles_job, in-process on the same
        models) on clips with burned-in English cues at exact times (mediamesh.synth.
        subtitles): cue precision / recall (a cue matches a true one it overlaps with text
        similarity >= 0.8), CER of the matched cues, mean start / end error, and speed as
        video seconds per wall second at 720p and 360p.

  speech  bench/text_speech.py: Transcribe's pipeline on espeak-ng programmes with exact
        line times: WER (en) / CER (zh), segment boundary error, real-time factor.

  retrieval, keywords, moderation  bench/text_semantics.py: cross-lingual retrieval top-1,
        keyword precision@5 and moderation precision / recall on hand-labelled texts.

    python bench/eval_text.py [--frames 40] [--section ocr|subtitles|retrieval|...]

Needs the bench extra (`pip install -e .[bench]`: jiwer) and the two fonts (`make
eval-text` installs both).
"""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jiwer
import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).parent))
from local_models import LocalModels
from text_semantics import eval_keywords, eval_moderation, eval_retrieval
from text_speech import eval_speech

from mediamesh.ocr_reader import ReadLine, TextReader

RESULTS = Path(__file__).parent / "results"
FONTS = {"wqy-zenhei": Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
         "dejavu-sans": Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")}
W, H = 1280, 720
SEED = 4000

ZH = ["今天的天气非常好，我们一起去公园散步吧", "这部电影讲述了一个关于友谊的故事",
      "请大家注意安全，遵守交通规则", "他在实验室里工作了整整一个晚上",
      "音乐节将在下个月的第一个周末举行", "我们需要更多的时间来完成这个项目",
      "这家餐厅的饺子是全城最好吃的", "火车将于八点三十分准时出发",
      "孩子们在操场上开心地踢足球", "新的图书馆明天正式对外开放",
      "她用流利的英语回答了所有问题", "山顶的风景比我们想象的还要美丽",
      "请把这份文件发给所有的同事", "冬天来了，记得多穿一件衣服",
      "这个城市的夜景吸引了很多游客", "我们明天早上九点在会议室见面",
      "科学家发现了一种新的深海鱼类", "他每天坚持跑步五公里",
      "春节期间商店的营业时间有所调整", "这首歌的旋律让人难以忘怀"]
EN = ["The weather is lovely today, let us walk in the park",
      "This film tells a story about friendship", "Please stay safe and follow the rules",
      "He worked in the lab for the whole night", "The festival opens on the first weekend",
      "We need more time to finish this project", "These dumplings are the best in town",
      "The train leaves at half past eight sharp", "Children are playing football outside",
      "The new library opens to the public tomorrow", "She answered every question fluently",
      "The view from the top was even better", "Please send this file to all colleagues",
      "Winter is here, wear an extra layer", "The city lights attract many visitors",
      "See you in the meeting room at nine", "Scientists found a new deep sea fish",
      "He runs five kilometres every single day", "Shops keep different hours this week",
      "The melody of this song stays with you"]


def font_paths() -> dict[str, Path]:
    missing = [str(p) for p in FONTS.values() if not p.exists()]
    if missing:
        raise SystemExit(f"missing fonts {missing}: run `make eval-text` (installs Debian's "
                         "fonts-wqy-zenhei and fonts-dejavu-core)")
    return FONTS


def clutter(rng: np.random.Generator) -> Image.Image:
    """A busy background: a colour gradient, blocks and noise (no text)."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    base = np.stack([x / W * 200, y / H * 160, (x + y) / (W + H) * 220], -1)
    image = Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255)
                            .astype(np.uint8))
    pen = ImageDraw.Draw(image)
    for _ in range(25):
        x0, y0 = int(rng.integers(0, W - 50)), int(rng.integers(0, H - 50))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        pen.rectangle([x0, y0, x0 + int(rng.integers(20, 300)), y0 + int(rng.integers(20, 200))],
                      fill=colour)
    return image


def render(k: int, fonts: dict[str, Path]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Frame k and its truth: [{language, text, box (l, t, r, b) px}]."""
    rng = np.random.default_rng(SEED + k)
    image = clutter(rng)
    pen = ImageDraw.Draw(image)
    truth = []
    for language, text, top, face in (
            ("zh", ZH[k % len(ZH)], 0.74, fonts["wqy-zenhei"]),
            ("en", EN[(k * 7) % len(EN)], 0.86,
             fonts["dejavu-sans"] if k % 2 else fonts["wqy-zenhei"])):
        font = ImageFont.truetype(str(face), int(rng.integers(34, 47)))
        left, _, right, _ = pen.textbbox((0, 0), text, font=font, stroke_width=3)
        origin = ((W - (right - left)) // 2, int(top * H))
        pen.text(origin, text, font=font, fill=(255, 255, 255), stroke_width=3,
                 stroke_fill=(0, 0, 0))
        box = pen.textbbox(origin, text, font=font, stroke_width=3)
        truth.append({"language": language, "text": text, "box": box,
                      "font": face.stem})
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return np.asarray(Image.open(buffer).convert("RGB")), truth


def match(truth: list[dict[str, Any]], lines: list[ReadLine]) -> tuple[list[str | None], int]:
    """For each truth line the text read nearest it (None: not read), and how many read
    lines matched nothing."""
    used: set[int] = set()
    found: list[str | None] = []
    for t in truth:
        _, top, _, bottom = t["box"]
        centre, half = (top + bottom) / 2, (bottom - top) / 2
        best = None
        for i, line in enumerate(lines):
            _, lt, _, lb = line.quad.bounds
            distance = abs((lt + lb) / 2 - centre)
            if i not in used and distance <= half and (best is None or distance < best[0]):
                best = (distance, i)
        if best is None:
            found.append(None)
        else:
            used.add(best[1])
            found.append(lines[best[1]].text)
    return found, len(lines) - len(used)


def eval_ocr(frames: int) -> dict[str, Any]:
    fonts = font_paths()
    reader = TextReader(LocalModels())  # type: ignore[arg-type]
    per_language: dict[str, dict[str, list[Any]]] = {}
    seconds, extra, worst = 0.0, 0, []
    for k in range(frames):
        rgb, truth = render(k, fonts)
        started = time.perf_counter()
        lines = asyncio.run(reader.read(rgb))
        seconds += time.perf_counter() - started
        found, unmatched = match(truth, lines)
        extra += unmatched
        for t, text in zip(truth, found, strict=True):
            tally = per_language.setdefault(t["language"], {"truth": [], "read": [],
                                                            "missed": []})
            if text is None:
                tally["missed"].append(t["text"])
                continue
            tally["truth"].append(t["text"])
            tally["read"].append(text)
            if text != t["text"]:
                worst.append({"frame": k, "truth": t["text"], "read": text, "font": t["font"]})
    rows = []
    for language, tally in per_language.items():
        total = len(tally["truth"]) + len(tally["missed"])
        rows.append({"language": language, "lines": total,
                     "recall": len(tally["truth"]) / total,
                     "cer": jiwer.cer(tally["truth"], tally["read"]) if tally["truth"] else 1.0,
                     "exact_lines": sum(a == b for a, b in zip(tally["truth"], tally["read"]))})
    return {"title": f"ocr: {frames} frames 1280x720, one zh and one en subtitle line each "
                     "(WenQuanYi Zen Hei / DejaVu Sans, 34-46 px, white with a black outline, "
                     "cluttered background, JPEG q80); RecognizeText's reader in onnxruntime, "
                     f"1 thread: {1000 * seconds / frames:.0f} ms a frame; {extra} lines read "
                     "that match no truth line",
            "table": rows, "columns": ["language", "lines", "recall", "cer", "exact_lines"],
            "errors": worst, "ms_per_frame": 1000 * seconds / frames, "extra_lines": extra}


async def last_item(items: AsyncIterator[Any]) -> Any:
    """A job's outcome: the last thing it yields."""
    last = None
    async for item in items:
        last = item
    return last


DISTRACTORS = ("a static watermark in the bottom-right corner on even clips, a sign (scene "
               "text) low on the left through the second shot on clips 1, 4, 7..., the "
               "subtitles at the top of the frame on clips 3, 7")


def distractors(k: int, chinese: bool) -> dict[str, Any]:
    """Clip k's text that is not a subtitle, and where its subtitles are (DISTRACTORS)."""
    return {"watermark": ("新闻七台" if chinese else "CH7 NEWS") if k % 2 == 0 else None,
            "scene_text": ("出口 12" if chinese else "EXIT 12") if k % 3 == 1 else None,
            "position": "top" if k % 4 == 3 else "bottom"}


def eval_subtitles(clips: int) -> dict[str, Any]:
    """ExtractSubtitles' job in-process on mediamesh.synth.subtitles clips (seeds from
    6000; half at 1280x720, half at 640x360; English cues over moving shots)."""
    import tempfile

    from mediamesh import media
    from mediamesh.storage import StoredOutput
    from mediamesh.synth import subtitles
    from services.text import subtitles_job
    from services.text.subtitle_cues import similar

    extractor = subtitles_job.SubtitleExtractor(TextReader(LocalModels()))  # type: ignore[arg-type]
    truth_cues = found_cues = matched = 0
    start_errors: list[float] = []
    end_errors: list[float] = []
    by_language: dict[str, tuple[list[str], list[str]]] = {}
    video_s = {720: 0.0, 360: 0.0}
    wall_s = {720: 0.0, 360: 0.0}
    ocr_calls = samples = bands_found = 0
    with tempfile.TemporaryDirectory(prefix="eval-subtitles-") as tmp:
        folder = Path(tmp)
        for k in range(clips):
            width, height = (1280, 720) if k % 2 == 0 else (640, 360)
            chinese = k % 4 >= 2  # en, en, zh, zh, ...: both sizes in both languages
            path = folder / f"clip{k}.mp4"
            truth = subtitles.write_clip(
                path, 6000 + k, width=width, height=height, seconds=12.0,
                lines=tuple(ZH) if chinese else subtitles.LINES,
                font_file=font_paths()["wqy-zenhei"] if chinese else None,
                **distractors(k, chinese))
            language = "zh" if chinese else "en"
            info = media.probe(path)
            job = subtitles_job.SubtitleJob(path, None,  # the band is found, as by default
                                            subtitles_job.DEFAULT_SAMPLE_FPS,
                                            subtitles_job.DEFAULT_MIN_CUE_S,
                                            subtitles_job.DEFAULT_SIMILARITY, False, ())

            started = time.perf_counter()
            outcome = asyncio.run(last_item(extractor.run(
                job, info, StoredOutput(folder / f"{k}.srt", "srt"),
                StoredOutput(folder / f"{k}.json", "json"), {})))
            wall_s[height] += time.perf_counter() - started
            video_s[height] += truth.frame_count / truth.fps
            ocr_calls += outcome.ocr_calls
            bands_found += outcome.band_detected and \
                outcome.band.y < truth.cues[0].box[1] and \
                outcome.band.y + outcome.band.height > truth.cues[0].box[1] + truth.cues[0].box[3]
            samples += outcome.samples
            truth_cues += len(truth.cues)
            found_cues += len(outcome.cues)
            used: set[int] = set()
            for want in truth.cues:
                best = max(((similar(c.text, want.text), i) for i, c in enumerate(outcome.cues)
                            if i not in used and c.start < want.end and c.end > want.start),
                           default=None)
                if best is None or best[0] < 0.8:
                    continue
                used.add(best[1])
                got = outcome.cues[best[1]]
                matched += 1
                start_errors.append(abs(got.start - want.start))
                end_errors.append(abs(got.end - want.end))
                by_language.setdefault(language, ([], []))
                by_language[language][0].append(want.text)
                by_language[language][1].append(got.text)
    rows = [{"cues": truth_cues, "precision": matched / max(1, found_cues),
             "recall": matched / max(1, truth_cues),
             "cer_en": jiwer.cer(*by_language["en"]) if "en" in by_language else None,
             "cer_zh": jiwer.cer(*by_language["zh"]) if "zh" in by_language else None,
             "start_err_s": float(np.mean(start_errors)), "end_err_s": float(np.mean(end_errors)),
             "x_realtime_720p": video_s[720] / max(wall_s[720], 1e-9),
             "x_realtime_360p": video_s[360] / max(wall_s[360], 1e-9)}]
    return {"title": f"subtitles: {clips} clips of 12 s (mediamesh.synth.subtitles, seeds from "
                     "6000, 1280x720 and 640x360, English (Pillow's font) or Chinese (WenQuanYi "
                     "Zen Hei) cues over moving shots, H.264), the "
                     "ExtractSubtitles job in-process, both models in onnxruntime on one "
                     f"thread, {subtitles_job.DEFAULT_SAMPLE_FPS:g} samples a second; "
                     f"{ocr_calls} OCR calls for {samples} samples (the change gate skipped "
                     f"the rest); distractors: {DISTRACTORS}; the band found on probe frames "
                     f"(no region given) held the subtitles in {bands_found} of {clips} clips",
            "table": rows, "columns": ["cues", "precision", "recall", "cer_en", "cer_zh",
                                       "start_err_s",
                                       "end_err_s", "x_realtime_720p", "x_realtime_360p"]}


SECTIONS: dict[str, Callable[[int], dict[str, Any]]] = {
    "ocr": eval_ocr, "subtitles": eval_subtitles, "retrieval": eval_retrieval,
    "keywords": eval_keywords, "moderation": eval_moderation, "speech": eval_speech}


def markdown(section: dict[str, Any]) -> str:
    columns = section["columns"]
    lines = [f"**{section['title']}**", "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    for row in section["table"]:
        lines.append("| " + " | ".join(f"{row[c]:.4f}" if isinstance(row[c], float)
                                       else str(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="frames per section")
    parser.add_argument("--section", choices=sorted(SECTIONS), action="append")
    args = parser.parse_args()
    saved = RESULTS / "eval_text.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}
    for name in args.section or list(SECTIONS):
        results[name] = SECTIONS[name](args.frames)
        print(markdown(results[name]), end="\n\n")
        for error in results[name].get("errors", [])[:10]:
            print(f"  frame {error['frame']} ({error['font']}): {error['truth']!r} -> "
                  f"{error['read']!r}")
    RESULTS.mkdir(exist_ok=True)
    saved.write_text(json.dumps(results, indent=1, ensure_ascii=False))
    (RESULTS / "eval_text.md").write_text("\n\n".join(markdown(r) for r in results.values())
                                          + "\n")
    print(f"wrote {saved} and eval_text.md")


if __name__ == "__main__":
    main()
