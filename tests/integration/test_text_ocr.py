"""RecognizeText through the mesh: TextService -> Triton (text_detection, then
text_recognition) on pictures and video frames with text drawn at known places."""
from __future__ import annotations

import io
import json
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.v1 import common_pb2, text_pb2
from tests.integration.streams import assert_invalid_argument
from tests.integration.test_mesh_health import cli

W, H = 960, 540
LINES = (("Hello mediamesh 2026", (60, 60), 44), ("second column", (680, 66), 36),
         ("The quick brown fox jumps", (120, 380), 40))


def draw(lines: tuple[tuple[str, tuple[int, int], int], ...], background: tuple[int, int, int]
         ) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A picture with `lines` (text, top-left, size) and each line's ink box in pixels."""
    image = Image.new("RGB", (W, H), background)
    pen = ImageDraw.Draw(image)
    boxes = []
    for text, origin, size in lines:
        font = ImageFont.load_default(size=size)
        pen.text(origin, text, font=font, fill=(250, 250, 250))
        boxes.append(tuple(int(v) for v in pen.textbbox(origin, text, font=font)))
    return np.asarray(image), boxes


def contains(box: common_pb2.Box, ink: tuple[int, int, int, int], slack: float = 0.02) -> bool:
    left, top, right, bottom = ink
    return (box.x - slack <= left / W and box.y - slack <= top / H
            and box.x + box.width + slack >= right / W and box.y + box.height + slack >= bottom / H
            and box.width < (right - left) / W + 0.1 and box.height < (bottom - top) / H + 0.1)


async def recognise(client: MeshClient, **fields: object) -> text_pb2.RecognizeTextResponse:
    return await client.text.RecognizeText(text_pb2.RecognizeTextRequest(**fields), timeout=60)


async def test_lines_are_read_where_they_are_in_reading_order(client: MeshClient) -> None:
    picture, boxes = draw(LINES, (30, 70, 50))
    reply = await recognise(client, image=common_pb2.MediaRef(
        inline_data=media.encode_image(picture), name="text.png"))
    assert (reply.width, reply.height) == (W, H)
    assert [line.text for line in reply.lines] == [text for text, _, _ in LINES]
    for line, ink in zip(reply.lines, boxes, strict=True):
        assert line.confidence > 0.9
        assert contains(line.box, ink), (line.text, line.box, ink)
        assert len(line.polygon) == 8


async def test_a_region_reads_only_its_part_in_whole_frame_coordinates(
        client: MeshClient) -> None:
    picture, boxes = draw(LINES, (30, 70, 50))
    reply = await recognise(client, image=common_pb2.MediaRef(
        inline_data=media.encode_image(picture), name="text.png"),
        region=common_pb2.Box(x=0.0, y=0.5, width=1.0, height=0.5))
    assert [line.text for line in reply.lines] == ["The quick brown fox jumps"]
    assert contains(reply.lines[0].box, boxes[2])


async def test_a_video_frame_is_read_at_its_time(client: MeshClient, media_root: Path) -> None:
    path = media_root / "ocr" / "two-titles.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    first, _ = draw((("First title", (100, 200), 56),), (20, 20, 90))
    second, _ = draw((("Second title", (100, 200), 56),), (90, 20, 20))
    with media.VideoWriter(path, W, H, 25.0) as writer:
        for i in range(50):
            writer.write(first if i < 25 else second)
    for seconds, text in ((0.4, "First title"), (1.5, "Second title")):
        reply = await recognise(client, image=common_pb2.MediaRef(uri="ocr/two-titles.mp4"),
                                frame_time=seconds)
        assert [line.text for line in reply.lines] == [text]
    await assert_invalid_argument(
        recognise(client, image=common_pb2.MediaRef(uri="ocr/two-titles.mp4"), frame_time=9),
        "frame_time", "outside the video")


async def test_a_picture_without_text_reads_nothing(client: MeshClient) -> None:
    rng = np.random.default_rng(3)
    picture = np.repeat(np.repeat(rng.integers(0, 255, (27, 48, 3), dtype=np.uint8), 20, 0),
                        20, 1)
    reply = await recognise(client, image=common_pb2.MediaRef(
        inline_data=media.encode_image(picture), name="blocks.png"))
    assert list(reply.lines) == []


@pytest.mark.parametrize("fields,field,text", [
    ({"region": common_pb2.Box(x=0.1, y=0.1, width=0.0, height=0.3)}, "region", "no area"),
    ({"frame_time": 1.0}, "frame_time", "still picture"),
])
async def test_bad_requests_name_the_field(client: MeshClient, fields: dict[str, object],
                                           field: str, text: str) -> None:
    picture, _ = draw(LINES[:1], (0, 0, 0))
    await assert_invalid_argument(recognise(client, image=common_pb2.MediaRef(
        inline_data=media.encode_image(picture), name="t.png"), **fields), field, text)


async def test_not_a_picture_and_a_missing_file(client: MeshClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await recognise(client, image=common_pb2.MediaRef(inline_data=b"\x89PNG garbage",
                                                          name="broken.png"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await recognise(client, image=common_pb2.MediaRef(uri="ocr/nope.png"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_cli_prints_the_lines_and_says_what_is_wrong(mesh: Settings, tmp_path: Path) -> None:
    picture, _ = draw(LINES, (30, 70, 50))
    source = tmp_path / "slide.png"
    media.write_image(source, picture)
    result = cli(mesh, "ocr", str(source), "--json")
    assert result.returncode == 0, result.stderr
    assert [line["text"] for line in json.loads(result.stdout)["lines"]] == \
        [text for text, _, _ in LINES]
    wrong = cli(mesh, "ocr", str(source), "--time", "2")
    assert wrong.returncode == 1 and "INVALID_ARGUMENT" in wrong.stderr
    assert "still picture" in wrong.stderr and "Traceback" not in wrong.stderr


async def test_a_huge_declared_picture_is_refused_before_decoding(client: MeshClient) -> None:
    # 58 KB of PNG that declares 10000x6000: refused from its header, never decoded
    buffer = io.BytesIO()
    Image.new("L", (10000, 6000)).save(buffer, format="PNG")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await recognise(client, image=common_pb2.MediaRef(inline_data=buffer.getvalue(),
                                                          name="huge.png"))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "10000x6000" in caught.value.details() and "scale it down" in caught.value.details()
