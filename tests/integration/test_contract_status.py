"""Every RPC of the contract is served: implemented ones work (other tests), the rest answer
UNIMPLEMENTED with a message naming the RPC, never UNKNOWN."""
from __future__ import annotations

import grpc
import pytest
from google.protobuf import message_factory

from mediamesh.config import Settings
from mediamesh.grpc_errors import error_info
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


METHODS = [m for m in all_methods() if m[2] not in IMPLEMENTED]


def test_contract_is_complete() -> None:
    names = {path.split("/")[1] for _, _, path in all_methods()}
    expected = {"AnalyzeRhythm", "DetectChorus", "AnalyzeLoudness", "DetectSpeech",
                "DetectShots", "SelectCover", "KeyGreenScreen", "SegmentPortrait", "Reframe",
                "BlurRegions", "RemoveSubtitles", "Fingerprint", "MatchFingerprints", "SplitLecture",
                "ExtractSubtitles", "RecognizeText", "ExtractKeywords", "TagMedia", "Embed",
                "Search", "Moderate", "Transcribe", "MixAudio", "RenderMedley", "ConcatVideo",
                "RenderTimeline", "RenderSummary", "RenderGif", "SubmitWorkflow", "GetRun",
                "WatchRun", "CancelRun", "ListRuns"}
    assert expected <= names


@pytest.mark.parametrize("part,method,path", METHODS, ids=[m[2].split(".")[-1] for m in METHODS])
async def test_unimplemented_rpcs_say_so(mesh: Settings, part: str, method: object,
                                         path: str) -> None:
    request_class = message_factory.GetMessageClass(method.input_type)  # type: ignore[attr-defined]
    response_class = message_factory.GetMessageClass(method.output_type)  # type: ignore[attr-defined]
    async with grpc.aio.insecure_channel(mesh.service_address(part)) as channel:
        kwargs = dict(request_serializer=request_class.SerializeToString,
                      response_deserializer=response_class.FromString)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            if method.server_streaming:  # type: ignore[attr-defined]
                call = channel.unary_stream(f"/{path}", **kwargs)(request_class(), timeout=10)
                async for _ in call:
                    pass
            else:
                await channel.unary_unary(f"/{path}", **kwargs)(request_class(), timeout=10)
    error = caught.value
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    assert path.replace("/", ".") in error.details()
    assert error_info(error)[0] == "NOT_IMPLEMENTED"
