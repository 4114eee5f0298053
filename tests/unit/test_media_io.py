"""Round-trip tests for mediamesh.media; all media is synthesised with numpy in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediamesh.media import (
    MediaDecodeError,
    MediaEncodeError,
    MediaTooLargeError,
    VideoWriter,
    check_limits,
    decode_audio,
    encode_image,
    iter_frames,
    probe,
    read_frame_at,
    read_image,
    write_audio,
    write_gif,
    write_image,
    write_webp,
)
from tests.fuzz.corpus import wav_declaring

SR = 44100
VIDEO_W, VIDEO_H, VIDEO_FPS, VIDEO_FRAMES = 64, 48, 10, 30


def sine(
    freq: float = 1000.0, seconds: float = 1.0, rate: int = SR, amp: float = 0.5
) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(seconds: float = 1.0, rate: int = SR) -> np.ndarray:
    """Non-periodic test signal, so cross-correlation finds a unique alignment."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * (200 * t + 600 * t**2))).astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64)))))


def grey(level: int, width: int = VIDEO_W, height: int = VIDEO_H) -> np.ndarray:
    return np.full((height, width, 3), level, dtype=np.uint8)


def gradient(width: int = 65, height: int = 47) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 3, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def sine_wav(media_dir: Path) -> Path:
    path = media_dir / "sine.wav"
    write_audio(path, sine(seconds=1.0), SR)
    return path


@pytest.fixture(scope="module")
def grey_video(media_dir: Path) -> Path:
    """30 frames 64x48 at 10 fps; frame i is solid grey level i*8."""
    path = media_dir / "grey.mp4"
    with VideoWriter(path, VIDEO_W, VIDEO_H, VIDEO_FPS) as writer:
        for i in range(VIDEO_FRAMES):
            writer.write(grey(i * 8))
    return path


# --- audio -------------------------------------------------------------------


def test_wav_decodes_resampled_with_right_length_and_pitch(sine_wav: Path) -> None:
    samples = decode_audio(sine_wav, sample_rate=22050)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 22050) <= 1
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * 22050 / len(samples)
    assert abs(peak_hz - 1000) <= 5


@pytest.mark.parametrize("ext", [".mp3", ".m4a"])
def test_lossy_round_trip(media_dir: Path, ext: str) -> None:
    original = chirp(seconds=1.0)
    path = media_dir / f"chirp{ext}"
    write_audio(path, original, SR)
    decoded = decode_audio(path, sample_rate=SR)
    assert abs(len(decoded) - len(original)) <= 0.1 * SR
    # align on the best lag (encoders may add priming delay), then compare
    window = original[4000:30000]
    lags = range(-3000, 3000)
    lag = max(lags, key=lambda k: float(np.dot(window, decoded[4000 + k : 30000 + k])))
    n = min(len(original), len(decoded) - max(lag, 0)) - 4000
    corr = np.corrcoef(original[2000:n], decoded[2000 + lag : n + lag])[0, 1]
    assert corr > 0.98
    assert abs(rms_db(decoded) - rms_db(original)) < 1.0


