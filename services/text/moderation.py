"""Text moderation by policy files that users edit: one YAML file per category in the
policies directory (setting `moderation_policies_dir`, default `policies/`).

A category flags a text when one of its terms occurs in it, or when one of the text's
sentences is close enough in meaning to one of its example phrases (cosine similarity of
the multilingual embeddings, the same space for Chinese and English: an English example
also catches its Chinese paraphrase). Counter-examples are harmless look-alikes ("she
killed it on stage"): a sentence nearer to one of them than to every example has its score
pushed down by the difference. Terms come in two kinds:
  terms            matched as written: Chinese as a substring, Latin-script terms as whole
                   words (so "ass" never matches "class"), case-insensitive
  segmented_terms  matched only as whole words of jieba's segmentation (Chinese) or of the
                   text's words (English): a term that straddles two words does not match
Files are re-read when they change, so an edit takes effect on the next call.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mediamesh.errors import InvalidArgument, MeshError, StatusCode
from mediamesh.worker_threads import run_in_thread
from services.text import chinese_words

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])|(?<=[.])\s+")
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_SENTENCES = 400  # per text, the rest are not scored semantically

Embed = Callable[[list[str]], Awaitable[np.ndarray]]


class PolicyFile(BaseModel):
    """The schema of one category's file."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    threshold: float = Field(0.6, gt=0, le=1)
    terms: list[str] = []
    segmented_terms: list[str] = []
    examples: list[str] = []
    counter_examples: list[str] = []


@dataclass(frozen=True)
class Category:
    name: str
    policy: PolicyFile
    term_patterns: list[tuple[str, re.Pattern[str]]]


@dataclass(frozen=True)
class TermMatch:
    term: str
    category: str
    start: int  # character offsets in the text
    end: int


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    scores: dict[str, float]
    matches: list[TermMatch]


def _pattern(term: str) -> re.Pattern[str]:
    if _CJK.search(term):
        return re.compile(re.escape(term), re.IGNORECASE)
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)


def load_category(path: Path) -> Category:
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        policy = PolicyFile.model_validate(data)
    except (yaml.YAMLError, ValidationError, OSError) as exc:
        raise MeshError(f"moderation policy {path} is invalid: {exc}",
                        StatusCode.FAILED_PRECONDITION, "MODERATION_POLICY_INVALID",
                        resource=str(path)) from exc
    return Category(path.stem, policy, [(t, _pattern(t)) for t in policy.terms if t.strip()])


def sentences(text: str) -> list[str]:
    """The text's sentences (Chinese and Western punctuation, line breaks)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    return [p for p in parts if p][:MAX_SENTENCES]


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """Words with their offsets: jieba's segmentation where there is Chinese."""
    if _CJK.search(text):
        return chinese_words.tokenize(text)
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def term_matches(text: str, categories: list[Category]) -> list[TermMatch]:
    """Every term occurrence of every category, in text order."""
    found = [TermMatch(term, c.name, m.start(), m.end())
             for c in categories for term, pattern in c.term_patterns
             for m in pattern.finditer(text)]
    wanted = {t.lower(): c.name for c in categories for t in c.policy.segmented_terms}
    if wanted:
        for word, start, end in _tokens(text):
            category = wanted.get(word.lower())
            if category is not None:
                found.append(TermMatch(word, category, start, end))
    return sorted(found, key=lambda m: (m.start, m.end, m.category))


def semantic_score(sentences: np.ndarray, examples: np.ndarray,
                   counters: np.ndarray) -> float:
    """Over a text's sentences (n, D), the best of: similarity to the nearest example,
    minus how much nearer the nearest counter-example is; 0..1."""
    if not len(sentences) or not len(examples):
        return 0.0
    positive = (sentences @ examples.T).max(axis=1)
    if len(counters):
        negative = (sentences @ counters.T).max(axis=1)
        positive = positive - np.maximum(negative - positive, 0.0)
    return float(np.clip(positive.max(), 0.0, 1.0))


class Policies:
    """The categories in a directory, re-read when a file changes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._seen: dict[Path, float] = {}
        self._categories: dict[str, Category] = {}
        self._examples: dict[tuple[str, bool], np.ndarray] = {}  # (category, counter) -> vectors

    def categories(self) -> dict[str, Category]:
        files = {p: p.stat().st_mtime for p in sorted(self.directory.glob("*.yaml"))} \
            if self.directory.is_dir() else {}
        if files != self._seen:
            self._categories = {c.name: c for c in map(load_category, files)}
            self._examples = {}
            self._seen = files
        if not self._categories:
            raise MeshError(f"no moderation policies in {self.directory}: add a <category>.yaml "
                            "there (see policies/README.md)", StatusCode.FAILED_PRECONDITION,
                            "MODERATION_POLICY_INVALID", resource=str(self.directory))
        return self._categories

    def select(self, names: list[str]) -> list[Category]:
        known = self.categories()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InvalidArgument(f"unknown categories {unknown}; this mesh's policies are "
                                  f"{sorted(known)}", field_name="categories")
        return [known[n] for n in names] if names else list(known.values())

    async def examples(self, category: Category, embed: Embed, counter: bool = False
                       ) -> np.ndarray:
        """The embeddings of a category's examples (or counter-examples), (n, D)."""
        key = (category.name, counter)
        if key not in self._examples:
            phrases = category.policy.counter_examples if counter else category.policy.examples
            phrases = [e for e in phrases if e.strip()]
            self._examples[key] = await embed(phrases) if phrases else \
                np.zeros((0, 1), np.float32)
        return self._examples[key]

    async def judge(self, texts: list[str], categories: list[Category],
                    embed: Embed) -> list[Verdict]:
        """One verdict per text: term matches, and per category the highest similarity of
        any of its sentences to any example (1.0 when a term matched)."""
        per_text = [await run_in_thread(sentences, t) for t in texts]
        flat = [s for parts in per_text for s in parts]
        vectors = await embed(flat) if flat else np.zeros((0, 1), np.float32)
        examples = {c.name: await self.examples(c, embed) for c in categories}
        counters = {c.name: await self.examples(c, embed, counter=True) for c in categories}
        verdicts, start = [], 0
        for text, parts in zip(texts, per_text, strict=True):
            mine = vectors[start:start + len(parts)]
            start += len(parts)
            matches = await run_in_thread(term_matches, text, categories)
            matched = {m.category for m in matches}
            scores = {}
            for c in categories:
                semantic = semantic_score(mine, examples[c.name], counters[c.name])
                scores[c.name] = 1.0 if c.name in matched else semantic
            flagged = any(scores[c.name] >= c.policy.threshold for c in categories)
            verdicts.append(Verdict(flagged, scores, matches))
        return verdicts
