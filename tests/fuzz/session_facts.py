"""What the fuzz learns from (and leaves in) the mesh before the first case: media in the
object store, runs, a search index and real fingerprints to point requests at, and the
Triton models' inputs, the registry's workflows and the policy categories to name."""
from __future__ import annotations

import asyncio

import grpc
import tritonclient.grpc as triton_grpc

from mediamesh.config import Settings
from mediamesh.storage import MediaStore
from mediamesh.v1 import (
    common_pb2,
    text_pb2,
    text_pb2_grpc,
    vision_pb2,
    vision_pb2_grpc,
    workflow_pb2,
    workflow_pb2_grpc,
)
from orchestrator.registry import WorkflowRegistry
from tests.fuzz.corpus import Corpus
from tests.fuzz.hints import ModelSignature, ModelTensor, SessionFacts

BUCKET = "fuzz"
INDEX = "fuzz-index"
#: a one-step run that ends in a second: ids of real runs to get, watch and cancel
QUICK_WORKFLOW = """name: fuzz-quick
version: "1"
steps:
  - id: embed
    call: text.Embed
    with:
      texts: [hello, world]
outputs:
  dimension: ${steps.embed.outputs.dimension}
"""


async def _put_objects(settings: Settings, corpus: Corpus) -> list[str]:
    store = MediaStore(settings.media_root, inline_limit_bytes=settings.inline_limit_bytes,
                       nats_url=settings.nats_address)
    try:
        return [await store.put_object(BUCKET, name, corpus.root / corpus.good[name],
                                       create_bucket=True)
                for name in ("clip.mp4", "song.wav", "picture.png")]
    finally:
        await store.close()


def _fingerprints(channel: grpc.Channel, corpus: Corpus) -> list[bytes]:
    stub = vision_pb2_grpc.VisionServiceStub(channel)
    found = []
    for name in ("clip.mp4", "clip.webm"):
        request = vision_pb2.FingerprintRequest(video=common_pb2.MediaRef(uri=corpus.good[name]))
        for event in stub.Fingerprint(request, timeout=60):
            if event.HasField("result"):
                found.append(event.result.fingerprint)
    return found


def _runs(channel: grpc.Channel) -> list[str]:
    stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
    return [stub.SubmitWorkflow(workflow_pb2.SubmitWorkflowRequest(
        workflow_yaml=QUICK_WORKFLOW, idempotency_key=f"fuzz-{i}"), timeout=30).run_id
        for i in range(2)]


def _index(channel: grpc.Channel) -> str:
    text_pb2_grpc.TextServiceStub(channel).IndexMedia(text_pb2.IndexMediaRequest(
        index=INDEX, media_id="clip", texts=[text_pb2.IndexedText(text="a green clip"),
                                             text_pb2.IndexedText(text="一个绿色的视频")]),
        timeout=60)
    return INDEX


def _models(settings: Settings) -> dict[str, ModelSignature]:
    client = triton_grpc.InferenceServerClient(settings.triton_address)
    try:
        models = {}
        for entry in client.get_model_repository_index().models:
            metadata = client.get_model_metadata(entry.name)
            models[entry.name] = ModelSignature(
                [ModelTensor(t.name, t.datatype, list(t.shape)) for t in metadata.inputs],
                [t.name for t in metadata.outputs])
        return models
    finally:
        client.close()


def gather(settings: Settings, corpus: Corpus) -> SessionFacts:
    facts = SessionFacts(corpus=corpus, workflows_dir=settings.workflows_dir)
    facts.nats_objects = asyncio.run(_put_objects(settings, corpus))
    with grpc.insecure_channel(settings.service_address("vision")) as vision:
        facts.fingerprints = _fingerprints(vision, corpus)
    with grpc.insecure_channel(settings.service_address("text")) as text:
        facts.index_names = [_index(text)]
    with grpc.insecure_channel(settings.service_address("orchestrator")) as orchestrator:
        facts.run_ids = _runs(orchestrator)
    facts.models = _models(settings)
    registry = WorkflowRegistry(settings.workflows_dir).load()
    facts.workflow_inputs = {w.name: {name: spec.type for name, spec in w.inputs.items()}
                             for w in registry.list()}
    facts.policy_categories = sorted(p.stem for p in
                                     settings.moderation_policies_dir.glob("*.yaml"))
    return facts
