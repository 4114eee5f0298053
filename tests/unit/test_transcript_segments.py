"""The transcriber's pure steps (services.text.transcriber): decoded tokens -> timed segments,
VAD segments -> 30 s windows, loops, follow-ups, language tags, prompts, SRT; and the
special token ids of mediamesh.models.whisper_tokens against the tokenizer itself."""
from __future__ import annotations

import numpy as np
import pytest

from mediamesh.errors import InvalidArgument
from mediamesh.models import whisper_tokens as wt
from services.text import transcriber
from services.text.transcriber import Segment, tokens_to_segments

TS = wt.TIMESTAMP_BEGIN


def ts(seconds: float) -> int:
    return TS + round(seconds / 0.02)


def text(words: str) -> list[int]:
    return wt.tokenizer().encode(words, add_special_tokens=False).ids


def test_special_tokens_are_the_tokenizers() -> None:
    tokenizer = wt.tokenizer()
    for name, token in (("<|endoftext|>", wt.EOT), ("<|startoftranscript|>", wt.SOT),
                        ("<|translate|>", wt.TRANSLATE), ("<|transcribe|>", wt.TRANSCRIBE),
                        ("<|startofprev|>", wt.START_OF_PREVIOUS),
                        ("<|nocaptions|>", wt.NO_SPEECH),
                        ("<|notimestamps|>", wt.NO_TIMESTAMPS)):
        assert tokenizer.token_to_id(name) == token
    assert [tokenizer.id_to_token(t) for t in wt.LANGUAGE_TOKENS] == \
        [f"<|{code}|>" for code in wt.LANGUAGES]
    assert tokenizer.get_vocab_size() == TS  # the timestamps are not in it
    assert wt.language_token("zh") == 50260 and wt.language_token("jv") == wt.language_token("jw")
    assert wt.bcp47(wt.LANGUAGES.index("jw")) == "jv" and wt.seconds(ts(12.34)) == \
        pytest.approx(12.34)


def test_timestamp_pairs_become_segments_in_audio_time() -> None:
    tokens = [ts(0.0), *text(" Hello there."), ts(1.5), ts(2.0), *text(" How are you?"),
              ts(3.24), wt.EOT, wt.EOT]
    logprobs = np.full(len(tokens), -0.1)
    logprobs[len(text(" Hello there.")) + 2:] = -0.5
    logprobs[-2:] = 0.0
    found = tokens_to_segments(tokens, logprobs, offset=10.0, end=25.0)
    assert [(s.start, s.end, s.text) for s in found] == [
        (10.0, 11.5, "Hello there."), (12.0, pytest.approx(13.24), "How are you?")]
    assert found[0].confidence == pytest.approx(np.exp(-0.1))
    assert found[1].confidence == pytest.approx(np.exp(-0.5))


def test_unclosed_text_ends_with_its_speech_and_times_stay_in_the_window() -> None:
    tokens = [ts(0.0), *text(" Closed."), ts(29.9), ts(29.9), *text(" cut off by the limit")]
    speech = [(5.0, 9.0, 0.9), (20.5, 36.0, 0.9)]
    found = tokens_to_segments(tokens, np.zeros(len(tokens)), offset=5.0, end=34.0,
                               speech=speech)
    assert [(s.start, s.end) for s in found] == [(5.0, 34.0), (34.0, 34.0)]
    tokens = [ts(1.0), *text(" open"), wt.EOT]
    found = tokens_to_segments(tokens, np.zeros(len(tokens)), offset=20.0, end=34.0,
                               speech=speech)
    assert [(s.start, s.end, s.text) for s in found] == [(21.0, 34.0, "open")]
    found = tokens_to_segments(tokens[:-1], np.zeros(len(tokens) - 1), 4.0, 20.0, speech)
    assert (found[0].start, found[0].end) == (5.0, 9.0)  # ends where its speech ends
    assert tokens_to_segments([ts(0.0), ts(1.0), wt.EOT], [0.0] * 3, 0.0, 30.0) == []


