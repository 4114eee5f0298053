"""Burned-in text: cues from SRT files and inline, drawn once each as an RGBA sprite with
Pillow (FreeType, outline by stroke) and blended onto every frame they cover.

Why sprites: a cue is on screen for dozens of frames; drawing text per frame would cost
more than the whole video encode. Lines wrap to the text region's width (by words for
Latin text, by characters for CJK, which has no spaces) and sit bottom-centred in it,
like broadcast subtitles.
"""
from __future__ import annotations

import bisect
import unicodedata
from dataclasses import dataclass

import numpy as np
import srt
from PIL import Image, ImageDraw, ImageFont

from mediamesh import fonts
from mediamesh.errors import InvalidArgument, SystemPackageMissing
from services.compose.timeline.layers import Picture, pixel_rect
from services.compose.timeline.spec import CueSpec, TextStyleSpec, TextTrackSpec, cue

DEFAULT_SIZE_FRACTION = 0.055  # of the output height: 40 px at 720p
LINE_SPACING = 1.2
MAX_SRT_BYTES = 5_000_000


def is_cjk(text: str) -> bool:
    """True if any character is a CJK ideograph, kana or hangul (needs a CJK font)."""
    return any(unicodedata.east_asian_width(ch) in ("W", "F") and not ch.isspace()
               for ch in text)


def parse_srt(data: bytes, where: str) -> list[CueSpec]:
    """Cues of an SRT file (UTF-8, BOM allowed); INVALID_ARGUMENT naming the track."""
    if len(data) > MAX_SRT_BYTES:
        raise InvalidArgument(f"{where}.srt is {len(data)} bytes; at most {MAX_SRT_BYTES}",
                              field_name=f"{where}.srt")
    try:
        text = data.decode("utf-8-sig")
        subtitles = list(srt.parse(text))
    except (UnicodeDecodeError, srt.SRTParseError, ValueError) as exc:
        raise InvalidArgument(f"{where}.srt is not a UTF-8 SRT file: {exc}",
                              field_name=f"{where}.srt") from exc
    return [cue(s.start.total_seconds(), s.end.total_seconds(), s.content,
                f"{where}.srt cue {s.index}") for s in subtitles if s.content.strip()]


def resolve_font(style: TextStyleSpec, cues: list[CueSpec], where: str,
                 font_file: fonts.FontFace | None) -> fonts.FontFace | None:
    """The face to draw with: a file the caller gave, a named family, or the default;
    None = Pillow's built-in face (Latin only). FAILED_PRECONDITION when the text is
    Chinese/Japanese/Korean and nothing installed can draw it."""
    needs_cjk = any(is_cjk(c.text) for c in cues)
    if font_file is not None:
        face = font_file
    elif style.font:
        face = fonts.family(style.font)
        if face is None:
            known = ", ".join(fonts.family_names()) or "none"
            raise InvalidArgument(
                f"{where}.style.font '{style.font}' is not an installed font family (installed: "
                f"{known}); give one of those or a .ttf/.otf/.ttc file in the media root",
                field_name=f"{where}.style.font")
    else:
        face = fonts.default_face(cjk=needs_cjk)
    if needs_cjk and (face is None or not face.cjk):
        name = face.family if face is not None else "the built-in font"
        raise SystemPackageMissing(f"{where} has Chinese/Japanese/Korean text but {name} cannot draw it; "
                          "install a CJK font (sudo apt-get install fonts-noto-cjk, or "
                          "fonts-wqy-zenhei) or name one in style.font",
                          field_name=f"{where}.style.font", resource="fonts-noto-cjk")
    return face


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        tokens = list(paragraph) if is_cjk(paragraph) else paragraph.split(" ")
        joiner = "" if is_cjk(paragraph) else " "
        line = ""
        for token in tokens:
            candidate = token if not line else line + joiner + token
            if line and font.getlength(candidate) > width:
                lines.append(line)
                line = token.lstrip()
            else:
                line = candidate
        lines.append(line)
    return [line for line in lines if line.strip()] or [text.strip()]


@dataclass
class CaptionTrack:
    """One text track's cues, sorted, with their sprites drawn on first use."""

    cues: list[CueSpec]
    style: TextStyleSpec
    face: fonts.FontFace | None
    frame: tuple[int, int]

    def __post_init__(self) -> None:
        self.cues = sorted(self.cues, key=lambda c: c.start)
        self._starts = [c.start for c in self.cues]
        self._sprites: dict[int, Picture] = {}
        size = round(self.style.size or self.frame[1] * DEFAULT_SIZE_FRACTION)
        self.font_size = max(6, size)
        outline = self.style.outline_width
        self.outline = 0 if outline < 0 else round(outline or max(1.0, self.font_size / 16))
        self._font = self.face.load(self.font_size) if self.face is not None \
            else ImageFont.load_default(self.font_size)

    def pictures(self, t: float) -> list[Picture]:
        """Sprites of the cues on screen at `t` (start <= t < end), oldest first; spent
        sprites are dropped so memory follows what is on screen."""
        upto = bisect.bisect_right(self._starts, t + 1e-6)
        shown = []
        for i in range(upto):
            c = self.cues[i]
            if c.end <= t + 1e-6:
                self._sprites.pop(i, None)
                continue
            if i not in self._sprites:
                self._sprites[i] = self.sprite(c.text)
            shown.append(self._sprites[i])
        return shown

    def sprite(self, text: str) -> Picture:
        """`text` drawn bottom-centred in the style's region."""
        x0, y0, rw, rh = pixel_rect(self.style.region, self.frame)
        pad = self.outline + 2
        lines = _wrap(text, self._font, max(1, rw - 2 * pad))
        ascent, descent = self._font.getmetrics()
        step = round((ascent + descent) * LINE_SPACING)
        widths = [round(self._font.getlength(line)) for line in lines]
        width = min(self.frame[0], max(widths) + 2 * pad)
        height = step * (len(lines) - 1) + ascent + descent + 2 * pad
        canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
        pen = ImageDraw.Draw(canvas)
        for n, line in enumerate(lines):
            pen.text((width / 2, pad + n * step), line, font=self._font, anchor="ma",
                     fill=(*self.style.color, 255), stroke_width=self.outline,
                     stroke_fill=(*self.style.outline_color, 255))
        rgba = np.asarray(canvas)
        x = x0 + (rw - width) // 2
        y = y0 + rh - height
        return Picture(np.ascontiguousarray(rgba[..., :3]), x, y,
                       rgba[..., 3].astype(np.float32) / 255.0)


def caption_track(track: TextTrackSpec, srt_cues: list[CueSpec], face: fonts.FontFace | None,
                  frame: tuple[int, int]) -> CaptionTrack:
    return CaptionTrack(srt_cues + track.cues, track.style, face, frame)
