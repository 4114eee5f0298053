"""Every file of the corpus, one by one, through every media field of every RPC that reads
media, the rest of the request left valid: systematic where the random cases sample. The
quick run sweeps the malformed files through one media RPC per service; the full run
sweeps every file through every media field."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from google.protobuf import message, text_format

from mediamesh.v1 import common_pb2, compose_pb2, text_pb2, vision_pb2
from tests.fuzz.caller import Caller
from tests.fuzz.hints import SessionFacts
from tests.fuzz.report import FuzzReport
from tests.fuzz.rpcs import Rpc, all_rpcs
from tests.fuzz.sizes import CALL_TIMEOUT_S, FuzzSize
from tests.fuzz.verdict import fail_on_surveyed, judge

MEDIA_REF = "mediamesh.v1.MediaRef"
#: what some RPCs need besides their media to get to it
NEEDS: dict[str, Callable[[], message.Message]] = {
    "VisionService/BlurRegions": lambda: vision_pb2.BlurRegionsRequest(regions=[
        vision_pb2.Region(keyframes=[common_pb2.KeyframedBox(
            box=common_pb2.Box(x=0.1, y=0.1, width=0.3, height=0.3))])]),
    "TextService/TagMedia": lambda: text_pb2.TagMediaRequest(use_ocr=True, use_speech=True),
}
NOT_READ = {"TextService/IndexMedia"}  # keeps the reference, never opens it
QUICK = {"AudioService/AnalyzeLoudness", "VisionService/DetectShots",
         "TextService/RecognizeText", "ComposeService/RenderGif"}


@dataclass(frozen=True)
class Target:
    """One media field of one RPC, and how to build a request around a reference."""

    rpc: Rpc
    field: str
    build: Callable[[common_pb2.MediaRef, SessionFacts], message.Message]

    @property
    def key(self) -> str:
        return f"{self.rpc.key}.{self.field}"


def _set(rpc: Rpc, field: str, input_field: str | None
         ) -> Callable[[common_pb2.MediaRef, SessionFacts], message.Message]:
    def build(ref: common_pb2.MediaRef, facts: SessionFacts) -> message.Message:
        request = NEEDS[rpc.short]() if rpc.short in NEEDS else rpc.request_class()()
        if input_field:  # sweeping a background: the main input is a good clip
            getattr(request, input_field).uri = facts.corpus.good["clip.mp4"]
        getattr(request, field).CopyFrom(ref)
        return request
    return build


def _clips(ref: common_pb2.MediaRef, facts: SessionFacts) -> message.Message:
    return compose_pb2.MixAudioRequest(clips=[compose_pb2.AudioClip(source=ref)])


def _songs(ref: common_pb2.MediaRef, facts: SessionFacts) -> message.Message:
    good = common_pb2.MediaRef(uri=facts.corpus.good["song.wav"])
    return compose_pb2.RenderMedleyRequest(  # a crossfade needs no beat grid in the request
        songs=[compose_pb2.MedleySong(audio=ref), compose_pb2.MedleySong(audio=good)],
        transition=compose_pb2.TRANSITION_STYLE_CROSSFADE, full_songs=True)


def targets() -> list[Target]:
    found = []
    for rpc in all_rpcs():
        if not rpc.implemented or rpc.short in NOT_READ:
            continue
        fields = [f for f in rpc.method.input_type.fields
                  if f.message_type is not None and f.message_type.full_name == MEDIA_REF
                  and not f.is_repeated]
        main = next((f.name for f in fields if f.containing_oneof is None), None)
        for f in fields:
            found.append(Target(rpc, f.name, _set(rpc, f.name, main if f.containing_oneof
                                                  else None)))
    by_rpc = {t.rpc.short for t in found}
    specials = {"ComposeService/MixAudio": ("clips[0].source", _clips),
                "ComposeService/RenderMedley": ("songs[0].audio", _songs)}
    rpcs = {r.short: r for r in all_rpcs()}
    for short, (field, build) in specials.items():
        if short not in by_rpc:
            found.append(Target(rpcs[short], field, build))
    return found


SIZE = FuzzSize.from_env(len(all_rpcs()))
TARGETS = [t for t in targets() if SIZE.full_sweep or (t.rpc.short in QUICK)]


def corpus_files(facts: SessionFacts) -> dict[str, str]:
    """name -> uri of what a sweep sends: the malformed files, plus the good ones in full."""
    bad = {f"bad/{name}": uri for name, uri in facts.corpus.bad.items()}
    if not SIZE.full_sweep:
        return bad
    return bad | {f"good/{name}": uri for name, uri in facts.corpus.good.items()} | \
        {f"object/{uri.rsplit('/', 1)[1]}": uri for uri in facts.nats_objects}


@pytest.mark.timeout(200 * (CALL_TIMEOUT_S + 10))
@pytest.mark.parametrize("target", TARGETS, ids=[t.key for t in TARGETS])
def test_every_corpus_file_gets_an_actionable_status(target: Target, facts: SessionFacts,
                                                     caller: Caller,
                                                     report: FuzzReport) -> None:
    for name, uri in corpus_files(facts).items():
        request = target.build(common_pb2.MediaRef(uri=uri), facts)
        payload = request.SerializeToString()
        judge(report, target.rpc, "sweep", caller.call(target.rpc, payload), payload,
              lambda request=request, name=name: f"# {name}\n"
              + text_format.MessageToString(request, as_utf8=True))
    fail_on_surveyed(report, target.rpc, "sweep")
