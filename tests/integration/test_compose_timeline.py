"""ComposeService.RenderTimeline, ConcatVideo and RenderSummary through the running mesh,
checked frame by frame on clips that carry their own clip id and frame number."""
from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from mediamesh import media
from mediamesh.client import MeshClient
from mediamesh.grpc_errors import bad_fields
from mediamesh.media import remux
from mediamesh.synth import timeline_media as tm
from mediamesh.synth.speech import RATE as SPEECH_RATE
from mediamesh.synth.speech import say
from mediamesh.v1 import common_pb2, compose_pb2

FPS = 25.0
W, H = 320, 180
B_START = 2.52  # b asks for 2.5 s, mid-frame: clips start on the nearest output frame


@pytest.fixture(scope="module")
def clips(media_root: Path) -> dict[str, tm.ClipTruth]:
    folder = media_root / "timeline"
    folder.mkdir(parents=True, exist_ok=True)
    made = {name: tm.write_clip(folder / f"{name}.mp4", clip_id, seconds=seconds, fps=FPS,
                                width=W, height=H)
            for name, clip_id, seconds in (("a", 1, 3.0), ("b", 2, 3.0), ("c", 3, 4.0))}
    tm.write_logo(folder / "logo.png")
    return made


def ref(name: str) -> common_pb2.MediaRef:
    return common_pb2.MediaRef(uri=f"timeline/{name}")


async def render(client: MeshClient, timeline: compose_pb2.Timeline, uri: str
                 ) -> compose_pb2.RenderTimelineResult:
    request = compose_pb2.RenderTimelineRequest(
        timeline=timeline, output=common_pb2.OutputSpec(uri=uri, overwrite=True))
    return await MeshClient.run_job(client.compose.RenderTimeline(request, timeout=300))


def edit() -> compose_pb2.Timeline:
    """a (0-3 s), b crossfading in at 2.5 s (snapped to frame 63, 2.52 s) for 0.5 s, c at
    double speed wiping in at 5.2 s;
    a half-transparent logo from 1 s to 4 s; one subtitle cue; the clips' own sound."""
    timeline = compose_pb2.Timeline(width=W, height=H, fps=FPS)
    track = timeline.video_tracks.add()
    track.clips.add(source=ref("a.mp4"), start=0.0)
    b = track.clips.add(source=ref("b.mp4"), start=2.5)
    b.transition_in.kind, b.transition_in.duration = compose_pb2.TRANSITION_KIND_CROSSFADE, 0.5
    c = track.clips.add(source=ref("c.mp4"), start=5.2, speed=2.0)
    c.transition_in.kind, c.transition_in.duration = compose_pb2.TRANSITION_KIND_WIPE, 0.3
    logo = timeline.overlays.add(image=ref("logo.png"), opacity=0.5,
                                 range=common_pb2.TimeRange(start=1.0, end=4.0))
    logo.position.CopyFrom(common_pb2.Box(x=0.75, y=0.3, width=0.2, height=0.3555))
    text = timeline.text_tracks.add()
    text.cues.add(text="Hello 你好", range=common_pb2.TimeRange(start=0.4, end=1.6))
    timeline.audio_tracks.add(kind=compose_pb2.AUDIO_TRACK_KIND_CLIP)
    return timeline


def expected_source(t: float) -> tuple[int, int] | None:
    """(clip id, source frame) shown at timeline second t outside the transitions: b's
    start is snapped from 2.5 s (mid-frame) to the nearest frame, 2.52 s."""
    if t < B_START:
        return 1, round(t * FPS)
    if B_START + 0.5 <= t < 5.2:
        return 2, round((t - B_START) * FPS)
    if t >= 5.5:
        return 3, round((t - 5.2) * 2 * FPS)
    return None


