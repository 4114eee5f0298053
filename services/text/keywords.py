"""Keywords of a text, Chinese and English.

Chinese: jieba's segmentation and TF-IDF (its own IDF table of a large corpus); a user
dictionary keeps names and jargon whole (jieba splits 嫦娥六号 into 嫦娥 / 六号 otherwise).
English: KeyBERT's recipe: candidate phrases (runs of up to three words between stop words
and punctuation) ranked by the cosine of their embedding to the whole text's. Both measured
in shared/research/text.md (precision@5: jieba TF-IDF 1.0 on Chinese news, embeddings 0.8
on English); `bench/eval_text.py --section keywords` measures ours.

Diversity re-ranks either list by maximal marginal relevance over the candidates'
embeddings: 0 keeps pure relevance, 1 trades it all for being unlike the ones already
picked.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mediamesh.errors import InvalidArgument
from mediamesh.worker_threads import run_in_thread
from services.text import chinese_words
from services.text.english_stopwords import STOPWORDS

LANGUAGES = ("zh", "en")
DEFAULT_TOP_K = 10
MAX_TOP_K = 100
MAX_USER_TERMS = 1000
CANDIDATES = 60  # the most relevant candidates diversity may choose among
MAX_PHRASE_WORDS = 3
#: Share of CJK characters among letters above which an unlabelled text counts as Chinese.
CJK_SHARE = 0.3

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’-][A-Za-z0-9]+)*")
_BREAK = re.compile(r"[.,;:!?()\[\]{}\"“”«»…–—/\\|\n]")

Embed = Callable[[list[str]], Awaitable[np.ndarray]]


@dataclass(frozen=True)
class Keyword:
    text: str
    score: float  # 0..1


def language_of(text: str, requested: str) -> str:
    """'zh' or 'en': the request's (BCP-47, any region or script), else by the share of
    Chinese characters among the text's letters."""
    if requested:
        code = requested.split("-")[0].split("_")[0].lower()
        if code not in LANGUAGES:
            raise InvalidArgument(f"language '{requested}' is not supported; use one of "
                                  f"{list(LANGUAGES)} or leave it empty to detect",
                                  field_name="language")
        return code
    letters = len(_LETTER.findall(text))
    return "zh" if letters and len(_CJK.findall(text)) / letters >= CJK_SHARE else "en"


def chinese_candidates(text: str, user_terms: Sequence[str], limit: int
                       ) -> list[tuple[str, float]]:
    """(term, TF-IDF weight), best first; `user_terms` segment whole. Single characters and
    numbers are left out."""
    tags = chinese_words.tfidf_terms(text, user_terms, limit * 3)
    return [(t, w) for t, w in tags
            if len(t) > 1 and not t.replace(".", "").isdigit()][:limit]


def english_candidates(text: str, user_terms: Sequence[str], limit: int) -> list[str]:
    """Phrases of up to MAX_PHRASE_WORDS consecutive words with no stop word, no adverb
    (-ly) at either end and no punctuation between, most frequent first (ties: earliest,
    then longest); user terms that occur are always in."""
    counts: Counter[str] = Counter()
    first_seen: dict[str, int] = {}
    surface: dict[str, str] = {}
    position = 0
    for clause in _BREAK.split(text):
        words = _WORD.findall(clause)
        for n in range(1, MAX_PHRASE_WORDS + 1):
            for i in range(len(words) - n + 1):
                gram = words[i:i + n]
                lowered = [w.lower() for w in gram]
                if any(w in STOPWORDS for w in lowered) or lowered[0].endswith("ly") \
                        or lowered[-1].endswith("ly"):
                    continue
                if n == 1 and len(gram[0]) < 3:
                    continue
                key = " ".join(lowered)
                counts[key] += 1
                first_seen.setdefault(key, position + i)
                surface.setdefault(key, " ".join(gram))
        position += len(words)
    ranked = sorted(counts, key=lambda k: (-counts[k], first_seen[k], -k.count(" ")))[:limit]
    lowered_text = text.lower()
    users = [t for t in user_terms if t.lower() in lowered_text and t.lower() not in ranked]
    return users + [surface[k] for k in ranked][:limit - len(users)]


def maximal_marginal_relevance(relevance: np.ndarray, vectors: np.ndarray, top_k: int,
                               diversity: float) -> list[int]:
    """Indices picked one by one, each maximising (1 - diversity) * relevance - diversity *
    (its highest similarity to those already picked)."""
    picked: list[int] = []
    left = list(range(len(relevance)))
    similarity = vectors @ vectors.T
    while left and len(picked) < top_k:
        redundancy = similarity[np.ix_(left, picked)].max(axis=1) if picked else \
            np.zeros(len(left))
        value = (1 - diversity) * relevance[left] - diversity * redundancy
        picked.append(left.pop(int(np.argmax(value))))
    return picked


async def extract(text: str, language: str, top_k: int, user_terms: Sequence[str],
                  diversity: float, embed: Embed) -> list[Keyword]:
    """The text's keywords, best first (fewer than top_k when the text has fewer)."""
    if language == "zh":
        weighted = await run_in_thread(chinese_candidates, text, user_terms, CANDIDATES)
        if not weighted:
            return []
        terms = [t for t, _ in weighted]
        relevance = np.array([w for _, w in weighted], np.float32)
        relevance /= relevance.max()
        if diversity <= 0:
            return [Keyword(t, float(r)) for t, r in zip(terms, relevance)][:top_k]
        vectors = await embed(terms)
    else:
        terms = await run_in_thread(english_candidates, text, user_terms, CANDIDATES * 4)
        if not terms:
            return []
        vectors = await embed([text, *terms])
        relevance = np.clip(vectors[1:] @ vectors[0], 0.0, 1.0)
        vectors = vectors[1:]
        order = np.argsort(-relevance, kind="stable")[:CANDIDATES]
        terms = [terms[i] for i in order]
        relevance, vectors = relevance[order], vectors[order]
    picked = maximal_marginal_relevance(relevance, vectors, top_k, diversity)
    return [Keyword(terms[i], float(relevance[i])) for i in picked]


def check_request(top_k: int, user_terms: Sequence[str], diversity: float) -> int:
    """The request's top_k (0 = default); refuses what cannot be served (the text itself is
    checked by embedder.check_text)."""
    if top_k > MAX_TOP_K:
        raise InvalidArgument(f"top_k must be at most {MAX_TOP_K}, got {top_k}",
                              field_name="top_k")
    if not 0 <= diversity <= 1:
        raise InvalidArgument(f"diversity must be in [0, 1], got {diversity:g}",
                              field_name="diversity")
    if len(user_terms) > MAX_USER_TERMS:
        raise InvalidArgument(f"user_dictionary has {len(user_terms)} terms; at most "
                              f"{MAX_USER_TERMS}", field_name="user_dictionary")
    for i, term in enumerate(user_terms):
        if not term.strip() or len(term) > 64:
            raise InvalidArgument(f"user_dictionary[{i}] must be 1-64 characters, not blank",
                                  field_name=f"user_dictionary[{i}]")
    return top_k or DEFAULT_TOP_K
