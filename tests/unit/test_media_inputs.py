"""Limits read from container headers, before anything is decoded."""
from __future__ import annotations

import pytest

from mediamesh import media
from mediamesh.errors import MediaTooLong, PictureTooLarge
from mediamesh.media_inputs import MAX_VIDEO_FRAMES, check_picture_size


def video(width: int, height: int, frames: int | None) -> media.MediaInfo:
    return media.MediaInfo(duration=60.0, container="mp4", has_audio=False, has_video=True,
                           sample_rate=None, channels=None, width=width, height=height,
                           fps=25.0, frame_count=frames, video_codec="h264", audio_codec=None)


def test_declared_pictures_and_frame_counts_are_bounded() -> None:
    check_picture_size(video(7680, 4320, MAX_VIDEO_FRAMES), "input")  # 8K, at the limit
    with pytest.raises(PictureTooLarge, match="30000x30000"):
        check_picture_size(video(30000, 30000, 10), "input")
    with pytest.raises(MediaTooLong, match="declares 1000001 frames"):
        check_picture_size(video(16, 16, MAX_VIDEO_FRAMES + 1), "input")
    check_picture_size(video(640, 360, None), "input")  # unknown count: decoded as it streams
