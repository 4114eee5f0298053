"""Faces in sampled frames through Triton (face_detection: BlazeFace full range), for the
jobs that weigh them (SelectCover, Reframe). The model sees a 192x192 square, so a frame
is shrunk with its aspect kept (area average: no aliasing on a 720p frame) and centred on
black, and the boxes come back normalised to the frame itself."""
from __future__ import annotations

import numpy as np

from mediamesh.inference import TritonClient
from mediamesh.models.face_detection import SIZE, Face, decode_faces
from mediamesh.worker_threads import run_in_thread
from services.vision.matting import resize_area

MODEL = "face_detection"


def letterboxed(frames: np.ndarray) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """uint8 (N, 192, 192, 3) of frames (N, H, W, 3) fitted inside the square, and the
    padding (left, top, right, bottom) as fractions of it."""
    height, width = frames.shape[1:3]
    scale = SIZE / max(width, height)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    small = np.clip(resize_area(frames, h, w) + 0.5, 0, 255).astype(np.uint8)
    out = np.zeros((len(frames), SIZE, SIZE, 3), np.uint8)
    top, left = (SIZE - h) // 2, (SIZE - w) // 2
    out[:, top:top + h, left:left + w] = small
    return out, (left / SIZE, top / SIZE, (SIZE - left - w) / SIZE, (SIZE - top - h) / SIZE)


class FaceDetector:
    """Faces of a stack of frames of one size, one batched Triton request."""

    def __init__(self, triton: TritonClient, min_score: float = 0.5) -> None:
        self.triton, self.min_score = triton, min_score

    async def detect(self, frames: np.ndarray) -> list[list[Face]]:
        """Per frame, its faces (best first), boxes normalised to the frame."""
        if not len(frames):
            return []
        square, padding = await run_in_thread(letterboxed, frames)
        out = await self.triton.infer(MODEL, {"image": square}, ["regressors", "scores"])
        return [decode_faces(r, s, min_score=self.min_score, padding=padding)
                for r, s in zip(out["regressors"], out["scores"], strict=True)]
