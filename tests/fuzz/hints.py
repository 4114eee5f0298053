"""Domain-aware values for the generic message strategy, from facts of the running session:
media references into the corpus (or out of the root), outputs that never overwrite the
corpus, time ranges and boxes near the media's real extent, workflow inputs, run ids,
index names, fingerprints and Triton tensors that reach past the first check."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import struct_pb2
from hypothesis import strategies as st

from mediamesh.v1 import common_pb2, diagnostics_pb2, workflow_pb2
from services.vision.fingerprint import SIGNATURE_LEN, Fingerprint
from tests.fuzz.corpus import Corpus
from tests.fuzz.strategies import EDGE_DOUBLES, HOSTILE_STRINGS, Hints, doubles, strings
from tests.fuzz.workflow_texts import workflow_yaml

OUTPUT_FOLDER = "fuzz-out"
OUTPUT_EXTENSIONS = ("mp4", "webm", "mov", "mkv", "wav", "mp3", "m4a", "flac", "ogg", "png",
                     "jpg", "webp", "gif", "srt", "json", "exe", "", "MP4", "tar.gz", "y4m")
#: Output URIs that name a folder: replacing one must fail cleanly, and cannot destroy it.
FOLDER_OUTPUTS = (".", "fuzz", "fuzz/good", OUTPUT_FOLDER, "outputs")
DATATYPES = ("FP32", "FP16", "FP64", "UINT8", "INT8", "INT32", "INT64", "BOOL", "BYTES",
             "UINT64", "", "fp32", "NOPE")


@dataclass
class ModelTensor:
    name: str
    datatype: str
    shape: list[int]  # -1 where any size goes


@dataclass
class ModelSignature:
    inputs: list[ModelTensor]
    outputs: list[str]


@dataclass
class SessionFacts:
    """What the fuzz knows about the mesh it runs against."""

    corpus: Corpus
    workflows_dir: Path
    nats_objects: list[str] = field(default_factory=list)  # nats-object:// URIs that exist
    run_ids: list[str] = field(default_factory=list)
    index_names: list[str] = field(default_factory=list)
    fingerprints: list[bytes] = field(default_factory=list)
    models: dict[str, ModelSignature] = field(default_factory=dict)
    #: workflow name -> its inputs' names -> their types (media, media[], number, ...)
    workflow_inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    policy_categories: list[str] = field(default_factory=list)


def media_uris(facts: SessionFacts) -> st.SearchStrategy[str]:
    corpus = facts.corpus
    root = corpus.root.resolve()
    good = sorted(corpus.good.values())
    inside_absolute = [str(root / uri) for uri in good[:3]] + \
        [f"file://{root / uri}" for uri in good[:3]]
    hostile = ["../../etc/passwd", "/etc/passwd", "file:///etc/passwd", "/dev/zero",
               "/proc/self/environ", "http://169.254.169.254/latest/meta-data/",
               "https://example.invalid/x.mp4", "s3://bucket/key.mp4", "ftp://x/y",
               "nats-object://nope/x", "nats-object://", "nats-object:///x",
               "nats-object://fuzz", "nats-object://fuzz/../../etc/passwd",
               "nats-object://bad bucket/x", "NATS-OBJECT://fuzz/clip.mp4", "data:,hello",
               "file:", "file:relative.mp4", "file://host/etc/passwd", "fuzz/good/",
               "fuzz/good/../../../etc/passwd", "fuzz/good/clip.mp4/", "fuzz/good/clip.mp4\x00",
               "fuzz/good/nope.mp4", "fuzz/good//clip.mp4", "./fuzz/good/clip.mp4", ".", "..",
               "~", "~/x", "C:\\Windows\\win.ini", "\\\\server\\share\\x", ":", "//etc/passwd",
               "fuzz%2Fgood%2Fclip.mp4", "file:///" + "a" * 5000]
    return st.one_of(st.sampled_from(good), st.sampled_from(good),
                     st.sampled_from(sorted(corpus.bad.values())),
                     st.sampled_from(sorted(corpus.bad.values())),
                     st.sampled_from(hostile + inside_absolute + (facts.nats_objects or hostile)),
                     strings())


def media_refs(facts: SessionFacts) -> st.SearchStrategy[common_pb2.MediaRef]:
    payloads = list(facts.corpus.inline.values())
    inline = st.one_of(st.sampled_from(payloads), st.binary(max_size=256),
                       st.just(b"\x00" * ((1 << 20) + 1)))  # one byte over the inline limit
    names = st.one_of(st.just(""), st.sampled_from(("clip.mp4", "../../x.wav", "/etc/passwd",
                                                    ".", "..", "a/b/c.png", "\x00.wav")),
                      strings())
    by_uri = st.builds(lambda uri, mime, name: common_pb2.MediaRef(uri=uri, mime_type=mime,
                                                                   name=name),
                       media_uris(facts), st.sampled_from(("", "video/mp4", "audio/wav",
                                                           "image/png", "x/y", "\x00")),
                       names)
    by_bytes = st.builds(lambda data, name: common_pb2.MediaRef(inline_data=data, name=name),
                         inline, names)
    return st.one_of(by_uri, by_uri, by_uri, by_bytes, st.just(common_pb2.MediaRef()))


def output_specs(facts: SessionFacts) -> st.SearchStrategy[common_pb2.OutputSpec]:
    """Fresh names under fuzz-out/ (overwrite or not), folders, hostile places, and existing
    corpus files: those never with overwrite, so the corpus stays as written."""
    fresh = st.builds(lambda token, ext: f"{OUTPUT_FOLDER}/{token}.{ext}" if ext
                      else f"{OUTPUT_FOLDER}/{token}",
                      st.sampled_from(("a", "b", "c", "x y", "ünï", "deep/er/path")),
                      st.sampled_from(OUTPUT_EXTENSIONS))
    replaceable = st.one_of(fresh, st.sampled_from(FOLDER_OUTPUTS),
                            st.sampled_from(("nats-object://fuzz-out/x.mp4",
                                             "nats-object://fuzz-out/noext",
                                             "nats-object://bad bucket/x.mp4")))
    kept = st.one_of(st.sampled_from(sorted(facts.corpus.good.values())),
                     st.sampled_from(sorted(facts.corpus.bad.values())),
                     st.sampled_from(("../../tmp/x.mp4", "/tmp/x.mp4", "file:///tmp/x.mp4",
                                      "http://169.254.169.254/x.mp4", "s3://b/k.mp4",
                                      "fuzz-out/\x00.mp4", "a" * 5000 + ".mp4")))
    containers = st.one_of(st.just(""), st.sampled_from(OUTPUT_EXTENSIONS), strings())
    return st.one_of(
        st.builds(lambda uri, c, o: common_pb2.OutputSpec(uri=uri, container=c, overwrite=o),
                  replaceable, containers, st.booleans()),
        st.builds(lambda uri, c: common_pb2.OutputSpec(uri=uri, container=c), kept,
                  containers),
        st.just(common_pb2.OutputSpec()))


def time_ranges() -> st.SearchStrategy[common_pb2.TimeRange]:
    near = st.one_of(st.sampled_from((0.0, 0.5, 1.0, 1.9, 2.0, 7.9, 8.0, 100.0, -1.0)),
                     st.floats(0, 10), st.sampled_from(EDGE_DOUBLES))
    return st.builds(lambda a, b: common_pb2.TimeRange(start=a, end=b), near, near)


def boxes() -> st.SearchStrategy[common_pb2.Box]:
    part = st.one_of(st.sampled_from((0.0, 0.1, 0.5, 0.9, 1.0, -0.1, 1.5, 1e-9, math.nan,
                                      math.inf, 1e308)), st.floats(0, 1))
    return st.builds(lambda x, y, w, h: common_pb2.Box(x=x, y=y, width=w, height=h),
                     part, part, part, part)


def json_values(facts: SessionFacts) -> st.SearchStrategy[Any]:
    leaves = st.one_of(st.none(), st.booleans(), doubles(), strings(), media_uris(facts))
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(strings(), inner, max_size=3)),
        max_leaves=10)


def workflow_inputs(facts: SessionFacts) -> st.SearchStrategy[struct_pb2.Struct]:
    """Inputs keyed by a workflow's real input names (plus unknown ones), any JSON values."""
    names = sorted({n for inputs in facts.workflow_inputs.values() for n in inputs}) or ["x"]
    uris = media_uris(facts)
    value = st.one_of(json_values(facts), uris, st.lists(uris, max_size=4),
                      st.lists(uris, min_size=30, max_size=30))

    def to_struct(values: dict[str, Any]) -> struct_pb2.Struct:
        built = struct_pb2.Struct()
        built.update(values)
        return built

    return st.dictionaries(st.one_of(st.sampled_from(names), strings()), value,
                           max_size=5).map(to_struct)


