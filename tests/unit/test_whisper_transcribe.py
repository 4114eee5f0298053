"""The built Whisper pair (whisper_encoder, whisper_decoder) and Silero VAD in onnxruntime,
through the transcriber, on speech espeak-ng says (mediamesh.synth.speech): word error
rate, segment times, language detection, the decoding rules on real output, and batching
(rows that end at different steps decode as they do alone)."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from mediamesh.audio.whisper_features import window_features
from mediamesh.models import registry
from mediamesh.models import whisper_tokens as wt
from mediamesh.synth.speech import RATE, programme, say
from services.text import transcriber

REPOSITORY = Path(__file__).resolve().parents[2] / "model_repository"
ENGLISH = ["Good evening and welcome to the evening news.",
           "Please bring your laptop and the quarterly report.",
           "We will discuss the budget for next year.",
           "Our next story comes from the city library.",
           "Thank you for watching and have a pleasant night."]


class Models:
    """TritonClient.infer's signature over onnxruntime sessions of model_repository's files
    (built in memory by the registry when `models build` has not run)."""

    def __init__(self) -> None:
        self.sessions: dict[str, ort.InferenceSession] = {}

    def session(self, model: str) -> ort.InferenceSession:
        if model not in self.sessions:
            path = registry.model_file(REPOSITORY, model)
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            source = str(path) if path.exists() else registry.find(model).build()
            self.sessions[model] = ort.InferenceSession(source, options,
                                                        providers=["CPUExecutionProvider"])
        return self.sessions[model]

    async def infer(self, model: str, inputs: Mapping[str, np.ndarray], outputs: Sequence[str],
                    *, timeout_s: float | None = None) -> dict[str, np.ndarray]:
        values = self.session(model).run(list(outputs), dict(inputs))
        return dict(zip(outputs, values, strict=True))


@pytest.fixture(scope="module")
def models() -> Models:
    return Models()


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


async def test_english_speech_is_transcribed_with_few_errors_at_its_times(
        models: Models) -> None:
    audio, lines = programme(ENGLISH, "en", gaps=[0.8, 1.5, 0.7, 2.0, 1.0])
    seen: list[tuple[int, int]] = []
    result = await transcriber.transcribe(models, audio,
                                          progress=lambda *p: seen.append(p))
    assert result.language == "en" and result.language_probability > 0.8
    truth = words(" ".join(ENGLISH))
    wer = edit_distance(truth, words(result.text)) / len(truth)
    assert wer <= 0.1, result.text
    duration = len(audio) / RATE
    assert result.duration == pytest.approx(duration)
    assert all(0.0 <= s.start < s.end <= duration for s in result.segments)
    assert [s.start for s in result.segments] == sorted(s.start for s in result.segments)
    for line in lines:  # every line is inside a segment (Whisper may join two lines)
        assert any(s.start - 1.0 < line.start and line.end < s.end + 1.0
                   for s in result.segments), (line, result)
    for segment in result.segments:  # and every segment starts where a line starts
        assert min(abs(segment.start - line.start) for line in lines) < 1.0, (segment, lines)
    assert all(0.3 < s.confidence <= 1.0 for s in result.segments)
    assert seen and seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == \
        list(range(1, len(seen) + 1))
    srt = transcriber.to_srt(result.segments)
    assert srt.startswith("1\n00:00:0") and srt.count(" --> ") == len(result.segments)


async def test_silence_gives_no_segments(models: Models) -> None:
    result = await transcriber.transcribe(models, np.zeros(5 * RATE, np.float32), "en")
    assert result.segments == [] and result.language == "en" and result.text == ""


async def test_mandarin_is_detected_and_written_in_simplified_characters(
        models: Models) -> None:
    lines = ["今天天气很好，我们去公园散步吧。", "请把这份报告发给所有的同事。"]
    audio, _ = programme(lines, "zh")
    result = await transcriber.transcribe(models, audio)
    assert result.language == "zh"
    got = re.sub(r"[^\u4e00-\u9fff]", "", result.text)
    truth = re.sub(r"[^\u4e00-\u9fff]", "", "".join(lines))
    # espeak-ng's Mandarin is robotic: a loose bound, but no traditional forms of these
    assert edit_distance(list(truth), list(got)) / len(truth) <= 0.5, result.text
    assert not set("們報給氣") & set(got), result.text


async def test_batched_rows_decode_as_they_do_alone_under_the_rules(models: Models) -> None:
    long, _ = programme(ENGLISH[:4], "en")
    short = say("Yes.", "en")
    mel = np.stack([window_features(long[:25 * RATE]), window_features(short)])
    hidden = (await models.infer("whisper_encoder", {"mel": mel}, ["hidden"]))["hidden"]
    names = ["tokens", "token_logprobs", "language_logprobs"]

    async def decode(rows: np.ndarray, language: str) -> dict[str, np.ndarray]:
        n = len(rows)
        return await models.infer("whisper_decoder", {
            "hidden": rows, "prompt": np.tile(wt.prompt(language), (n, 1)),
            "max_tokens": np.full((n, 1), 224, np.int64)}, names)

    both = await decode(hidden, "en")
    alone = [await decode(hidden[k:k + 1], "en") for k in range(2)]
    lengths = [int((a["tokens"][0] != wt.EOT).sum()) for a in alone]
    assert lengths[1] < lengths[0] and both["tokens"].shape[1] >= lengths[0]
    for k in range(2):
        row, single = both["tokens"][k], alone[k]["tokens"][0]
        assert np.array_equal(row[:len(single)], single)
        assert np.all(row[len(single):] == wt.EOT)
        assert np.all(both["token_logprobs"][k][lengths[k] + 1:] == 0.0)
        assert np.allclose(both["token_logprobs"][k][:lengths[k]],
                           alone[k]["token_logprobs"][0][:lengths[k]], atol=1e-4)
        tokens = [int(t) for t in single[:lengths[k]]]
        # the rules: a timestamp <= 1 s first; pairs around text; never decreasing
        assert wt.TIMESTAMP_BEGIN <= tokens[0] <= wt.TIMESTAMP_BEGIN + 50
        shape = "".join("T" if t >= wt.TIMESTAMP_BEGIN else "x" for t in tokens)
        assert re.fullmatch(r"(Tx+T)*(Tx*)?", shape), shape
        stamps = [t for t in tokens if t >= wt.TIMESTAMP_BEGIN]
        assert stamps == sorted(stamps)
        assert not set(tokens) & {*wt.SUPPRESS, wt.NO_TIMESTAMPS}
    assert "yes" in wt.decode(alone[1]["tokens"][0].tolist()).lower()
    assert np.allclose(np.exp(both["language_logprobs"]).sum(axis=1), 1.0, atol=1e-4)
