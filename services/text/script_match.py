"""Script sentences -> library shots: one different shot per sentence, by meaning.

Each candidate shot is described by the texts that overlap it (tags, OCR, transcript) and
the texts of its whole media. A sentence's score for a shot is the best cosine similarity
between the sentence and one of the shot's texts (a shot is as relevant as its most fitting
description, not the average of all its words). The assignment that maximises the total
score with no shot used twice is exact (the Hungarian method, scipy's
linear_sum_assignment): a greedy pass can give a later sentence's only good shot away.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from mediamesh.errors import InvalidArgument, MeshError, StatusCode

MAX_SENTENCES = 200
MAX_MEDIA = 500
MAX_CANDIDATES = 5000
DEFAULT_MIN_SHOT_S = 0.5
#: A description needs this many letters or digits (Han characters count double): OCR of
#: textures reads stray glyphs ("Zt", "22"), and a scrap matches any sentence a little.
MIN_DESCRIPTION_WEIGHT = 3
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class LibraryText:
    text: str
    start: float
    end: float | None  # None: describes the whole media


@dataclass(frozen=True)
class Candidate:
    media_index: int
    start: float
    end: float | None  # None: to the end of the media
    texts: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    sentence_index: int
    candidate: int
    score: float
    text: str


def check_sentences(sentences: list[str]) -> None:
    if not sentences:
        raise InvalidArgument("sentences is empty: give the script's sentences",
                              field_name="sentences")
    if len(sentences) > MAX_SENTENCES:
        raise MeshError(f"{len(sentences)} sentences; at most {MAX_SENTENCES} per call",
                        StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED",
                        field_name="sentences", metadata={"limit": str(MAX_SENTENCES)})
    for i, sentence in enumerate(sentences):
        if not sentence.strip():
            raise InvalidArgument(f"sentences[{i}] is empty", field_name=f"sentences[{i}]")


def check_library(media_count: int, shot_lists: int, description_lists: int) -> None:
    if not media_count:
        raise InvalidArgument("media is empty: give the library to choose shots from",
                              field_name="media")
    if media_count > MAX_MEDIA:
        raise MeshError(f"{media_count} media items; at most {MAX_MEDIA} per call",
                        StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED", field_name="media",
                        metadata={"limit": str(MAX_MEDIA)})
    if shot_lists > media_count:
        raise InvalidArgument(f"shots has {shot_lists} lists for {media_count} media items: "
                              "shots[i] belongs to media[i]", field_name="shots")
    if description_lists != media_count:
        raise InvalidArgument(f"descriptions has {description_lists} lists for {media_count} "
                              "media items: descriptions[i] describes media[i]",
                              field_name="descriptions")


def candidates(shots: list[list[tuple[float, float | None]]],
               texts: list[list[LibraryText]], min_shot_s: float) -> list[Candidate]:
    """Every shot long enough and with at least one text, in library order."""
    out: list[Candidate] = []
    for m, media_texts in enumerate(texts):
        ranges = (shots[m] if m < len(shots) else []) or [(0.0, None)]
        for start, end in ranges:
            if end is not None and end - start < min_shot_s:
                continue
            found = tuple(dict.fromkeys(
                t.text.strip() for t in media_texts
                if informative(t.text) and _overlaps(t, start, end)))
            if found:
                out.append(Candidate(m, start, end, found))
    if len(out) > MAX_CANDIDATES:
        raise MeshError(f"{len(out)} candidate shots; at most {MAX_CANDIDATES} per call",
                        StatusCode.RESOURCE_EXHAUSTED, "QUOTA_EXCEEDED", field_name="shots",
                        metadata={"limit": str(MAX_CANDIDATES)})
    return out


def informative(text: str) -> bool:
    """Enough letters to describe something (see MIN_DESCRIPTION_WEIGHT)."""
    weight = sum(ch.isalnum() for ch in text) + len(_HAN.findall(text))
    return weight >= MIN_DESCRIPTION_WEIGHT


def _overlaps(text: LibraryText, start: float, end: float | None) -> bool:
    if text.end is None:
        return True
    return text.start < (end if end is not None else float("inf")) and text.end > start


def check_enough(sentence_count: int, candidate_count: int) -> None:
    if candidate_count < sentence_count:
        raise InvalidArgument(
            f"{sentence_count} sentences but only {candidate_count} described shots in the "
            "library: each sentence needs a shot of its own (add media, or shorten the script)",
            field_name="media")


def shot_scores(similarity: np.ndarray, owners: np.ndarray, shot_count: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per (sentence, shot): the best similarity over the shot's texts, and which text.
    `similarity` is (sentences, texts); `owners[j]` is the shot text j describes."""
    scores = np.full((similarity.shape[0], shot_count), -np.inf, np.float64)
    best = np.zeros((similarity.shape[0], shot_count), np.int64)
    for j, shot in enumerate(owners):
        better = similarity[:, j] > scores[:, shot]
        scores[better, shot] = similarity[better, j]
        best[better, shot] = j
    return scores, best


def assign(scores: np.ndarray) -> list[int]:
    """The shot for each sentence (row), no shot twice, maximising the summed score."""
    rows, cols = linear_sum_assignment(scores, maximize=True)
    chosen = [0] * scores.shape[0]
    for r, c in zip(rows, cols, strict=True):
        chosen[int(r)] = int(c)
    return chosen


def match(sentence_vectors: np.ndarray, shots: list[Candidate], text_vectors: np.ndarray,
          owners: np.ndarray) -> list[Match]:
    """Assign shots to sentences from unit embedding vectors (texts flattened over the
    shots, `owners[j]` = the shot of text j)."""
    similarity = sentence_vectors @ text_vectors.T
    scores, best = shot_scores(similarity, owners, len(shots))
    flat = [t for c in shots for t in c.texts]
    return [Match(i, shot, float(scores[i, shot]), flat[int(best[i, shot])])
            for i, shot in enumerate(assign(scores))]
