"""The media the fuzz points requests at, written into the mesh's media root once a session.

`good/`: small real files (they must decode: deep code paths run on them, quickly).
`bad/`: what an upload can really be: empty, random bytes behind a valid magic, real files
cut short, headers that declare huge pictures or absurd durations and rates, pictures that
inflate to hundreds of megabytes, a video without frames, audio without samples, links
out of the root, a directory or a FIFO where a file should be.
Everything is generated here (numpy, PyAV through mediamesh.media): nothing is downloaded.
"""
from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from mediamesh import media

FOLDER = "fuzz"
RATE = 22_050


@dataclass
class Corpus:
    """Relative URIs (inside the media root) of everything written, by kind."""

    root: Path
    good: dict[str, str] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)
    inline: dict[str, bytes] = field(default_factory=dict)  # small payloads for inline_data

    def uris(self) -> list[str]:
        return sorted({*self.good.values(), *self.bad.values()})


# Good media ------------------------------------------------------------------------------

def beat_track(seconds: float, rate: int = RATE, bpm: float = 120.0) -> np.ndarray:
    """A kick on every beat over a bass note: enough rhythm for the beat tracker."""
    t = np.arange(int(seconds * rate)) / rate
    signal = 0.2 * np.sin(2 * np.pi * 110 * t)
    period = 60.0 / bpm
    since_beat = np.mod(t, period)
    signal += 0.7 * np.exp(-since_beat * 30) * np.sin(2 * np.pi * 60 * since_beat)
    return signal.astype(np.float32)