def test_a_decoding_loop_is_cut_after_its_first_copy() -> None:
    unit = text(" let me try again,")
    tokens = [ts(0.0), *text(" Fine."), ts(1.0), ts(1.0), *text(" Well"), *unit * 9]
    found = tokens_to_segments(tokens, np.full(len(tokens), -0.2), 0.0, 30.0,
                               [(0.0, 1.0, 0.9), (1.0, 6.0, 0.9)])
    assert [s.text for s in found] == ["Fine.", "Well let me try again,"]
    assert found[1].end == 6.0
    assert transcriber.loop_start([1, 2, 3, 1, 2, 3]) is None
    assert transcriber.loop_start([7, 1, 2, 3, 1, 2, 3, 1, 2, 3]) == 4
    assert transcriber.loop_start([5, 5, 5]) is None  # "no, no, no": short units need 4
    assert transcriber.loop_start([9, 5, 5, 5, 5]) == 2


def test_windows_merge_speech_up_to_thirty_seconds_and_cut_long_speech() -> None:
    step = 0.032
    probs = np.full(int(100 / step), 0.9, np.float32)
    probs[int(55.0 / step)] = 0.2  # the least speech-like moment of a 40 s utterance
    speech = [(1.0, 5.0, 0.9), (7.0, 20.0, 0.9), (22.0, 31.5, 0.9), (40.0, 80.0, 0.9)]
    windows = transcriber.plan_windows(speech, probs)
    assert windows[0] == (1.0, 20.0) and windows[1] == (22.0, 31.5)
    assert windows[2][0] == 40.0 and windows[2][1] == pytest.approx(55.0, abs=step)
    assert windows[3] == (windows[2][1], 80.0)
    assert all(b - a <= 30.0 for a, b in windows)
    long = transcriber.plan_windows([(0.0, 95.0, 0.9)], np.full(int(100 / step), 0.9))
    assert all(b - a <= 30.0 for a, b in long) and long[-1][1] == 95.0
    assert [a for a, _ in long[1:]] == [b for _, b in long[:-1]]


def test_speech_left_after_the_last_segment_is_decoded_again() -> None:
    speech = [(0.0, 4.0, 0.9), (6.0, 9.0, 0.9), (11.0, 14.0, 0.9)]
    found = [Segment(0.2, 8.8, "two lines", 0.8)]
    assert transcriber.follow_up(speech, (0.0, 14.2), found) == (10.8, 14.2)
    done = [*found, Segment(11.0, 14.0, "three", 0.8)]
    assert transcriber.follow_up(speech, (0.0, 14.2), done) is None
    assert transcriber.follow_up(speech, (0.0, 14.2), []) is None  # no progress to build on


def test_language_tags_prompts_and_srt() -> None:
    assert transcriber.whisper_language("en-US") == ("en", True)
    assert transcriber.whisper_language("zh_Hant_TW") == ("zh", False)
    assert transcriber.whisper_language("jv") == ("jw", True)
    with pytest.raises(InvalidArgument, match="not one of Whisper's 99"):
        transcriber.whisper_language("tlh")
    assert transcriber.prompt("en") == [wt.SOT, wt.language_token("en"), wt.TRANSCRIBE]
    chinese = transcriber.prompt("zh")
    assert chinese[0] == wt.START_OF_PREVIOUS and chinese[-3:] == wt.prompt("zh")
    assert wt.decode(chinese[1:-3]) == "以下是普通话的句子。"
    assert transcriber.prompt("zh", simplified=False) == wt.prompt("zh")
    assert transcriber.echoes_prompt("以下是普通话的句子。 以下是普通话的句子", "zh")
    assert not transcriber.echoes_prompt("以下是普通话的句子。今天很好。", "zh")
    assert not transcriber.echoes_prompt("Hello.", "en")
    srt = transcriber.to_srt([Segment(1.0, 2.5, "Hello.", 0.9),
                              Segment(3661.001, 3662.0, "你好。", 0.8)])
    assert srt == ("1\n00:00:01,000 --> 00:00:02,500\nHello.\n\n"
                   "2\n01:01:01,001 --> 01:01:02,000\n你好。\n\n")
    transcript = transcriber.Transcript("zh", 0.9, [Segment(0, 1, "你好。", 0.9),
                                                    Segment(1, 2, "再见。", 0.9)], 2.0)
    assert transcript.text == "你好。再见。"
