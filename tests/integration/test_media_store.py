"""MediaRefs that live in the NATS JetStream object store are read by the services."""
from __future__ import annotations

import grpc
import nats
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.grpc_errors import error_info
from mediamesh.v1 import common_pb2, vision_pb2


async def test_input_from_the_object_store(mesh: Settings, client: MeshClient) -> None:
    image = np.full((40, 64, 3), (30, 210, 50), np.uint8)
    image[10:30, 20:44] = (210, 160, 140)
    nc = await nats.connect(mesh.nats_address)
    try:
        store = await nc.jetstream().create_object_store("uploads")
        await store.put("shots/frame.png", media.encode_image(image))
    finally:
        await nc.close()
    request = vision_pb2.KeyGreenScreenRequest(
        input=common_pb2.MediaRef(uri="nats-object://uploads/shots/frame.png"),
        output_mode=vision_pb2.KEY_OUTPUT_MODE_ALPHA_ONLY)
    result = await MeshClient.run_job(client.vision.KeyGreenScreen(request, timeout=60))
    matte = media.read_image(mesh.media_root / result.output.uri)[..., 0]
    assert matte[20, 30] == 255 and matte[2, 2] == 0  # subject kept, screen removed


@pytest.mark.parametrize("uri,code,reason", [
    ("nats-object://uploads/no/such.png", grpc.StatusCode.NOT_FOUND, "MEDIA_NOT_FOUND"),
    ("nats-object://no-such-bucket/x.png", grpc.StatusCode.NOT_FOUND, "MEDIA_NOT_FOUND"),
])
async def test_missing_objects_are_not_found(mesh: Settings, client: MeshClient, uri: str,
                                             code: grpc.StatusCode, reason: str) -> None:
    request = vision_pb2.KeyGreenScreenRequest(input=common_pb2.MediaRef(uri=uri))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await MeshClient.run_job(client.vision.KeyGreenScreen(request, timeout=60))
    assert caught.value.code() == code, caught.value.details()
    assert error_info(caught.value)[0] == reason


async def test_output_to_the_object_store(mesh: Settings, client: MeshClient) -> None:
    image = np.full((40, 64, 3), (30, 210, 50), np.uint8)
    image[10:30, 20:44] = (210, 160, 140)
    request = vision_pb2.KeyGreenScreenRequest(
        input=common_pb2.MediaRef(inline_data=media.encode_image(image), name="in.png"),
        output=common_pb2.OutputSpec(uri="nats-object://renders/keyed/frame.png"),
        output_mode=vision_pb2.KEY_OUTPUT_MODE_ALPHA_ONLY)
    result = await MeshClient.run_job(client.vision.KeyGreenScreen(request, timeout=60))
    assert result.output.uri == "nats-object://renders/keyed/frame.png"
    assert result.alpha_preview.uri == "nats-object://renders/keyed/frame.alpha.png"
    nc = await nats.connect(mesh.nats_address)
    try:
        store = await nc.jetstream().object_store("renders")
        matte = media.read_image((await store.get("keyed/frame.png")).data)[..., 0]
        assert await store.get("keyed/frame.alpha.png")
    finally:
        await nc.close()
    assert matte[20, 30] == 255 and matte[2, 2] == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # no silent overwrite in the store
        await MeshClient.run_job(client.vision.KeyGreenScreen(request, timeout=60))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(caught.value)[0] == "OUTPUT_EXISTS"
