"""One output frame at a time: video tracks bottom-up (with their transitions), then
overlays, then text.

Frame k shows timeline time k / fps. On a track, the clip on screen is the last one
whose start is at or before that time, until its end. During a clip's transition_in
(from its start for the transition's length) the previous clip of the track, held on its
last frame if it has ended, is mixed with it: crossfade blends, dip-to-black darkens the
outgoing picture to black over the first half and brightens the incoming one over the
second, wipe reveals the incoming clip from the left. A first clip with a transition
comes in over whatever lies below it (the background or lower tracks).
"""
from __future__ import annotations

import bisect
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from mediamesh import media
from services.compose.timeline.captions import CaptionTrack
from services.compose.timeline.layers import ClipLayer, OverlayLayer, draw
from services.compose.timeline.spec import TimelineSpec, TransitionKind, VideoClipSpec

EPS = 1e-6

OpenClip = Callable[[VideoClipSpec], ClipLayer]


def blend(outgoing: np.ndarray, incoming: np.ndarray, kind: TransitionKind, w: float
          ) -> np.ndarray:
    """The transition picture at weight `w` (0 = all outgoing, 1 = all incoming)."""
    if w <= 0.0:
        return outgoing
    if w >= 1.0:
        return incoming
    if kind is TransitionKind.CROSSFADE:
        return cv2.addWeighted(outgoing, 1.0 - w, incoming, w, 0.0)
    if kind is TransitionKind.DIP_TO_BLACK:
        if w < 0.5:
            return cv2.convertScaleAbs(outgoing, alpha=1.0 - 2.0 * w)
        return cv2.convertScaleAbs(incoming, alpha=2.0 * w - 1.0)
    if kind is TransitionKind.WIPE:
        edge = round(w * outgoing.shape[1])
        out = outgoing.copy()
        out[:, :edge] = incoming[:, :edge]
        return out
    return incoming


class TrackPlayer:
    """A video track's clips as layers opened when first needed and closed when done."""

    def __init__(self, clips: list[VideoClipSpec], open_clip: OpenClip) -> None:
        self.clips = clips
        self._starts = [c.start for c in clips]
        self._open_clip = open_clip
        self._layers: dict[int, ClipLayer] = {}

    def _layer(self, index: int) -> ClipLayer:
        if index not in self._layers:
            self._layers[index] = self._open_clip(self.clips[index])
        return self._layers[index]

    def _release_before(self, index: int) -> None:
        for i in [i for i in self._layers if i < index]:
            self._layers.pop(i).close()

    def _on_screen(self, t: float) -> tuple[int, bool] | None:
        """(index of the clip shown at `t`, whether its transition_in is running), or None
        before the first clip and in gaps; releases the layers no longer needed."""
        current = bisect.bisect_right(self._starts, t + EPS) - 1
        if current < 0:
            return None
        clip = self.clips[current]
        if t >= clip.end - EPS:  # a gap after the last clip that started
            self._release_before(current + 1)
            return None
        transition = clip.transition
        in_transition = transition.kind is not TransitionKind.CUT \
            and t - clip.start < transition.duration
        self._release_before(current - 1 if in_transition else current)
        return current, in_transition

    def planes(self, t: float) -> media.YuvPlanes | None:
        """The frame as the decoder gave it when this track shows one full-frame clip at
        its native size with no transition running (nothing to composite), else None."""
        shown = self._on_screen(t)
        if shown is None or shown[1]:
            return None
        return self._layer(shown[0]).planes(t)

    def paint(self, canvas: np.ndarray, t: float) -> np.ndarray:
        """`canvas` (what lies below) with this track's picture at `t` on top."""
        shown = self._on_screen(t)
        if shown is None:
            return canvas
        current, in_transition = shown
        clip = self.clips[current]
        incoming = canvas.copy()
        picture = self._layer(current).picture(t)
        if picture is not None:
            draw(incoming, picture)
        if not in_transition:
            return incoming
        outgoing = canvas.copy()
        if current > 0:
            held = self._layer(current - 1).picture(min(t, self.clips[current - 1].end - EPS))
            if held is not None:
                draw(outgoing, held)
        return blend(outgoing, incoming, clip.transition.kind,
                     clip.transition.weight(t - clip.start))

    def close(self) -> None:
        self._release_before(len(self.clips) + 1)


class Compositor:
    """Paints timeline frames in order; holds only the layers on screen."""

    def __init__(self, spec: TimelineSpec, open_clip: OpenClip, overlays: list[OverlayLayer],
                 captions: list[CaptionTrack]) -> None:
        self.spec = spec
        self.size = (spec.width, spec.height)
        self._background = np.empty((spec.height, spec.width, 3), np.uint8)
        self._background[:] = spec.background
        self._tracks = [TrackPlayer(clips, open_clip) for clips in spec.video_tracks]
        self._overlays = overlays
        self._captions = captions

    def frame(self, index: int) -> np.ndarray | media.YuvPlanes:
        """Frame `index` as RGB, or as the source's own 4:2:0 planes when it is one clip
        shown alone at the output size (a plain cut: no conversion, nothing drawn)."""
        t = index / self.spec.fps
        overlays = [o for o in self._overlays if o.shown(t)]
        captions = [p for c in self._captions for p in c.pictures(t)]
        if not overlays and not captions and self._tracks:
            planes = self._tracks[-1].planes(t)
            if planes is not None:  # the top track covers the frame, opaque
                return planes
        canvas = self._background.copy()
        for track in self._tracks:
            canvas = track.paint(canvas, t)
        for overlay in overlays:
            picture = overlay.picture(t)
            if picture is not None:
                draw(canvas, picture)
        for picture in captions:
            draw(canvas, picture)
        return canvas

    def close(self) -> None:
        for track in self._tracks:
            track.close()
        for overlay in self._overlays:
            overlay.close()


def clip_opener(paths: dict[str, Path], infos: dict[str, media.MediaInfo],
                frame: tuple[int, int]) -> OpenClip:
    """Opens a clip's layer from its source file (keyed by the clip's field path)."""
    def open_clip(clip: VideoClipSpec) -> ClipLayer:
        return ClipLayer(clip, paths[clip.where], infos[clip.where], frame)

    return open_clip