def test_opus_is_resampled_to_48k(media_dir: Path) -> None:
    path = media_dir / "tone.ogg"
    write_audio(path, sine(seconds=0.5), SR)
    info = probe(path)
    assert info.sample_rate == 48000 and info.audio_codec == "opus"
    assert abs(len(decode_audio(path, sample_rate=SR)) - SR // 2) < 0.05 * SR


def test_start_and_duration_slice(sine_wav: Path) -> None:
    full = decode_audio(sine_wav)
    part = decode_audio(sine_wav, start=0.25, duration=0.5)
    assert len(part) == SR // 2
    np.testing.assert_allclose(part, full[SR // 4 : SR // 4 + SR // 2], atol=1e-3)
    assert decode_audio(sine_wav, start=5.0).shape == (0,)


@pytest.mark.parametrize("ext", [".mp3", ".m4a"])
def test_slicing_compressed_audio_is_sample_exact(media_dir: Path, ext: str) -> None:
    """Seeking lands mid-stream; decoder pre-roll must not leak glitches into the slice."""
    path = media_dir / f"long{ext}"
    write_audio(path, chirp(seconds=3.0), SR)
    full = decode_audio(path)
    part = decode_audio(path.read_bytes(), start=2.1, duration=0.5)
    begin = round(2.1 * SR)
    np.testing.assert_allclose(part, full[begin : begin + SR // 2], atol=1e-3)


def test_bytes_input_and_stereo_shape(media_dir: Path) -> None:
    left, right = sine(440, 0.5), sine(880, 0.5)
    path = media_dir / "stereo.flac"
    write_audio(path, np.stack([left, right]), SR)
    stereo = decode_audio(path.read_bytes(), mono=False)
    assert stereo.shape == (2, len(left))
    np.testing.assert_allclose(stereo[1], right, atol=1e-3)
    assert decode_audio(path.read_bytes()).shape == (len(left),)


def test_write_audio_clips_and_rejects_bad_input(media_dir: Path) -> None:
    path = media_dir / "loud.wav"
    write_audio(path, np.full(1000, 3.0, dtype=np.float32), SR)
    assert decode_audio(path).max() <= 1.0
    with pytest.raises(ValueError, match="floats"):
        write_audio(path, np.zeros(10, dtype=np.int16), SR)
    with pytest.raises(MediaEncodeError, match=r"unsupported extension '\.xyz'"):
        write_audio(media_dir / "a.xyz", sine(), SR)


def test_decode_audio_without_audio_stream(grey_video: Path) -> None:
    with pytest.raises(MediaDecodeError, match="no audio stream") as err:
        decode_audio(grey_video)
    assert "grey.mp4" in str(err.value)


# --- video -------------------------------------------------------------------


def test_video_round_trip_frames_times_and_levels(grey_video: Path) -> None:
    frames = list(iter_frames(grey_video))
    assert len(frames) == VIDEO_FRAMES
    for i, frame in enumerate(frames):
        assert frame.index == i
        assert abs(frame.time - i / VIDEO_FPS) < 1e-6
        assert frame.rgb.shape == (VIDEO_H, VIDEO_W, 3) and frame.rgb.dtype == np.uint8
        assert abs(float(frame.rgb.mean()) - i * 8) <= 3


def test_video_start_end_fps_and_resize(grey_video: Path) -> None:
    assert [f.index for f in iter_frames(grey_video, start=1.0, end=2.0)] == list(range(10, 20))
    assert [f.index for f in iter_frames(grey_video, fps=5)] == list(range(0, 30, 2))
    assert [f.index for f in iter_frames(grey_video, start=2.0, fps=2.5)] == [20, 24, 28]
    resized = next(iter(iter_frames(grey_video, size=(32, 24))))
    assert resized.rgb.shape == (24, 32, 3)


def test_read_frame_at(grey_video: Path) -> None:
    frame = read_frame_at(grey_video, 1.5)
    assert frame.index == 15 and abs(frame.time - 1.5) < 1e-6
    assert abs(float(frame.rgb.mean()) - 15 * 8) <= 3
    assert read_frame_at(grey_video, 1.55).index == 15  # still on screen
    with pytest.raises(MediaDecodeError, match="ends before"):
        read_frame_at(grey_video, 10.0)


def test_probe_video_and_audio(grey_video: Path, sine_wav: Path) -> None:
    info = probe(grey_video)
    assert (info.width, info.height, info.fps, info.frame_count) == (
        VIDEO_W,
        VIDEO_H,
        10.0,
        VIDEO_FRAMES,
    )
    assert abs(info.duration - 3.0) < 0.05
    assert info.has_video and not info.has_audio and info.video_codec == "h264"
    audio = probe(sine_wav.read_bytes())
    assert audio.has_audio and not audio.has_video
    assert (audio.sample_rate, audio.channels, audio.container) == (SR, 1, "wav")
    assert abs(audio.duration - 1.0) < 1e-3


def test_odd_size_video_with_audio(media_dir: Path) -> None:
    path = media_dir / "odd.mp4"
    with VideoWriter(path, 65, 47, 25, audio_sample_rate=SR) as writer:
        for _ in range(25):
            writer.write(gradient())
        writer.write_audio(sine(seconds=1.0))
    assert writer.encoded_size == (66, 48)
    info = probe(path)
    assert info.has_audio and info.audio_codec == "aac" and info.frame_count == 25
    assert (info.width, info.height) == (66, 48)
    frame = read_frame_at(path, 0.0).rgb
    assert np.abs(frame[:47, :65].astype(int) - gradient()).mean() < 4
    assert abs(len(decode_audio(path)) - SR) < 0.05 * SR


def test_video_writer_validates(media_dir: Path) -> None:
    with VideoWriter(media_dir / "v.mp4", 16, 16, 5) as writer:
        with pytest.raises(ValueError, match="expects 16x16"):
            writer.write(grey(0, 8, 8))
        with pytest.raises(ValueError, match="no audio track"):
            writer.write_audio(sine())
        writer.write(grey(0, 16, 16))
    with pytest.raises(MediaEncodeError, match="alpha"):
        VideoWriter(media_dir / "alpha.mp4", 16, 16, 5, alpha=True)


def test_webm_alpha_writer(media_dir: Path) -> None:
    path = media_dir / "alpha.webm"
    rgba = np.dstack([gradient(32, 32), np.full((32, 32), 128, np.uint8)])
    with VideoWriter(path, 32, 32, 10, alpha=True) as writer:
        for _ in range(5):
            writer.write(rgba)
    info = probe(path)
    assert info.video_codec == "vp9" and (info.width, info.height) == (32, 32)
    assert len(list(iter_frames(path))) == 5


# --- images and animations -----------------------------------------------------


@pytest.mark.parametrize(("ext", "tolerance"), [(".png", 0.0), (".jpg", 4.0), (".webp", 4.0)])
def test_image_round_trip(media_dir: Path, ext: str, tolerance: float) -> None:
    image = gradient()
    path = media_dir / f"img{ext}"
    write_image(path, image)
    back = read_image(path)
    assert back.shape == image.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - image).mean() <= tolerance
    info = probe(path)
    assert (info.width, info.height, info.frame_count, info.duration) == (65, 47, 1, 0.0)


def test_png_keeps_alpha_and_encode_image_bytes(media_dir: Path) -> None:
    rgba = np.dstack([gradient(), np.full((47, 65), 77, np.uint8)])
    data = encode_image(rgba, "png")
    assert data.startswith(b"\x89PNG")
    np.testing.assert_array_equal(read_image(data), gradient())
    assert encode_image(gradient(), "jpg").startswith(b"\xff\xd8")


def test_gif_and_webp_animation(media_dir: Path) -> None:
    frames = [grey(i * 12, 65, 47) for i in range(20)]
    gif, webp = media_dir / "anim.gif", media_dir / "anim.webp"
    write_gif(gif, frames, fps=10)
    write_webp(webp, iter(frames), fps=10)
    for path in (gif, webp):
        info = probe(path)
        assert abs((info.frame_count or 0) - 20) <= 1, path
        assert (info.width, info.height) == (65, 47)
        assert abs(info.duration - 2.0) < 0.15
    levels = [float(f.rgb.mean()) for f in iter_frames(gif)]
    assert len(levels) == 20 and all(abs(level - i * 12) <= 3 for i, level in enumerate(levels))


# --- errors and limits -------------------------------------------------------------


def test_garbage_bytes_raise(media_dir: Path) -> None:
    with pytest.raises(MediaDecodeError, match="in-memory data"):
        probe(b"definitely not media" * 20)
    path = media_dir / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    for decode in (probe, decode_audio, read_image):
        with pytest.raises(MediaDecodeError, match=r"garbage\.mp4"):
            decode(path)


def test_truncated_and_empty_files_raise(media_dir: Path) -> None:
    source = media_dir / "full.m4a"
    write_audio(source, sine(seconds=0.5), SR)
    truncated = media_dir / "truncated.m4a"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(MediaDecodeError, match=r"truncated\.m4a"):
        decode_audio(truncated)
    png = encode_image(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(MediaDecodeError, match="in-memory data"):
        read_image(png[: len(png) // 2])
    empty = media_dir / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaDecodeError, match=r"empty\.wav.*empty"):
        decode_audio(empty)
    with pytest.raises(MediaDecodeError, match="empty"):
        probe(b"")
    with pytest.raises(MediaDecodeError, match="no such file"):
        probe(media_dir / "missing.wav")


def test_stream_without_a_codec_is_no_usable_stream(media_dir: Path) -> None:
    """Found by the fuzz: a WAV header saying 0 bits per sample gives FFmpeg an audio
    stream without a codec; probe() read its (None) codec context, an AttributeError."""
    path = media_dir / "bits0.wav"
    path.write_bytes(wav_declaring(8000, 1, 0, 4000, bytes(4000)))
    info = probe(path)
    assert not info.has_audio and info.sample_rate is None
    with pytest.raises(MediaDecodeError, match="codec FFmpeg cannot decode"):
        decode_audio(path)


def test_check_limits(grey_video: Path) -> None:
    info = probe(grey_video)
    check_limits(info, max_duration=10, max_pixels=64 * 48, max_frames=30)
    with pytest.raises(MediaTooLargeError, match="limit is 2 s"):
        check_limits(info, max_duration=2, label="'grey.mp4'")
    with pytest.raises(MediaTooLargeError, match="pixels"):
        check_limits(info, max_pixels=100)
