"""Installed fonts by family name, for text burned into video.

Why not fontconfig: the services must not depend on a system library being configured;
Pillow (FreeType) reads every face of the font files under the usual folders and names it
itself. A face "covers CJK" when it has a real glyph for common Han characters (not the
.notdef box), so Chinese subtitles never come out as rows of boxes.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
MAX_FACES_PER_FILE = 32
# Preferred defaults, best first: Noto Sans CJK (SIL OFL) covers Latin and CJK, WenQuanYi
# Zen Hei (GPL-2 with the font-embedding exception) too; DejaVu Sans is Latin only.
DEFAULT_FAMILIES = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
                    "Noto Sans", "DejaVu Sans")
_HAN_PROBE = "汉字"
_UNMAPPED = "\U000f0000\U000f0001"  # plane-15 private use: no font maps these


@dataclass(frozen=True)
class FontFace:
    """One face of a font file; `index` selects it inside a .ttc collection."""

    family: str
    style: str
    path: Path
    index: int
    cjk: bool

    def load(self, size: int) -> ImageFont.FreeTypeFont:
        return ImageFont.truetype(str(self.path), size, index=self.index)


def font_dirs() -> list[Path]:
    """Where Debian and users put fonts, plus $MEDIAMESH_FONT_DIRS (colon-separated)."""
    extra = [Path(p) for p in os.environ.get("MEDIAMESH_FONT_DIRS", "").split(":") if p]
    home = Path.home()
    return extra + [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"),
                    home / ".local/share/fonts", home / ".fonts"]


def covers_cjk(font: ImageFont.FreeTypeFont) -> bool:
    """True if `font` draws Han characters differently from characters no font has."""
    try:
        han, missing = font.getmask(_HAN_PROBE), font.getmask(_UNMAPPED)
    except (OSError, ValueError):
        return False
    return han.size != (0, 0) and bytes(han) != bytes(missing)


def _faces_of(path: Path) -> list[FontFace]:
    faces = []
    for index in range(MAX_FACES_PER_FILE):
        try:
            font = ImageFont.truetype(str(path), 24, index=index)
        except OSError:  # past the last face of a collection, or not a font at all
            break
        family, style = font.getname()
        if family:
            faces.append(FontFace(family, style or "Regular", path, index, covers_cjk(font)))
        if path.suffix.lower() not in (".ttc", ".otc"):
            break
    return faces


@functools.cache
def installed_faces() -> dict[str, list[FontFace]]:
    """Lower-case family name -> its faces (regular first). Scanned once per process."""
    found: dict[str, list[FontFace]] = {}
    for folder in font_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in FONT_SUFFIXES and path.is_file():
                for face in _faces_of(path):
                    found.setdefault(face.family.lower(), []).append(face)
    for faces in found.values():
        faces.sort(key=lambda f: (f.style.lower() not in ("regular", "book", "medium"),
                                  f.style.lower()))
    return found


def family(name: str) -> FontFace | None:
    """The regular face of an installed family (case-insensitive), or None."""
    faces = installed_faces().get(name.strip().lower())
    return faces[0] if faces else None


def default_face(cjk: bool = False) -> FontFace | None:
    """The best installed default; with `cjk`, only a face that covers Han characters."""
    for name in DEFAULT_FAMILIES:
        face = family(name)
        if face is not None and (face.cjk or not cjk):
            return face
    if cjk:
        return next((faces[0] for faces in installed_faces().values() if faces[0].cjk), None)
    return None


def face_from_file(path: Path, index: int = 0) -> FontFace:
    """A font file given by path (OSError if it is not a font FreeType reads)."""
    font = ImageFont.truetype(str(path), 24, index=index)
    family_name, style = font.getname()
    return FontFace(family_name or path.stem, style or "Regular", path, index, covers_cjk(font))


def family_names(limit: int = 12) -> list[str]:
    """Some installed family names, for error messages."""
    names = sorted({faces[0].family for faces in installed_faces().values()})
    return names[:limit]