async def test_every_frame_lands_where_the_timeline_says(
        client: MeshClient, clips: dict[str, tm.ClipTruth], media_root: Path) -> None:
    result = await render(client, edit(), "timeline/out/edit.mp4")
    assert result.frames == round(7.2 * FPS) and abs(result.duration - 7.2) < 1e-6
    assert (result.width, result.height) == (W, H) and not result.notes
    path = media_root / result.output.uri
    info = media.probe(path)
    assert info.frame_count == result.frames and info.has_audio and info.video_codec == "h264"
    wrong = []
    for frame in media.iter_frames(path):
        t = frame.index / FPS
        want = expected_source(t)
        if want is not None and tm.read_barcode(frame.rgb) != want:
            wrong.append((frame.index, tm.read_barcode(frame.rgb), want))
        if B_START <= t < B_START + 0.5:  # crossfade: colours blend by the weight
            w = (t - B_START) / 0.5
            mix = (1 - w) * np.array(tm.colour_of(1)) + w * np.array(tm.colour_of(2))
            assert np.abs(frame.rgb[150, 160].astype(float) - mix).max() < 6, frame.index
        if 5.2 <= t < 5.5:  # wipe: the incoming clip from the left edge to w * width
            edge = (t - 5.2) / 0.3 * W
            if edge > 20:
                assert np.abs(frame.rgb[100, int(edge) - 10].astype(int)
                              - tm.colour_of(3)).max() < 8, frame.index
            assert np.abs(frame.rgb[100, min(W - 1, int(edge) + 10)].astype(int)
                          - tm.colour_of(2)).max() < 8, frame.index
        logo = frame.rgb[97, 272].astype(float)  # the disc's centre, half opaque
        behind = np.array(tm.colour_of(1 if t < B_START else 2), float)
        if 1.0 <= t < B_START or B_START + 0.5 <= t < 4.0:
            assert np.abs(logo - (behind + 255) / 2).max() < 8, frame.index
        elif want is not None:
            assert np.abs(logo - np.array(tm.colour_of(want[0]))).max() < 8, frame.index
        band = frame.rgb[140:172, 100:220]
        lit = int((band.min(axis=2) > 200).sum())
        assert (lit > 20) == (0.4 <= t < 1.6), (frame.index, lit)
    assert not wrong, wrong[:5]


