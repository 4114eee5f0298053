"""Limits read from container headers, before anything is decoded."""
from __future__ import annotations

import pytest

from mediamesh import media
from mediamesh.errors import MediaTooLong, PictureTooLarge
from mediamesh.media_inputs import MAX_VIDEO_FRAMES, check_decoded_samples, check_picture_size


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


def audio(seconds: float, channels: int) -> media.MediaInfo:
    return media.MediaInfo(duration=seconds, container="wav", has_audio=True, has_video=False,
                           sample_rate=1, channels=channels, width=None, height=None, fps=None,
                           frame_count=None, video_codec=None, audio_codec="pcm_s16le")


def test_decoded_audio_is_bounded_whatever_the_file_size() -> None:
    """Found by the fuzz: a 7 KB WAV at 1 Hz holds an hour, 172 M samples at 48 kHz."""
    check_decoded_samples(audio(1200, 2), 48_000, 2, "audio", "AnalyzeLoudness")  # a song
    check_decoded_samples(audio(7200, 1), 16_000, 1, "media", "TagMedia")  # 2 h of speech
    with pytest.raises(MediaTooLong, match="3600 s of audio; AnalyzeLoudness analyses at most "
                                           "20 min of it"):
        check_decoded_samples(audio(3600, 2), 48_000, 2, "audio", "AnalyzeLoudness")
    with pytest.raises(MediaTooLong, match="at most 40 min"):  # 0 channels counts as one
        check_decoded_samples(audio(3600, 0), 48_000, 0, "audio", "AnalyzeLoudness")
