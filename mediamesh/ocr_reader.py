"""Reading the text in a picture through Triton: the detector on the whole picture, then
the recogniser on its lines in batches of similar width (mediamesh.ocr does the
steps in between)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mediamesh import ocr
from mediamesh.inference import TritonClient
from mediamesh.models import text_detection, text_recognition
from mediamesh.worker_threads import run_in_thread

DETECTION_MODEL = "text_detection"
RECOGNITION_MODEL = "text_recognition"


@dataclass(frozen=True)
class ReadLine:
    """A recognised line: its text, the recogniser's confidence and its outline (pixels)."""

    text: str
    confidence: float
    quad: ocr.Quad


class TextReader:
    def __init__(self, triton: TritonClient) -> None:
        self.triton = triton

    async def detect(self, rgb: np.ndarray, max_side: int = ocr.DETECT_MAX_SIDE
                     ) -> list[ocr.Quad]:
        """Where the lines of text are (the detector only), in reading order."""
        height, width = rgb.shape[:2]
        pixels = await run_in_thread(ocr.detector_input, rgb, max_side)
        out = await self.triton.infer(DETECTION_MODEL, {text_detection.INPUT: pixels},
                                      [text_detection.OUTPUT])
        quads: list[ocr.Quad] = await run_in_thread(
            ocr.text_quads, out[text_detection.OUTPUT][0, 0], width, height)
        return quads

    async def read(self, rgb: np.ndarray, max_side: int = ocr.DETECT_MAX_SIDE
                   ) -> list[ReadLine]:
        """The lines of text in an RGB picture, in reading order; lines read with less
        than ocr.MIN_CONFIDENCE are left out. `max_side` caps the detector's long side."""
        quads = await self.detect(rgb, max_side)
        crops = await run_in_thread(lambda: [ocr.line_crop(rgb, q) for q in quads])
        read: dict[int, tuple[str, float]] = {}
        for batch in ocr.recogniser_batches(crops):
            lines = [crops[i] for i in batch]
            x = text_recognition.model_input(lines, ocr.padded_width(lines))
            result = await self.triton.infer(RECOGNITION_MODEL, {text_recognition.INPUT: x},
                                             list(text_recognition.OUTPUTS))
            for k, i in enumerate(batch):
                read[i] = text_recognition.decode(result["indices"][k], result["scores"][k])
        return [ReadLine(text, confidence, quad) for i, quad in enumerate(quads)
                for text, confidence in [read[i]]
                if text.strip() and confidence >= ocr.MIN_CONFIDENCE]