async def test_sound_stays_in_sync_with_the_picture(
        client: MeshClient, clips: dict[str, tm.ClipTruth], media_root: Path) -> None:
    timeline = compose_pb2.Timeline(width=W, height=H, fps=FPS)
    track = timeline.video_tracks.add()
    track.clips.add(source=ref("a.mp4"), start=0.0, source_range=common_pb2.TimeRange(
        start=0.4, end=3.0))
    track.clips.add(source=ref("c.mp4"), start=2.6)
    timeline.audio_tracks.add(kind=compose_pb2.AUDIO_TRACK_KIND_CLIP)
    timeline.video_tracks[0].clips.add(source=ref("b.mp4"), start=6.6, speed=4.0)
    result = await render(client, timeline, "timeline/out/sync.mp4")
    assert result.notes == [("timeline.video_tracks[0].clips[2]: sound left out at speed 4 "
                             "(the clip sound follows speeds 0.5-2)")]
    path = media_root / result.output.uri
    flashes = [f.time for f in media.iter_frames(path, end=6.6)  # b (silent) from 6.6 s
               if f.rgb[H - 10, 10].min() > 200]
    audio = media.decode_audio(path, tm.RATE, mono=True)
    loud = np.flatnonzero(np.abs(audio) > 0.5)
    clicks = [loud[0] / tm.RATE] + [loud[i] / tm.RATE for i in range(1, len(loud))
                                    if loud[i] - loud[i - 1] > tm.RATE // 4]
    assert len(flashes) == len(clicks) == 7  # a: 0.08, 1.08, 2.08 s; c from 2.6 s: 3.08-6.08
    assert max(abs(a - b) for a, b in zip(flashes, clicks)) < 0.020


async def test_concat_and_summary_are_timelines(
        client: MeshClient, clips: dict[str, tm.ClipTruth], media_root: Path) -> None:
    request = compose_pb2.ConcatVideoRequest(
        clips=[compose_pb2.VideoClip(source=ref("a.mp4")),
               compose_pb2.VideoClip(source=ref("b.mp4"),
                                     source_range=common_pb2.TimeRange(start=1.0))],
        transition=compose_pb2.Transition(kind=compose_pb2.TRANSITION_KIND_DIP_TO_BLACK,
                                          duration=0.4),
        output=common_pb2.OutputSpec(uri="timeline/out/concat.mp4", overwrite=True))
    joined = await MeshClient.run_job(client.compose.ConcatVideo(request, timeout=300))
    assert abs(joined.duration - (3.0 + 2.0 - 0.4)) < 1 / FPS
    dark = media.read_frame_at(media_root / joined.output.uri, 2.6 + 0.2)
    assert dark.rgb[100:, 100:].mean() < 12  # the dip's middle is black
    after = media.read_frame_at(media_root / joined.output.uri, 3.2)
    assert tm.read_barcode(after.rgb) == (2, round((1.0 + 0.6) * FPS))

    summary = compose_pb2.RenderSummaryRequest(
        video=ref("c.mp4"), duration=1.5,
        segments=[common_pb2.TimeRange(start=0.0, end=1.0), common_pb2.TimeRange(start=2.0,
                                                                                 end=4.0)],
        output=common_pb2.OutputSpec(uri="timeline/out/summary.mp4", overwrite=True))
    short = await MeshClient.run_job(client.compose.RenderSummary(summary, timeout=300))
    assert abs(short.duration - 1.5) < 1 / FPS
    first = media.read_frame_at(media_root / short.output.uri, 0.0)
    assert tm.read_barcode(first.rgb) == (3, round(0.25 * FPS))  # trimmed about its middle


def _tone_level(samples: np.ndarray, at: float, hz: float, rate: int = tm.RATE) -> float:
    """dB level of the `hz` component in the 0.4 s around `at` (speech has none there)."""
    a, b = round((at - 0.2) * rate), round((at + 0.2) * rate)
    piece = samples[a:b]
    t = np.arange(len(piece)) / rate
    amplitude = 2 * abs(np.mean(piece * np.exp(-2j * np.pi * hz * t)))
    return 20 * np.log10(max(amplitude, 1e-9))


async def test_music_ducks_under_the_voice(client: MeshClient, media_root: Path) -> None:
    folder = media_root / "timeline"
    folder.mkdir(parents=True, exist_ok=True)
    rate = 48_000
    voice = say("The quick brown fox jumps over the lazy dog near the river bank")
    media.write_audio(folder / "voice.wav", voice, SPEECH_RATE)
    n = 10 * rate
    music = (0.1 * np.sin(2 * np.pi * 50.0 * np.arange(n) / rate)).astype(np.float32)
    media.write_audio(folder / "music.wav", music, rate)
    timeline = compose_pb2.Timeline(width=W, height=H, fps=FPS, duration=10.0)
    timeline.audio_tracks.add(kind=compose_pb2.AUDIO_TRACK_KIND_MUSIC, duck_under_speech=True,
                              duck_db=-15.0).clips.add(source=ref("music.wav"))
    timeline.audio_tracks.add(kind=compose_pb2.AUDIO_TRACK_KIND_VOICE).clips.add(
        source=ref("voice.wav"), start=3.0)
    result = await render(client, timeline, "timeline/out/ducked.mp4")
    mix = media.decode_audio(media_root / result.output.uri, rate, mono=False)[0]
    spoken = len(voice) / SPEECH_RATE
    away = _tone_level(mix, 1.0, 50.0)
    under = _tone_level(mix, 3.0 + spoken / 2, 50.0)
    assert abs(away - 20 * np.log10(0.1)) < 1.0
    assert abs((away - under) - 15.0) < 1.5, (away, under)


@pytest.mark.parametrize("change,code,where", [
    (lambda t: t.video_tracks[0].clips[1].source.__setattr__("uri", "timeline/none.mp4"),
     grpc.StatusCode.NOT_FOUND, "timeline.video_tracks[0].clips[1].source"),
    (lambda t: t.video_tracks[0].clips[1].__setattr__("start", 1.0),
     grpc.StatusCode.INVALID_ARGUMENT, "timeline.video_tracks[0].clips[1].start"),
    (lambda t: t.video_tracks[0].clips[2].__setattr__("speed", 50.0),
     grpc.StatusCode.INVALID_ARGUMENT, "timeline.video_tracks[0].clips[2].speed"),
    (lambda t: t.__setattr__("height", 16),
     grpc.StatusCode.INVALID_ARGUMENT, "timeline.width"),
    (lambda t: t.text_tracks[0].style.__setattr__("font", "No Such Font"),
     grpc.StatusCode.INVALID_ARGUMENT, "timeline.text_tracks[0].style.font"),
    (lambda t: t.video_tracks[0].clips[0].source_range.__setattr__("end", 9.0),
     grpc.StatusCode.INVALID_ARGUMENT, "timeline.video_tracks[0].clips[0].source_range.end"),
    (lambda t: t.overlays[0].position.__setattr__("x", 0.9),
     grpc.StatusCode.INVALID_ARGUMENT, "timeline.overlays[0].position"),
])
async def test_bad_timelines_name_the_element(client: MeshClient, clips: dict[str, tm.ClipTruth],
                                              media_root: Path, change: object,
                                              code: grpc.StatusCode, where: str) -> None:
    timeline = edit()
    change(timeline)  # type: ignore[operator]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await render(client, timeline, "timeline/out/bad.mp4")
    assert caught.value.code() == code, caught.value.details()
    assert where in caught.value.details() or any(f.startswith(where) for f in
                                                  bad_fields(caught.value))
    assert not (media_root / "timeline/out/bad.mp4").exists()
    assert not list((media_root / "timeline/out").glob(".bad.*"))  # no staging file left


async def test_mux_subtitles_adds_switchable_tracks_by_stream_copy(
        client: MeshClient, clips: dict[str, tm.ClipTruth], media_root: Path) -> None:
    folder = media_root / "timeline"
    (folder / "en.srt").write_text("1\n00:00:00,500 --> 00:00:01,200\nHello there\n\n"
                                   "2\n00:00:02,000 --> 00:00:02,800\nGoodbye\n")
    (folder / "zh.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\n你好\n", encoding="utf-8")
    request = compose_pb2.MuxSubtitlesRequest(
        video=ref("a.mp4"), output=common_pb2.OutputSpec(uri="timeline/out/a.mkv",
                                                         overwrite=True),
        subtitles=[compose_pb2.SubtitleTrackInput(srt=ref("en.srt"), language="en"),
                   compose_pb2.SubtitleTrackInput(srt=ref("zh.srt"), language="zh",
                                                  title="中文")])
    reply = await client.compose.MuxSubtitles(request, timeout=60)
    assert list(reply.cues) == [2, 1] and reply.output.mime_type == "video/x-matroska"
    path = media_root / reply.output.uri
    tracks = remux.read_subtitles(path)
    assert [(lang, [(round(a, 3), round(b, 3), t) for a, b, t in cues])
            for lang, cues in tracks] == [
        ("eng", [(0.5, 1.2, "Hello there"), (2.0, 2.8, "Goodbye")]),
        ("chi", [(1.0, 2.0, "你好")])]
    copied = [f.rgb for f in media.iter_frames(path)]
    assert len(copied) == clips["a"].frames  # every frame copied, none re-encoded away
    assert tm.read_barcode(copied[40]) == (1, 40)

    mp4 = compose_pb2.MuxSubtitlesRequest()
    mp4.CopyFrom(request)
    mp4.output.uri = "timeline/out/a-subs.mp4"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.compose.MuxSubtitles(mp4, timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "mkv" in caught.value.details()
    (folder / "bad.srt").write_bytes(b"\xff\xfe\x00garbage")
    broken = compose_pb2.MuxSubtitlesRequest()
    broken.CopyFrom(request)
    broken.subtitles[1].srt.uri = "timeline/bad.srt"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.compose.MuxSubtitles(broken, timeout=60)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "subtitles[1].srt" in caught.value.details()
