"""Every RPC of the contract is implemented (each is tested elsewhere), and a method a
server does not know answers UNIMPLEMENTED, never UNKNOWN."""
from __future__ import annotations

import grpc
import pytest

from mediamesh.config import Settings
from mediamesh.v1 import audio_pb2, compose_pb2, text_pb2, vision_pb2, workflow_pb2

IMPLEMENTED = {"mediamesh.v1.VisionService/KeyGreenScreen",
               "mediamesh.v1.VisionService/DetectShots",
               "mediamesh.v1.VisionService/SegmentPortrait",
               "mediamesh.v1.VisionService/Fingerprint",
               "mediamesh.v1.VisionService/MatchFingerprints",
               "mediamesh.v1.VisionService/BlurRegions",
               "mediamesh.v1.VisionService/SelectCover",
               "mediamesh.v1.VisionService/Reframe",
               "mediamesh.v1.VisionService/RemoveSubtitles",
               "mediamesh.v1.VisionService/SplitLecture",
               "mediamesh.v1.TextService/RecognizeText",
               "mediamesh.v1.TextService/ExtractSubtitles",
               "mediamesh.v1.TextService/Embed",
               "mediamesh.v1.TextService/IndexMedia",
               "mediamesh.v1.TextService/Search",
               "mediamesh.v1.TextService/ExtractKeywords",
               "mediamesh.v1.TextService/Moderate",
               "mediamesh.v1.TextService/TagMedia",
               "mediamesh.v1.TextService/Transcribe",
               "mediamesh.v1.TextService/MatchScript",
               "mediamesh.v1.ComposeService/RenderGif",
               "mediamesh.v1.ComposeService/MixAudio",
               "mediamesh.v1.ComposeService/RenderMedley",
               "mediamesh.v1.ComposeService/PlanCreation",
               "mediamesh.v1.ComposeService/RenderContactSheet",
               "mediamesh.v1.ComposeService/RenderTimeline",
               "mediamesh.v1.ComposeService/ConcatVideo",
               "mediamesh.v1.ComposeService/RenderSummary",
               "mediamesh.v1.ComposeService/MuxSubtitles",
               "mediamesh.v1.AudioService/AnalyzeLoudness",
               "mediamesh.v1.AudioService/AnalyzeRhythm",
               "mediamesh.v1.AudioService/DetectChorus",
               "mediamesh.v1.AudioService/DetectSpeech",
               "mediamesh.v1.AudioService/SynthesizeSpeech",
               *(f"mediamesh.v1.WorkflowService/{m}" for m in (
                   "SubmitWorkflow", "GetRun", "WatchRun", "CancelRun", "ListRuns",
                   "ListWorkflows", "ValidateWorkflow"))}
CONTRACTS = [(audio_pb2, "AudioService", "audio"), (vision_pb2, "VisionService", "vision"),
             (text_pb2, "TextService", "text"), (compose_pb2, "ComposeService", "compose"),
             (workflow_pb2, "WorkflowService", "orchestrator")]


def all_methods() -> list[tuple[str, object, str]]:
    found = []
    for module, service, part in CONTRACTS:
        descriptor = module.DESCRIPTOR.services_by_name[service]
        for method in descriptor.methods:
            found.append((part, method, f"{descriptor.full_name}/{method.name}"))
    return found


def test_every_contract_rpc_is_implemented() -> None:
    """The list above is the whole contract: a new RPC must be built (and listed) or it
    fails here, instead of shipping as a stub."""
    assert {path for _, _, path in all_methods()} == IMPLEMENTED


@pytest.mark.parametrize("module,service,part", CONTRACTS, ids=[c[1] for c in CONTRACTS])
async def test_a_method_the_server_lacks_is_unimplemented(mesh: Settings, module: object,
                                                          service: str, part: str) -> None:
    """A client built from a newer contract calling an older server gets UNIMPLEMENTED,
    not a hang or UNKNOWN."""
    path = f"/mediamesh.v1.{service}/NotInThisVersion"
    async with grpc.aio.insecure_channel(mesh.service_address(part)) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await channel.unary_unary(path)(b"", timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
