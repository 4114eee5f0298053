"""Speech -> timed text: the pipeline behind TextService.Transcribe, Whisper base on Triton.

  1. Silero VAD (mediamesh.audio.voice_activity) finds the speech; its segments are merged
     into windows of at most 30 s, so a window is cut at a silence, never mid-word (speech
     longer than 30 s without a pause is cut at its least speech-like 32 ms);
  2. each window's log-mel (mediamesh.audio.whisper_features) goes through whisper_encoder,
     BATCH windows a request;
  3. the language, when the caller gives none, is the most probable over the first batch's
     windows (whisper_decoder with the prompt SOT alone, one step);
  4. whisper_decoder decodes every window greedily with timestamps; <|t0|> text <|t1|>
     becomes a segment from window start + t0 to window start + t1;
  5. when the decoder ended a window before speech the VAD heard, the rest of the window is
     decoded again (as Whisper seeks on from its last timestamp).
Chinese is prompted with a simplified-Chinese sentence (Whisper otherwise often writes
traditional characters); ask for "zh-Hant" (or zh-TW / zh-HK) to leave that out.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mediamesh.audio import voice_activity
from mediamesh.audio.voice_activity import InferenceClient, SpeechOptions
from mediamesh.audio.whisper_features import RATE, WINDOW_SECONDS, window_features
from mediamesh.errors import InvalidArgument
from mediamesh.models import whisper_tokens as wt
from mediamesh.worker_threads import run_in_thread
from services.text import subtitle_cues

ENCODER, DECODER = "whisper_encoder", "whisper_decoder"
BATCH = 4  # windows per request
MAX_TOKENS = 224  # per window, as Whisper's own sample length
TIMEOUT_S = 300.0  # a batch of long windows on one CPU thread takes tens of seconds
VAD = SpeechOptions(threshold=0.5, min_speech=0.25, min_silence=0.3, pad=0.2)
#: Text prompted before <|startoftranscript|> (after <|startofprev|>), by language.
PROMPTS = {"zh": "以下是普通话的句子。"}
#: A decoding loop: a unit of up to 16 tokens 3 times in a row (4 for units of 1-2 tokens).
LOOP_UNIT, LOOP_REPEATS = 16, 3
MIN_FOLLOW_UP_S = 0.5  # VAD speech after a window's last segment that is decoded again
TRADITIONAL = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")
UNSPACED = ("zh", "ja", "th", "lo", "my", "km", "bo")  # scripts written without spaces


@dataclass(frozen=True)
class Segment:
    start: float  # seconds from the start of the audio
    end: float
    text: str
    confidence: float  # exp(mean log-probability of its tokens)


@dataclass(frozen=True)
class Transcript:
    language: str  # BCP-47 ("" when there is no speech to tell it from)
    language_probability: float  # 1 when the caller gave the language
    segments: list[Segment]
    duration: float

    @property
    def text(self) -> str:
        glue = "" if self.language.split("-")[0] in UNSPACED else " "
        return glue.join(s.text for s in self.segments)


Progress = Callable[[int, int], None]  # (windows done, windows in all)


def whisper_language(language: str) -> tuple[str, bool]:
    """(Whisper code, simplified Chinese wanted) of a BCP-47 tag; InvalidArgument if
    Whisper does not know the language."""
    tag = language.strip().lower().replace("_", "-")
    code = tag.split("-")[0]
    try:
        wt.language_token(code)
    except ValueError as error:
        raise InvalidArgument(str(error), field_name="language") from None
    return wt.whisper_code(code), not tag.startswith(TRADITIONAL)


def prompt(language: str, simplified: bool = True) -> list[int]:
    """The decoder prompt: the language's prompt text, if any, then SOT, language,
    transcribe."""
    text = PROMPTS.get(language) if simplified else None
    previous = [wt.START_OF_PREVIOUS, *wt.tokenizer().encode(
        " " + text, add_special_tokens=False).ids] if text else []
    return previous + wt.prompt(language)


def echoes_prompt(text: str, language: str) -> bool:
    """The segment only repeats the language's prompt (Whisper's known slip when prompted
    with text): such a segment is dropped."""
    said = re.sub(r"[\W_]+", "", text)
    prompted = re.sub(r"[\W_]+", "", PROMPTS.get(language, ""))
    return bool(said and prompted) and not said.replace(prompted, "")


def plan_windows(speech: Sequence[tuple[float, float, float]], probs: np.ndarray,
                 limit: float = WINDOW_SECONDS) -> list[tuple[float, float]]:
    """Speech segments (start, end, probability) merged into windows of at most `limit`
    seconds, in order; a segment longer than that is cut at its least speech-like VAD frame
    in the second half of each window."""
    step = voice_activity.WINDOW_S
    pieces: list[tuple[float, float]] = []
    for start, end, _ in speech:
        while end - start > limit:
            low, high = int((start + limit / 2) / step), min(int((start + limit) / step),
                                                               len(probs))
            cut = (low + int(np.argmin(probs[low:high]))) * step if high > low \
                else start + limit
            pieces.append((start, cut))
            start = cut
        pieces.append((start, end))
    windows: list[tuple[float, float]] = []
    for start, end in pieces:
        if windows and end - windows[-1][0] <= limit:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def loop_start(text: Sequence[int]) -> int | None:
    """Where a decoding loop begins, if the tokens end in one: a unit of 1..LOOP_UNIT tokens
    repeated LOOP_REPEATS times in a row (one more for units of one or two tokens, which
    real speech repeats: "no, no, no"). Returns the length that keeps one copy."""
    for unit in range(1, LOOP_UNIT + 1):
        repeats = LOOP_REPEATS + (unit <= 2)
        if len(text) < unit * repeats:
            continue
        tail = list(text[-unit:])
        if all(list(text[len(text) - (r + 1) * unit:len(text) - r * unit]) == tail
               for r in range(1, repeats)):
            return len(text) - (repeats - 1) * unit
    return None


def tokens_to_segments(tokens: Sequence[int], logprobs: Sequence[float], offset: float,
                       end: float, speech: Sequence[tuple[float, float, float]] = ()
                       ) -> list[Segment]:
    """One window's decoded tokens -> segments in audio time. <|t0|> text <|t1|> is a
    segment from offset + t0 to offset + t1, times past `end` (the window's end) clamped.
    Text left without its closing timestamp (EOT after text, the token limit, or a loop of
    repeated text, cut after its first copy, the rest of the window dropped) ends where the
    VAD `speech` segment it starts in ends, else at `end`. Confidence: exp(mean
    log-probability) over the segment's tokens, its timestamps included. Segments without
    text are dropped."""
    out: list[Segment] = []
    start: float | None = None
    text: list[int] = []
    scores: list[float] = []

    def close(at: float | None) -> None:
        words = wt.decode(text).replace("\ufffd", "").strip()
        first = min(start if start is not None else offset, end)
        if at is None:
            at = next((b for a, b, _ in speech if a <= first < b), end)
        if words:
            out.append(Segment(first, min(max(at, first), end), words,
                               float(np.exp(np.mean(scores)))))

    for token, logprob in zip(tokens, logprobs, strict=True):
        token = int(token)
        if token == wt.EOT:
            break
        if token < wt.TIMESTAMP_BEGIN:
            text.append(token)
            scores.append(float(logprob))
            keep = loop_start(text)
            if keep is not None:
                del scores[keep + len(scores) - len(text):], text[keep:]
                break
            continue
        at = offset + wt.seconds(token)
        if text:  # the closing timestamp
            scores.append(float(logprob))
            close(at)
            start, text, scores = None, [], []
        else:  # an opening one
            start, scores = at, [float(logprob)]
    if text:
        close(None)
    return out


def to_srt(segments: Sequence[Segment], language: str = "") -> str:
    """SRT of the segments, through the subtitle cues' writer."""
    return subtitle_cues.to_srt([subtitle_cues.Cue(s.start, s.end, s.text, language,
                                                   s.confidence, (0.0, 0.0, 0.0, 0.0))
                                 for s in segments])


async def encode(client: InferenceClient, samples: np.ndarray,
                 windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """whisper_encoder's hidden states [N, 1500, 512] of the windows."""
    mel = await run_in_thread(lambda: np.stack([
        window_features(samples[int(a * RATE):int(b * RATE)]) for a, b in windows]))
    reply = await client.infer(ENCODER, {"mel": mel}, ["hidden"], timeout_s=TIMEOUT_S)
    return reply["hidden"]


async def detect_language(client: InferenceClient, hidden: np.ndarray) -> tuple[str, float]:
    """(BCP-47 tag, probability) of the language most probable over the windows."""
    reply = await client.infer(DECODER, {
        "hidden": hidden, "prompt": np.full((len(hidden), 1), wt.SOT, np.int64),
        "max_tokens": np.ones((len(hidden), 1), np.int64)}, ["language_logprobs"],
        timeout_s=TIMEOUT_S)
    probabilities = np.exp(reply["language_logprobs"]).mean(axis=0)
    best = int(np.argmax(probabilities))
    return wt.bcp47(best), float(probabilities[best])


async def decode(client: InferenceClient, hidden: np.ndarray, tokens: list[int]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(tokens [N, T], log-probabilities [N, T]) of every window, greedy with timestamps."""
    n = len(hidden)
    reply = await client.infer(DECODER, {
        "hidden": hidden, "prompt": np.tile(np.asarray(tokens, np.int64), (n, 1)),
        "max_tokens": np.full((n, 1), MAX_TOKENS, np.int64)},
        ["tokens", "token_logprobs"], timeout_s=TIMEOUT_S)
    return reply["tokens"], reply["token_logprobs"]


def remaining_speech(speech: Sequence[tuple[float, float, float]], after: float, end: float
                     ) -> list[tuple[float, float]]:
    """The VAD speech in (after, end), without pieces shorter than MIN_FOLLOW_UP_S (the
    tail of speech already decoded, a breath)."""
    parts = [(max(a, after), min(b, end)) for a, b, _ in speech if b > after and a < end]
    return [(a, b) for a, b in parts if b - a >= MIN_FOLLOW_UP_S]


def follow_up(speech: Sequence[tuple[float, float, float]], window: tuple[float, float],
              found: Sequence[Segment]) -> tuple[float, float] | None:
    """The rest of a window to decode again when the decoder stopped (EOT) before speech the
    VAD heard: Whisper seeks on from its last timestamp in the same way. None when the
    window is covered, or nothing was decoded (no progress to build on)."""
    start, end = window
    covered = found[-1].end if found else start
    left = remaining_speech(speech, covered, end)
    if covered < start + 1.0 or not left:
        return None
    return max(covered, left[0][0] - VAD.pad), end


async def transcribe(client: InferenceClient, samples: np.ndarray, language: str = "", *,
                     progress: Progress | None = None, batch: int = BATCH) -> Transcript:
    """Transcript of 16 kHz mono float32 `samples`; `language` is a BCP-47 tag or "" to
    detect it. `progress(done, total)` after every window (follow-ups add to the total)."""
    samples = np.asarray(samples, np.float32)
    duration = len(samples) / RATE
    code, simplified = whisper_language(language) if language else ("", True)
    tag, certainty = (language, 1.0) if language else ("", 0.0)
    if not len(samples):
        return Transcript(tag, certainty, [], duration)
    probs = await voice_activity.probabilities(client, samples)
    speech = voice_activity.segments(probs, VAD, duration)
    pending = plan_windows(speech, probs)
    total, done = len(pending), 0
    segments: list[Segment] = []
    while pending:
        group, pending = pending[:batch], pending[batch:]
        hidden = await encode(client, samples, group)
        if not code:
            tag, certainty = await detect_language(client, hidden)
            code, simplified = whisper_language(tag)
        tokens, logprobs = await decode(client, hidden, prompt(code, simplified))
        again = []
        for k, window in enumerate(group):
            found = [s for s in tokens_to_segments(tokens[k], logprobs[k], *window, speech)
                     if not echoes_prompt(s.text, code)]
            segments += found
            rest = follow_up(speech, window, found)
            if rest is not None:
                again.append(rest)
            done += 1
            if progress is not None:
                progress(done, total + len(again))
        total += len(again)
        pending = again + pending
    segments.sort(key=lambda s: s.start)
    return Transcript(tag, certainty, segments, duration)