def fingerprints(facts: SessionFacts) -> st.SearchStrategy[bytes]:
    """Real fingerprints, real ones damaged, and well-formed ones with absurd contents."""
    real = facts.fingerprints or [b"MMFP"]

    def damaged(data: bytes, at: int, value: int) -> bytes:
        if not data:
            return data
        buf = bytearray(data)
        buf[at % len(buf)] = value
        return bytes(buf)

    def crafted(count: int, fps: float, duration: float, step: float, quality: float,
                signature: int) -> bytes:
        times = np.arange(count, dtype=np.float64) * step
        with np.errstate(all="ignore"):  # absurd on purpose: overflowing times, NaN quality
            return Fingerprint(times, np.full((count, SIGNATURE_LEN), signature, np.int8),
                               np.full(count, quality, np.float32), fps, duration).to_bytes()

    f32 = st.sampled_from((0.0, -1.0, 1.0, 2.0, 1e-30, 3e38, math.nan, math.inf, -math.inf))
    return st.one_of(
        st.sampled_from(real),
        st.builds(damaged, st.sampled_from(real), st.integers(0, 1 << 20), st.integers(0, 255)),
        st.sampled_from(real).map(lambda d: d[:len(d) // 2]),
        st.builds(crafted, st.sampled_from((0, 1, 2, 5, 300)), f32, f32,
                  st.sampled_from((0.0, 0.5, 1e6)), f32, st.sampled_from((0, 1, -128, 127))),
        st.binary(max_size=128).map(lambda b: b"MMFP\x01\x00\x00\x00" + b))


def tensors(facts: SessionFacts) -> st.SearchStrategy[diagnostics_pb2.RawTensor]:
    """Tensors named like a model's inputs, whose data matches the shape most of the time
    (so the call reaches Triton) and whose shapes are small, empty, negative or absurd."""
    declared = [t for signature in facts.models.values() for t in signature.inputs]
    names = st.one_of(st.sampled_from([t.name for t in declared] or ["INPUT"]), strings())
    dims = st.one_of(st.integers(0, 8), st.sampled_from((-1, -4, 2**31, 2**62, 1)))
    shapes = st.one_of(st.lists(dims, max_size=5),
                       st.sampled_from([t.shape for t in declared] or [[1]]).map(
                           lambda s: [d if d > 0 else 2 for d in s]))

    def tensor(name: str, datatype: str, shape: list[int], consistent: bool,
               extra: bytes) -> diagnostics_pb2.RawTensor:
        itemsize = {"FP16": 2, "FP64": 8, "INT64": 8, "UINT64": 8, "INT32": 4,
                    "FP32": 4}.get(datatype, 1)
        count = math.prod(shape) if shape and all(d >= 0 for d in shape) else 1
        size = count * itemsize if consistent and count * itemsize <= 4 << 20 else len(extra)
        data = (extra * (size // max(1, len(extra)) + 1))[:size] if extra else bytes(size)
        return diagnostics_pb2.RawTensor(name=name, datatype=datatype, shape=shape, data=data)

    return st.builds(tensor, names, st.sampled_from(DATATYPES), shapes,
                     st.booleans(), st.binary(max_size=16))


NATURAL_TEXTS = ("the quick brown fox jumps over the lazy dog", "今天天气很好，我们去公园散步吧",
                 "加微信领取优惠", "I will hurt you", "😀" * 50, "a " * 5000)


def hostile_hints(facts: SessionFacts) -> Hints:
    """Hints mixed into hostile requests: values aimed at the checks."""
    text = st.one_of(st.sampled_from(NATURAL_TEXTS), strings())
    return Hints(
        messages={
            "mediamesh.v1.MediaRef": media_refs(facts),
            "mediamesh.v1.OutputSpec": output_specs(facts),
            "mediamesh.v1.TimeRange": time_ranges(),
            "mediamesh.v1.Box": boxes(),
            "mediamesh.v1.RawTensor": tensors(facts),
            "google.protobuf.Struct": workflow_inputs(facts),
        },
        fields={
            "mediamesh.v1.ProbeModelRequest.model": st.sampled_from(
                sorted(facts.models) or ["nope"]),
            "mediamesh.v1.MatchFingerprintsRequest.query": fingerprints(facts),
            "mediamesh.v1.Candidate.fingerprint": fingerprints(facts),
        },
        field_names={
            "workflow_yaml": workflow_yaml(facts.workflows_dir),
            "workflow_name": st.one_of(
                st.sampled_from(sorted(facts.workflow_inputs) or ["medley"]),
                st.sampled_from(sorted(facts.workflow_inputs) or ["medley"]).map(
                    lambda n: f"{n}@1"), st.sampled_from(("nope", "medley@9", "@", "../x"))),
            "run_id": st.one_of(st.sampled_from(facts.run_ids or ["none"]),
                                st.sampled_from(HOSTILE_STRINGS), strings()),
            "index": st.sampled_from(facts.index_names + ["nope", "a" * 65, "-", "x.y"]),
            "language": st.sampled_from(("", "en", "zh", "zh-CN", "fr", "xx", "EN", "auto")),
            "languages": st.sampled_from(("en", "zh", "zh-TW", "fr", "", "EN")),
            "categories": st.sampled_from(facts.policy_categories + ["nope", "", "../x"]),
            "texts": text, "text": text, "query": text, "user_dictionary": text,
        })


def plausible_media_refs(facts: SessionFacts) -> st.SearchStrategy[common_pb2.MediaRef]:
    """Half real media (in the root or the object store), half the malformed corpus."""
    good = sorted(facts.corpus.good.values()) + facts.nats_objects
    bad = sorted(facts.corpus.bad.values())
    return st.one_of(st.sampled_from(good), st.sampled_from(bad)).map(
        lambda uri: common_pb2.MediaRef(uri=uri))


def plausible_outputs() -> st.SearchStrategy[common_pb2.OutputSpec]:
    fresh = st.builds(lambda token, ext: f"{OUTPUT_FOLDER}/{token}.{ext}",
                      st.sampled_from(("a", "b", "c")),
                      st.sampled_from(("mp4", "webm", "wav", "mp3", "m4a", "png", "jpg", "gif",
                                       "webp", "srt", "json")))
    return st.one_of(st.just(common_pb2.OutputSpec()),
                     fresh.map(lambda uri: common_pb2.OutputSpec(uri=uri, overwrite=True)))


def plausible_time_ranges() -> st.SearchStrategy[common_pb2.TimeRange]:
    return st.builds(lambda start, length: common_pb2.TimeRange(
        start=start, end=start + length if length else 0.0),
        st.one_of(st.just(0.0), st.floats(0, 3)), st.one_of(st.just(0.0), st.floats(0.1, 3)))


def plausible_boxes() -> st.SearchStrategy[common_pb2.Box]:
    corner, side = st.floats(0, 0.5), st.floats(0.1, 0.5)
    return st.builds(lambda x, y, w, h: common_pb2.Box(x=x, y=y, width=w, height=h),
                     corner, corner, side, side)


def plausible_input_value(kind: str, facts: SessionFacts) -> st.SearchStrategy[Any]:
    uris = st.sampled_from(sorted(facts.corpus.good.values()) +
                           sorted(facts.corpus.bad.values())[:10])
    return {"media": uris, "media[]": st.lists(uris, min_size=1, max_size=3),
            "number": st.floats(-20, 20), "integer": st.integers(0, 4),
            "bool": st.booleans(), "string": st.sampled_from(("", "fuzz-out/run.mp3", "a")),
            "string[]": st.lists(st.sampled_from(("a", "b")), max_size=2),
            "enum": st.sampled_from(("chorus", "full", "auto", "nope"))
            }.get(kind, st.none())


def plausible_submissions(facts: SessionFacts) -> st.SearchStrategy[Any]:
    """A registered workflow with inputs of the declared types: a run that really runs."""
    def submission(name: str) -> st.SearchStrategy[Any]:
        declared = facts.workflow_inputs[name]
        values = st.fixed_dictionaries({}, optional={
            key: plausible_input_value(kind, facts) for key, kind in declared.items()})

        def build(inputs: dict[str, Any], key: str) -> workflow_pb2.SubmitWorkflowRequest:
            request = workflow_pb2.SubmitWorkflowRequest(workflow_name=name,
                                                         idempotency_key=key)
            request.inputs.update(inputs)
            return request

        return st.builds(build, values, st.sampled_from(("", "k1", "k2")))

    names = sorted(facts.workflow_inputs)
    return st.sampled_from(names).flatmap(submission) if names else st.nothing()


def plausible_probes(facts: SessionFacts) -> st.SearchStrategy[diagnostics_pb2.ProbeModelRequest]:
    """A real model, its declared inputs with data of the right size, its real outputs."""
    def probe(model: str) -> st.SearchStrategy[diagnostics_pb2.ProbeModelRequest]:
        signature = facts.models[model]
        dims = st.integers(1, 3)

        def tensor(spec: ModelTensor) -> st.SearchStrategy[diagnostics_pb2.RawTensor]:
            shape = st.tuples(*[dims if d < 0 else st.just(d) for d in spec.shape])
            return st.builds(lambda s, fill: _filled(spec, list(s), fill), shape,
                             st.sampled_from((0, 1, 255)))

        return st.builds(lambda tensors: diagnostics_pb2.ProbeModelRequest(
            model=model, inputs=tensors, outputs=signature.outputs),
            st.tuples(*[tensor(spec) for spec in signature.inputs]))

    names = sorted(facts.models)
    return st.sampled_from(names).flatmap(probe) if names else st.nothing()


_NUMPY_TYPES = {"FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "UINT8": np.uint8,
                "INT8": np.int8, "INT32": np.int32, "INT64": np.int64, "BOOL": np.bool_}
MAX_PROBE_ELEMENTS = 1 << 20


def _filled(spec: ModelTensor, shape: list[int], fill: int) -> diagnostics_pb2.RawTensor:
    dtype = _NUMPY_TYPES.get(spec.datatype, np.uint8)
    count = min(math.prod(shape), MAX_PROBE_ELEMENTS)
    if count < math.prod(shape):
        shape = [count]
    data = np.full(count, fill).astype(dtype).tobytes()
    return diagnostics_pb2.RawTensor(name=spec.name, datatype=spec.datatype, shape=shape,
                                     data=data)


def plausible_hints(facts: SessionFacts) -> Hints:
    """Hints that make up plausible requests: past the checks, into the work."""
    return Hints(
        messages={
            "mediamesh.v1.MediaRef": plausible_media_refs(facts),
            "mediamesh.v1.OutputSpec": plausible_outputs(),
            "mediamesh.v1.TimeRange": plausible_time_ranges(),
            "mediamesh.v1.Box": plausible_boxes(),
            "mediamesh.v1.SubmitWorkflowRequest": plausible_submissions(facts),
            "mediamesh.v1.ProbeModelRequest": plausible_probes(facts),
        },
        fields={
            "mediamesh.v1.MatchFingerprintsRequest.query": st.sampled_from(
                facts.fingerprints or [b""]),
            "mediamesh.v1.Candidate.fingerprint": st.sampled_from(facts.fingerprints or [b""]),
        },
        field_names={
            "workflow_yaml": workflow_yaml(facts.workflows_dir),
            "run_id": st.sampled_from(facts.run_ids or ["none"]),
            "index": st.sampled_from(facts.index_names or ["fuzz"]),
            "media_id": st.sampled_from(("clip", "song", "x")),
            "language": st.sampled_from(("", "en", "zh")),
            "languages": st.sampled_from(("en", "zh")),
            "categories": st.sampled_from(facts.policy_categories or ["spam"]),
            "texts": st.sampled_from(NATURAL_TEXTS), "text": st.sampled_from(NATURAL_TEXTS),
            "query": st.sampled_from(NATURAL_TEXTS),
            "user_dictionary": st.sampled_from(("公园", "fox")),
        })
