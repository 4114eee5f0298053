"""The speech section of bench/eval_text.py: the transcriber (services/text/transcriber.py,
Silero VAD and the Whisper base pair in onnxruntime on one thread through
bench/local_models.py) on programmes espeak-ng says (mediamesh.synth.speech): `count`
English lines and `count` Mandarin lines, each language its own programme, the lines
separated by 0.6-2.5 s of silence, so every line's text and time are exact.

Per language: the language detected (no language is given), WER (English: words, lower
case, punctuation dropped) and CER (characters; Chinese: Han characters only), how far
segment boundaries fall from the lines' (for each line, the nearest segment start to its
start and the nearest segment end to its end, mean seconds), and the real-time factor
(wall time / audio time, VAD + features + encoder + decoder, one thread).

Why synthetic speech: exact truth without shipping recordings. espeak-ng is a robotic
voice, and its Mandarin especially is far from what Whisper learnt from: read the Chinese
CER as a floor check of the pipeline, not as Whisper base's quality on real speech.
"""
from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import jiwer
import numpy as np
from local_models import LocalModels

from mediamesh.synth.speech import RATE, SpokenLine, programme
from services.text import transcriber

SEED = 5000
EN = ["The weather is lovely today so let us walk in the park.",
      "This film tells a story about friendship and courage.",
      "Please stay safe and follow the rules of the road.",
      "He worked in the laboratory for the whole night.",
      "The festival opens on the first weekend of next month.",
      "We need more time to finish this project properly.",
      "These dumplings are the best in the whole town.",
      "The train leaves early in the morning from the central station.",
      "Children are playing football on the field behind the school.",
      "The new library opens to the public tomorrow.",
      "She answered every question clearly and calmly.",
      "The view from the top of the hill was even better.",
      "Please send this file to all of your colleagues.",
      "Winter is here so remember to wear a warm coat.",
      "The city lights attract many visitors every evening.",
      "See you in the meeting room after lunch.",
      "Scientists found a new kind of fish in the deep sea.",
      "He runs around the lake every single day.",
      "The shops keep different hours during the holidays.",
      "The melody of this song stays with you for a long time.",
      "Our team won the final match after a difficult season.",
      "The museum has a large collection of old paintings.",
      "Turn left at the bakery and the hotel is on your right.",
      "My grandmother grows tomatoes and beans in her garden.",
      "The pilot told the passengers to fasten their seat belts.",
      "We watched the sunset from the beach last night.",
      "The doctor said that I should drink more water.",
      "Reading before bed helps me fall asleep quickly.",
      "The company will open a new office in the spring.",
      "Please turn off your phone during the performance."]
ZH = ["今天的天气非常好，我们一起去公园散步吧。", "这部电影讲述了一个关于友谊的故事。",
      "请大家注意安全，遵守交通规则。", "他在实验室里工作了整整一个晚上。",
      "音乐节将在下个月的第一个周末举行。", "我们需要更多的时间来完成这个项目。",
      "这家餐厅的饺子是全城最好吃的。", "火车将在十分钟后到达北京站。",
      "孩子们在操场上开心地踢足球。", "新的图书馆明天正式对外开放。",
      "她用流利的英语回答了所有问题。", "山顶的风景比我们想象的还要美丽。",
      "请把这份文件发给所有的同事。", "冬天来了，记得多穿一件衣服。",
      "这个城市的夜景吸引了很多游客。", "我们明天早上在会议室见面。",
      "科学家发现了一种新的深海鱼类。", "他每天坚持跑步锻炼身体。",
      "春节期间商店的营业时间有所调整。", "这首歌的旋律让人难以忘怀。",
      "我的奶奶在花园里种了很多蔬菜。", "飞机因为天气原因推迟起飞了。",
      "老师让我们明天交作业。", "这条河的水非常干净。",
      "周末我们全家去海边玩了。", "医生说我应该多喝水多休息。",
      "图书馆里有很多有趣的书。", "他的中文说得越来越好了。",
      "公司明年会在上海开一个新的办公室。", "请在演出期间关掉你的手机。"]
_HAN = re.compile(r"[^\u3400-\u9fff]")
_WORD = re.compile(r"[^a-z' ]")


def words(text: str) -> str:
    return " ".join(_WORD.sub(" ", text.lower().replace("-", " ")).split())


def han(text: str) -> str:
    return _HAN.sub("", text)


def boundary_errors(lines: list[SpokenLine], found: list[transcriber.Segment]
                    ) -> tuple[float, float]:
    """Mean |start error| and |end error|, seconds: each line against the nearest segment
    start and the nearest segment end (a segment may hold two lines, or a line two)."""
    if not found:
        return float("nan"), float("nan")
    starts = np.array([s.start for s in found])
    ends = np.array([s.end for s in found])
    return (float(np.mean([np.abs(starts - line.start).min() for line in lines])),
            float(np.mean([np.abs(ends - line.end).min() for line in lines])))


def _lines(pool: list[str], count: int, rng: np.random.Generator) -> list[str]:
    return [pool[i % len(pool)] for i in rng.permutation(max(count, len(pool)))[:count]]


def eval_speech(count: int) -> dict[str, Any]:
    models = LocalModels()
    rng = np.random.default_rng(SEED)
    rows, examples = [], []
    for language, pool in (("en", EN), ("zh", ZH)):
        texts = _lines(pool, count, rng)
        audio, lines = programme(texts, language, list(rng.uniform(0.6, 2.5, len(texts))))
        asyncio.run(transcriber.transcribe(models, audio[:3 * RATE], language))  # warm up
        windows: list[int] = []
        started = time.perf_counter()
        result = asyncio.run(transcriber.transcribe(
            models, audio, progress=lambda done, total, seen=windows: seen.append(total)))
        seconds = time.perf_counter() - started
        truth = " ".join(texts) if language == "en" else "".join(texts)
        if language == "en":
            wer = jiwer.wer(words(truth), words(result.text))
            cer = jiwer.cer(words(truth), words(result.text))
        else:
            wer, cer = float("nan"), jiwer.cer(han(truth), han(result.text))
        start_error, end_error = boundary_errors(lines, result.segments)
        duration = len(audio) / RATE
        rows.append({"language": language, "lines": len(texts), "audio_s": duration,
                     "detected": result.language,
                     "detected_p": result.language_probability,
                     "wer": wer, "cer": cer, "segments": len(result.segments),
                     "windows": windows[-1] if windows else 0,
                     "start_error_s": start_error, "end_error_s": end_error,
                     "rtf": seconds / duration})
        examples += [{"language": language, "start": s.start, "end": s.end, "text": s.text,
                      "confidence": s.confidence} for s in result.segments[:6]]
    english, chinese = rows
    return {"title": f"speech: {count} English and {count} Mandarin lines said by espeak-ng "
                     "(one programme per language, silences between lines), transcribed "
                     "with the language detected: Silero VAD + Whisper base (greedy, "
                     "timestamps) in onnxruntime, 1 thread. English WER "
                     f"{english['wer']:.1%} (target <= 10%), Chinese CER "
                     f"{chinese['cer']:.1%}, real-time factor {english['rtf']:.2f} / "
                     f"{chinese['rtf']:.2f}",
            "table": rows,
            "columns": ["language", "lines", "audio_s", "detected", "detected_p", "wer", "cer",
                        "segments", "windows", "start_error_s", "end_error_s", "rtf"],
            "examples": examples}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(eval_speech(int(sys.argv[1]) if len(sys.argv) > 1 else 20), indent=1,
                     ensure_ascii=False))