def frames(count: int, width: int, height: int) -> list[np.ndarray]:
    """Moving gradients with a cut in the middle: shots, motion and colour to work on."""
    ys, xs = np.mgrid[0:height, 0:width]
    out = []
    for i in range(count):
        phase = i * 4 if i < count // 2 else 128 + i * 2
        rgb = np.stack([(xs * 3 + phase) % 256, (ys * 3 + phase // 2) % 256,
                        np.full_like(xs, 200 if i < count // 2 else 40)], axis=-1)
        out.append(rgb.astype(np.uint8))
    return out


def _write_video(path: Path, pictures: list[np.ndarray], fps: float, audio: bool) -> None:
    height, width = pictures[0].shape[:2]
    with media.VideoWriter(path, width, height, fps,
                           audio_sample_rate=44_100 if audio else None) as writer:
        for picture in pictures:
            writer.write(picture)
        if audio:
            writer.write_audio(np.tile(beat_track(len(pictures) / fps, 44_100), (2, 1)))


def write_good(folder: Path) -> dict[str, Path]:
    """Small valid media of every kind the services read."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {name: folder / name for name in
           ("clip.mp4", "clip.webm", "song.wav", "song.mp3", "song.m4a", "picture.png",
            "picture.jpg", "picture.webp", "anim.gif", "still.mp4")}
    _write_video(out["clip.mp4"], frames(20, 96, 64), 10.0, audio=True)
    _write_video(out["clip.webm"], frames(10, 64, 64), 10.0, audio=False)
    _write_video(out["still.mp4"], frames(1, 64, 48), 1.0, audio=False)
    song = beat_track(8.0)
    for name in ("song.wav", "song.mp3", "song.m4a"):
        media.write_audio(out[name], song, RATE)
    picture = frames(1, 96, 64)[0]
    for name in ("picture.png", "picture.jpg", "picture.webp"):
        media.write_image(out[name], picture)
    media.write_gif(out["anim.gif"], frames(4, 48, 32), 5.0)
    return out


# Bad media -------------------------------------------------------------------------------

MAGIC_HEADERS: dict[str, bytes] = {
    "riff_wave.wav": b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\x00\x00\x00",
    "id3.mp3": b"ID3\x04\x00\x00\x00\x00\x10\x00",
    "frame_sync.mp3": b"\xff\xfb\x90\x64",
    "ftyp.mp4": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
    "png.png": b"\x89PNG\r\n\x1a\n",
    "jpeg.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "gif.gif": b"GIF89a",
    "ebml.webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm",
    "ogg.ogg": b"OggS\x00\x02",
    "flac.flac": b"fLaC\x00\x00\x00\x22",
    "riff_webp.webp": b"RIFF\xff\xff\x00\x00WEBPVP8X",
}


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_declaring(width: int, height: int, idat: bytes = b"", colour: int = 2) -> bytes:
    """A PNG whose header (valid CRC) claims width x height, with `idat` as its data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def png_bomb(side: int) -> bytes:
    """A real, fully decodable grey PNG of side x side that compresses ~1000:1."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + grey pixels
    parts = [packer.compress(row) for _ in range(side)]
    return png_declaring(side, side, b"".join(parts) + packer.flush(), colour=0)


def gif_declaring(width: int, height: int) -> bytes:
    """A GIF whose logical screen is width x height around one 1x1 image."""
    screen = struct.pack("<HHBBB", width, height, 0x80, 0, 0)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + b"\x00\x00\x00\xff\xff\xff" + image + b"\x3b"


def jpeg_declaring(jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose SOF header is patched to claim width x height."""
    at = jpeg.find(b"\xff\xc0")
    if at < 0:
        at = jpeg.find(b"\xff\xc2")
    patched = bytearray(jpeg)
    patched[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(patched)


def y4m_declaring(width: int, height: int) -> bytes:
    """Raw YUV4MPEG2 claiming width x height frames, with a few bytes of one frame."""
    return f"YUV4MPEG2 W{width} H{height} F25:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + \
        b"\x80" * 4096


def wav_declaring(rate: int, channels: int, bits: int, data_size: int, payload: bytes) -> bytes:
    """A PCM WAV whose fmt and data headers say what they are told to (they may lie)."""
    block = max(1, channels * bits // 8) & 0xFFFF
    fmt = struct.pack("<HHIIHH", 1, channels & 0xFFFF, rate & 0xFFFFFFFF,
                      (rate * block) & 0xFFFFFFFF, block, bits & 0xFFFF)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + \
        struct.pack("<I", data_size & 0xFFFFFFFF) + payload
    return b"RIFF" + struct.pack("<I", len(body) & 0xFFFFFFFF) + body


def patch_boxes(data: bytes, kind: bytes, patch: Callable[[bytearray, int], None]) -> bytes:
    """Apply `patch(buffer, offset_of_box_payload)` to every MP4 box of type `kind`."""
    out = bytearray(data)
    at = out.find(kind)
    while at >= 4:
        patch(out, at + 4)
        at = out.find(kind, at + 4)
    return bytes(out)


def mp4_declaring_size(mp4: bytes, width: int, height: int) -> bytes:
    """The avc1 sample entry and track header claim width x height (the SPS does not)."""
    def sample_entry(buf: bytearray, at: int) -> None:
        buf[at + 24:at + 28] = struct.pack(">HH", width, height)

    def track_header(buf: bytearray, at: int) -> None:
        version = buf[at]
        offset = at + (88 if version == 1 else 76)
        buf[offset:offset + 8] = struct.pack(">II", width << 16, height << 16)

    return patch_boxes(patch_boxes(mp4, b"avc1", sample_entry), b"tkhd", track_header)


def mp4_declaring_duration(mp4: bytes, units: int) -> bytes:
    """Movie and media headers claim `units` of duration (in their own timescales)."""
    def header(buf: bytearray, at: int) -> None:
        if buf[at] == 0:  # version 0: 32-bit times, duration after the timescale
            buf[at + 16:at + 20] = struct.pack(">I", units & 0xFFFFFFFF)
    return patch_boxes(patch_boxes(mp4, b"mvhd", header), b"mdhd", header)


def write_bad(folder: Path, good: dict[str, Path], seed: int = 8) -> dict[str, Path]:
    """Every malformed input; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    files: dict[str, bytes] = {}
    for ext in ("wav", "mp3", "mp4", "png", "jpg", "gif", "webm"):
        files[f"empty.{ext}"] = b""
    files["empty"] = b""
    for name, magic in MAGIC_HEADERS.items():
        files[f"magic_{name}"] = magic + rng.bytes(4096)
    for name, path in good.items():
        data = path.read_bytes()
        stem, ext = name.split(".")
        for fraction in (0.05, 0.5, 0.95):
            files[f"cut{int(fraction * 100):02d}_{stem}.{ext}"] = data[:int(len(data) * fraction)]
        middle = bytearray(data)
        middle[len(data) // 3:len(data) // 3 + 64] = rng.bytes(64)
        files[f"flipped_{stem}.{ext}"] = bytes(middle)
    jpeg, mp4 = good["picture.jpg"].read_bytes(), good["clip.mp4"].read_bytes()
    files |= {
        "png_100000x100000.png": png_declaring(100_000, 100_000, zlib.compress(b"\x00" * 64)),
        "png_2147483647x1.png": png_declaring(2**31 - 1, 1, zlib.compress(b"\x00" * 64)),
        "png_16000x16000.png": png_declaring(16_000, 16_000, zlib.compress(b"\x00" * 64)),
        "png_10000x6000.png": png_declaring(10_000, 6_000, zlib.compress(b"\x00" * 64)),
        "png_0x0.png": png_declaring(0, 0),
        "png_bomb_7000.png": png_bomb(7000),
        "gif_65535x65535.gif": gif_declaring(65_535, 65_535),
        "jpeg_65500x65500.jpg": jpeg_declaring(jpeg, 65_500, 65_500),
        "y4m_30000x30000.y4m": y4m_declaring(30_000, 30_000),
        "y4m_8000x8000.y4m": y4m_declaring(8_000, 8_000),
        "y4m_7000x7000.y4m": y4m_declaring(7_000, 7_000),
        "mp4_30000x30000.mp4": mp4_declaring_size(mp4, 30_000, 30_000),
        "mp4_136_years.mp4": mp4_declaring_duration(mp4, 0xFFFFFFFF),
        "mp4_23_days.mp4": mp4_declaring_duration(mp4, 2_000_000_000),
        "wav_rate_1hz.wav": wav_declaring(1, 1, 16, 200, rng.bytes(200)),
        "wav_rate_1hz_long.wav": wav_declaring(1, 1, 16, 40_000, rng.bytes(40_000)),
        "wav_rate_max.wav": wav_declaring(0xFFFFFFFF, 1, 16, 4000, rng.bytes(4000)),
        "wav_rate_0.wav": wav_declaring(0, 1, 16, 4000, rng.bytes(4000)),
        "wav_channels_0.wav": wav_declaring(8000, 0, 16, 4000, rng.bytes(4000)),
        "wav_channels_65535.wav": wav_declaring(8000, 65_535, 16, 4000, rng.bytes(4000)),
        "wav_bits_0.wav": wav_declaring(8000, 1, 0, 4000, rng.bytes(4000)),
        "wav_claims_4gb.wav": wav_declaring(8000, 1, 16, 0xFFFFFFF0, rng.bytes(4000)),
        "wav_0_samples.wav": wav_declaring(44_100, 2, 16, 0, b""),
        "png_as.mp4": good["picture.png"].read_bytes(),
        "text.mp4": b"this is not a video\n" * 50,
        "nul.wav": b"\x00" * 8192,
    }
    out = {}
    for name, data in files.items():
        out[name] = folder / name
        out[name].write_bytes(data)
    out |= _zero_length_media(folder) | _odd_files(folder, good)
    return out


def _zero_length_media(folder: Path) -> dict[str, Path]:
    """Containers with a video or audio stream and not one frame or sample: the header is
    written, then nothing (PyAV's writer needs a frame, so this goes to PyAV directly)."""
    streams = {"no_frames.mp4": ("libx264", True), "no_frames.webm": ("libvpx-vp9", True),
               "no_samples.m4a": ("aac", False), "no_samples.mp3": ("libmp3lame", False)}
    out = {}
    for name, (codec, video) in streams.items():
        path = folder / name
        with contextlib.suppress(Exception), av.open(str(path), "w") as container:
            stream = container.add_stream(codec, rate=10 if video else 44_100)
            if video:
                stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            container.start_encoding()
        if path.exists():
            out[name] = path
    return out


def _odd_files(folder: Path, good: dict[str, Path]) -> dict[str, Path]:
    """Things that are not plain files: links (out of the root, inside it, in a loop), a
    directory and a FIFO with media names, and awkward names."""
    out = {name: folder / name for name in
           ("link_out.wav", "link_in.mp4", "loop_a.mp4", "loop_b.mp4", "dir.mp4", "fifo.wav",
            "ünïcødé 中文 name.wav", f"{'n' * 200}.png", "per%2e%2ecent.mp4")}
    out["link_out.wav"].symlink_to("/etc/passwd")
    out["link_in.mp4"].symlink_to(good["clip.mp4"])
    out["loop_a.mp4"].symlink_to(out["loop_b.mp4"])
    out["loop_b.mp4"].symlink_to(out["loop_a.mp4"])
    out["dir.mp4"].mkdir()
    os.mkfifo(out["fifo.wav"])
    out["ünïcødé 中文 name.wav"].write_bytes(good["song.wav"].read_bytes())
    out[f"{'n' * 200}.png"].write_bytes(good["picture.png"].read_bytes())
    out["per%2e%2ecent.mp4"].write_bytes(good["clip.mp4"].read_bytes())
    return out


def write_corpus(media_root: Path) -> Corpus:
    """Write good and bad media under `<media_root>/fuzz/` and describe them."""
    base = media_root / FOLDER
    good = write_good(base / "good")
    bad = write_bad(base / "bad", good)
    corpus = Corpus(media_root)
    corpus.good = {name: path.relative_to(media_root).as_posix() for name, path in good.items()}
    corpus.bad = {name: path.relative_to(media_root).as_posix() for name, path in bad.items()}
    corpus.inline = {name: path.read_bytes() for name, path in {**good, **bad}.items()
                     if path.is_file() and not path.is_symlink() and name != "fifo.wav"
                     and path.stat().st_size <= 256 * 1024}
    return corpus
