"""The timeline renderer's pure parts on numpy arrays: checks that name the element,
fitting, transitions, drawing, captions, ducking and the summary's trimming."""
from __future__ import annotations

import numpy as np
import pytest

from mediamesh import fonts, media
from mediamesh.errors import InvalidArgument
from mediamesh.synth import timeline_media as tm
from mediamesh.v1 import common_pb2, compose_pb2
from services.compose.timeline import edits, soundtrack
from services.compose.timeline.captions import CaptionTrack, is_cjk, parse_srt
from services.compose.timeline.compositor import blend
from services.compose.timeline.layers import Picture, draw, fit_geometry
from services.compose.timeline.spec import (
    DEFAULT_TEXT_REGION,
    Fit,
    TextStyleSpec,
    TransitionKind,
    check_track_overlaps,
    cue,
    timeline_spec,
)


def clip(uri: str, start: float, **fields: object) -> compose_pb2.TimelineClip:
    return compose_pb2.TimelineClip(source=common_pb2.MediaRef(uri=uri), start=start,
                                    **fields)  # type: ignore[arg-type]


def timeline(*clips: compose_pb2.TimelineClip, **fields: object) -> compose_pb2.Timeline:
    base = {"width": 640, "height": 360, "fps": 25.0} | fields
    return compose_pb2.Timeline(video_tracks=[compose_pb2.VideoTrack(clips=list(clips))],
                                **base)  # type: ignore[arg-type]


def field_of(exc: pytest.ExceptionInfo[InvalidArgument]) -> str:
    return exc.value.field_name or ""


