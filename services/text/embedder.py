"""Texts -> L2-normalised 512-d vectors with the multilingual sentence encoder on Triton.

Tokenising (SentencePiece, the model's own vocabulary) happens here. Texts are sorted by
length and sent in batches of similar lengths, padded to a multiple of PAD_TO tokens, so
little padding is computed and requests of similar length share a shape (Triton joins
those). A text longer than MAX_TOKENS is embedded window by window and the windows'
vectors averaged by token count: a transcript embeds whole, not just its first page.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import sentencepiece

from mediamesh.errors import InvalidArgument, MeshError, StatusCode
from mediamesh.inference import TritonClient
from mediamesh.models import sentence_encoder
from mediamesh.worker_threads import run_in_thread

MODEL = "sentence_encoder"
#: The names Embed accepts for it ("" = the default).
MODEL_NAMES = ("", MODEL, "use-multilingual-v3")
DIMENSION = sentence_encoder.DIMENSION
MAX_TOKENS = 128  # per window, BOS and EOS included: longer windows saturate the encoder
PAD_TO = 16
BATCH_TEXTS = 32
BATCH_TOKENS = 4096  # texts x padded length per request: bounds a request's tensors
MAX_TEXTS = 2048
MAX_CHARACTERS = 2_000_000  # over all texts of one request


@cache
def tokenizer() -> sentencepiece.SentencePieceProcessor:
    return sentencepiece.SentencePieceProcessor(
        model_file=str(sentence_encoder.resource(sentence_encoder.TOKENIZER)))


def windows(text: str) -> list[list[int]]:
    """The text's ids as windows of at most MAX_TOKENS, each with BOS and EOS."""
    ids = tokenizer().encode(text)
    step = MAX_TOKENS - 2
    pieces = [ids[i:i + step] for i in range(0, len(ids), step)] or [[]]
    return [[sentence_encoder.BOS, *p, sentence_encoder.EOS] for p in pieces]


@dataclass(frozen=True)
class Batch:
    """Windows of similar length, padded to one shape."""

    owners: list[int]  # which window list each row belongs to
    input_ids: np.ndarray
    attention_mask: np.ndarray


def batches(windows_of: list[list[list[int]]]) -> list[Batch]:
    """Every text's windows, sorted by length into padded batches."""
    rows = sorted(((len(w), owner, w) for owner, ws in enumerate(windows_of) for w in ws),
                  key=lambda r: r[0])
    out: list[Batch] = []
    start = 0
    while start < len(rows):
        end = start + 1
        while end < len(rows) and end - start < BATCH_TEXTS and \
                _padded(rows[end][0]) * (end - start + 1) <= BATCH_TOKENS:
            end += 1
        chunk = rows[start:end]
        width = _padded(chunk[-1][0])
        ids = np.zeros((len(chunk), width), np.int64)
        mask = np.zeros((len(chunk), width), np.int64)
        for i, (length, _, window) in enumerate(chunk):
            ids[i, :length] = window
            mask[i, :length] = 1
        out.append(Batch([owner for _, owner, _ in chunk], ids, mask))
        start = end
    return out


def _padded(length: int) -> int:
    return -(-length // PAD_TO) * PAD_TO


def check_texts(texts: list[str], field_name: str = "texts") -> None:
    """Something to embed, and not more than a request may carry."""
    if not texts:
        raise InvalidArgument(f"{field_name} is empty: send at least one text",
                              field_name=field_name)
    if len(texts) > MAX_TEXTS:
        raise MeshError(f"{len(texts)} texts in one request; send at most {MAX_TEXTS} per "
                        "call", StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED",
                        field_name=field_name, metadata={"limit": str(MAX_TEXTS)})
    total = sum(len(t) for t in texts)
    if total > MAX_CHARACTERS:
        raise MeshError(f"{total} characters in one request; send at most {MAX_CHARACTERS}",
                        StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED",
                        field_name=field_name, metadata={"limit": str(MAX_CHARACTERS)})
    for i, text in enumerate(texts):
        check_text(text, f"{field_name}[{i}]")


def check_text(text: str, field_name: str) -> None:
    """One text to embed: something besides whitespace, within the request limit."""
    if not text.strip():
        raise InvalidArgument(f"{field_name} is empty or only whitespace: an embedding of "
                              "nothing would match everything alike", field_name=field_name)
    if len(text) > MAX_CHARACTERS:
        raise MeshError(f"{field_name} has {len(text)} characters; at most {MAX_CHARACTERS}",
                        StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED",
                        field_name=field_name, metadata={"limit": str(MAX_CHARACTERS)})


class Embedder:
    def __init__(self, triton: TritonClient) -> None:
        self.triton = triton

    async def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), 512) float32, unit rows; texts must pass `check_texts`."""
        windows_of = await run_in_thread(lambda: [windows(t) for t in texts])
        sums = np.zeros((len(texts), DIMENSION), np.float32)
        for batch in await run_in_thread(batches, windows_of):
            out = await self.triton.infer(MODEL, {"input_ids": batch.input_ids,
                                                  "attention_mask": batch.attention_mask},
                                          ["embedding"])
            weights = batch.attention_mask.sum(axis=1, keepdims=True).astype(np.float32)
            np.add.at(sums, batch.owners, out["embedding"] * weights)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return sums / np.maximum(norms, 1e-12)
