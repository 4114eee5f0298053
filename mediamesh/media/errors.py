"""Exceptions raised by :mod:`mediamesh.media`.

All of them are ``ValueError`` subclasses because they describe bad *input*
(a corrupt upload, an unsupported extension, a too-long clip), so callers can
map them to an "invalid argument" response without knowing about FFmpeg.
PyAV's own ``av.error.*`` exceptions never escape this package.
"""

from __future__ import annotations

__all__ = ["MediaDecodeError", "MediaEncodeError", "MediaError", "MediaTooLargeError"]


class MediaError(ValueError):
    """Base class for every error raised by :mod:`mediamesh.media`."""


class MediaDecodeError(MediaError):
    """The input could not be opened, demuxed or decoded (or lacks a needed stream)."""


class MediaEncodeError(MediaError):
    """The output could not be encoded or written (e.g. unsupported extension)."""


class MediaTooLargeError(MediaError):
    """The input exceeds a configured limit (duration, pixels, frames)."""