@pytest.mark.parametrize("bad,field", [
    (timeline(clip("a.mp4", 0), clip("b.mp4", 0, speed=20.0)),
     "timeline.video_tracks[0].clips[1].speed"),
    (timeline(clip("a.mp4", 5), clip("b.mp4", 1)), "timeline.video_tracks[0].clips[1].start"),
    (timeline(clip("a.mp4", 0), width=4000, height=200), "timeline.width"),
    (timeline(clip("a.mp4", 0), fps=500.0), "timeline.fps"),
    (timeline(clip("a.mp4", 0, transition_in=compose_pb2.Transition(
        kind=compose_pb2.TRANSITION_KIND_WIPE))),
     "timeline.video_tracks[0].clips[0].transition_in.duration"),
    (timeline(compose_pb2.TimelineClip(start=0)), "timeline.video_tracks[0].clips[0].source"),
    (compose_pb2.Timeline(width=640, height=360, fps=25.0), "timeline"),
    (timeline(clip("a.mp4", 0), overlays=[compose_pb2.Overlay(
        image=common_pb2.MediaRef(uri="l.png"),
        position=common_pb2.Box(x=0.9, y=0.0, width=0.2, height=0.1))]),
     "timeline.overlays[0].position"),
    (timeline(clip("a.mp4", 0), text_tracks=[compose_pb2.TextTrack()]),
     "timeline.text_tracks[0]"),
    (timeline(clip("a.mp4", 0), audio_tracks=[compose_pb2.AudioTrack(
        kind=compose_pb2.AUDIO_TRACK_KIND_MUSIC, duck_under_speech=True,
        clips=[compose_pb2.AudioClip(source=common_pb2.MediaRef(uri="m.wav"))])]),
     "timeline.audio_tracks[0].duck_under_speech"),
])
def test_bad_timelines_name_the_field(bad: compose_pb2.Timeline, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        timeline_spec(bad)
    assert field_of(caught) == field, caught.value.message


def test_clips_may_overlap_only_by_the_transition() -> None:
    crossfade = compose_pb2.Transition(kind=compose_pb2.TRANSITION_KIND_CROSSFADE, duration=1.0)
    spec = timeline_spec(timeline(clip("a.mp4", 0), clip("b.mp4", 2.0, transition_in=crossfade)))
    first, second = spec.video_tracks[0]
    first.source_end, second.source_end = 3.0, 3.0
    check_track_overlaps(spec.video_tracks[0], spec.fps)  # a ends at 3 = b's start + 1 s
    first.source_end = 3.5
    with pytest.raises(InvalidArgument) as caught:
        check_track_overlaps(spec.video_tracks[0], spec.fps)
    assert field_of(caught) == "timeline.video_tracks[0].clips[1].start"
    assert "move it to >= 2.500 s" in caught.value.message


@pytest.mark.parametrize("fit,source,want", [
    (Fit.CROP, (1920, 1080), ((640, 360), (0, 0), (640, 360), (0, 0))),
    (Fit.CROP, (1080, 1920), ((640, 1138), (0, 389), (640, 360), (0, 0))),
    (Fit.PAD, (1080, 1920), ((202, 360), (0, 0), (202, 360), (219, 0))),
    (Fit.STRETCH, (100, 100), ((640, 360), (0, 0), (640, 360), (0, 0))),
])
def test_fit_geometry(fit: Fit, source: tuple[int, int],
                      want: tuple[tuple[int, int], ...]) -> None:
    g = fit_geometry(source, (640, 360), fit)
    assert (g.scaled, g.crop, g.size, g.paste) == want


def test_transitions_blend_by_weight() -> None:
    a = np.full((4, 10, 3), 200, np.uint8)
    b = np.full((4, 10, 3), 100, np.uint8)
    assert blend(a, b, TransitionKind.CROSSFADE, 0.25)[0, 0, 0] == 175
    assert blend(a, b, TransitionKind.DIP_TO_BLACK, 0.25)[0, 0, 0] == 100  # halfway to black
    assert blend(a, b, TransitionKind.DIP_TO_BLACK, 0.5)[0, 0, 0] == 0
    assert blend(a, b, TransitionKind.DIP_TO_BLACK, 0.75)[0, 0, 0] == 50
    wiped = blend(a, b, TransitionKind.WIPE, 0.3)
    assert (wiped[:, :3] == 100).all() and (wiped[:, 3:] == 200).all()


def test_draw_blends_alpha_and_clips_at_the_edges() -> None:
    canvas = np.zeros((10, 10, 3), np.uint8)
    sprite = np.full((4, 4, 3), 200, np.uint8)
    draw(canvas, Picture(sprite, 8, -2, np.full((4, 4), 0.5, np.float32)))
    assert canvas[0, 8, 0] == 100 and canvas[1, 9, 0] == 100 and canvas[2, 8, 0] == 0
    assert canvas[:, :8].max() == 0


def test_caption_sits_bottom_centre_in_its_region_and_wraps() -> None:
    face = fonts.default_face(cjk=True)
    assert face is not None, "make system installs a CJK font (fonts-wqy-zenhei)"
    style = TextStyleSpec("", 0, (255, 255, 255), (0, 0, 0), 0, DEFAULT_TEXT_REGION)
    long = "这是一个很长的字幕句子，需要在画面宽度之内自动换行才能完整显示出来" * 2
    track = CaptionTrack([cue(1.0, 2.0, long, "c")], style, face, (640, 360))
    assert track.pictures(0.5) == [] and track.pictures(2.0) == []
    (sprite,) = track.pictures(1.5)
    h, w = sprite.rgb.shape[:2]
    x0, y0 = 0.05 * 640, 0.70 * 360
    assert sprite.x >= x0 - 1 and sprite.x + w <= 640 - x0 + 1
    assert sprite.y + h == round(y0 + 0.25 * 360)  # bottom of the region
    assert h > 2 * track.font_size  # wrapped onto several lines
    assert is_cjk(long) and not is_cjk("Hello, world")


def test_srt_cues_and_errors() -> None:
    data = "1\n00:00:01,000 --> 00:00:02,500\nHello\n\n2\n00:00:03,000 --> 00:00:04,000\n你好\n"
    cues = parse_srt(data.encode(), "timeline.text_tracks[0]")
    assert [(c.start, c.end, c.text) for c in cues] == [(1.0, 2.5, "Hello"), (3.0, 4.0, "你好")]
    with pytest.raises(InvalidArgument) as caught:
        parse_srt(b"\xff\xfe not utf-8", "timeline.text_tracks[1]")
    assert field_of(caught) == "timeline.text_tracks[1].srt"


def test_duck_gain_reaches_the_depth_inside_speech_and_ramps() -> None:
    rate = 1000
    gain = soundtrack.duck_gain([soundtrack.Segment(2.0, 3.0)], 6 * rate, -12.0, rate)
    db = 20 * np.log10(gain)
    assert abs(db[2500] + 12.0) < 1e-3 and abs(db[500]) < 1e-6 and abs(db[5000]) < 1e-6
    attack_mid = round((2.0 - soundtrack.ATTACK_S / 2) * rate)
    assert abs(db[attack_mid] + 6.0) < 0.2  # halfway down the attack ramp, in dB
    release_end = round((3.0 + soundtrack.RELEASE_S) * rate)
    assert abs(db[release_end]) < 0.1 and db[release_end - 50] < -0.5


def test_summary_trims_every_segment_about_its_middle() -> None:
    info = media.MediaInfo(duration=10.0, container="mp4", has_audio=True, has_video=True,
                           sample_rate=48000, channels=2, width=640, height=360, fps=25.0,
                           frame_count=250, video_codec="h264", audio_codec="aac")
    request = compose_pb2.RenderSummaryRequest(
        video=common_pb2.MediaRef(uri="v.mp4"), duration=3.0,
        segments=[common_pb2.TimeRange(start=0.0, end=2.0), common_pb2.TimeRange(start=4.0,
                                                                                 end=8.0)])
    pieces = edits.summary_pieces(request, info)
    assert [(round(s, 3), round(e, 3)) for _, s, e in pieces] == [(0.5, 1.5), (5.0, 7.0)]


def test_test_clips_carry_readable_barcodes() -> None:
    picture = tm.frame_picture(5, 1234, 25.0, 320, 180)
    assert tm.read_barcode(picture) == (5, 1234)


def test_snapping_keeps_lengths_and_back_to_back_clips_stay_valid() -> None:
    from services.compose.timeline.spec import snap_to_frames

    info = media.MediaInfo(duration=10.0, container="mp4", has_audio=False, has_video=True,
                           sample_rate=None, channels=None, width=640, height=360, fps=30.0,
                           frame_count=300, video_codec="h264", audio_codec=None)
    spec = timeline_spec(timeline(clip("a.mp4", 0.0, source_range=common_pb2.TimeRange(
        start=1.234, end=4.253)), clip("b.mp4", 3.019)))
    first, second = spec.video_tracks[0]
    second.source_end = 2.0
    check_track_overlaps(spec.video_tracks[0], spec.fps)  # back to back as given
    lengths = [c.end - c.start for c in (first, second)]
    for c in (first, second):
        snap_to_frames(c, spec.fps, info)
    assert first.source_start == pytest.approx(37 / 30) and second.start == pytest.approx(3.0)
    assert [c.end - c.start for c in (first, second)] == pytest.approx(lengths)


def test_summary_widens_segments_to_reach_the_length_with_transitions() -> None:
    info = media.MediaInfo(duration=10.0, container="mp4", has_audio=True, has_video=True,
                           sample_rate=48000, channels=2, width=640, height=360, fps=25.0,
                           frame_count=250, video_codec="h264", audio_codec="aac")
    request = compose_pb2.RenderSummaryRequest(
        video=common_pb2.MediaRef(uri="v.mp4"), duration=4.0,
        transition=compose_pb2.Transition(kind=compose_pb2.TRANSITION_KIND_CROSSFADE,
                                          duration=0.5),
        segments=[common_pb2.TimeRange(start=0.0, end=2.0), common_pb2.TimeRange(start=8.5,
                                                                                 end=10.0)])
    pieces = edits.summary_pieces(request, info)
    lengths = [e - s for _, s, e in pieces]
    assert sum(lengths) - 0.5 == pytest.approx(4.0)  # one crossfade overlaps 0.5 s
    assert pieces[0][1] == 0.0 and pieces[1][2] == pytest.approx(10.0)  # kept in the video


@pytest.mark.parametrize("fit,source,size,paste", [
    (Fit.CROP, (160, 90), (320, 180), (0, 0)),  # same aspect: scaled, not passed through
    (Fit.CROP, (160, 120), (320, 180), (0, 0)),
    (Fit.STRETCH, (160, 120), (320, 180), (0, 0)),
    (Fit.PAD, (160, 120), (240, 180), (40, 0))])
def test_clip_layers_scale_sources_of_another_size(tmp_path, fit: Fit, source: tuple[int, int],
                                                   size: tuple[int, int],
                                                   paste: tuple[int, int]) -> None:
    """A smaller source is scaled into a 320x180 frame (the 4:2:0 pass-through is only for
    sources already at the output size)."""
    from services.compose.timeline.layers import ClipLayer
    from services.compose.timeline.spec import CUT, VideoClipSpec

    path = tmp_path / "small.mp4"
    with media.VideoWriter(path, *source, 25.0) as writer:
        for _ in range(5):
            writer.write(np.full((source[1], source[0], 3), (200, 40, 40), np.uint8))
    spec = VideoClipSpec("c", common_pb2.MediaRef(uri="small.mp4"), 0.0, 0.2, 0.0, 1.0, fit,
                         CUT)
    layer = ClipLayer(spec, path, media.probe(path), (320, 180))
    picture = layer.picture(0.1)
    layer.close()
    assert picture is not None and picture.rgb.shape[1::-1] == size
    assert (picture.x, picture.y) == paste
    assert np.abs(picture.rgb[size[1] // 2, size[0] // 2].astype(int) - (200, 40, 40)).max() < 8
