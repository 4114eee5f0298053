"""The semantic sections of bench/eval_text.py, on the hand-labelled texts of
bench/text_semantics_data.py, with the service's own code in-process (the sentence encoder
in onnxruntime on one thread through bench/local_models.py):

  retrieval   cross-lingual top-1: each English line's nearest among the 40 Chinese lines
              (and the reverse), and 20 English paraphrases against both sets; plus the
              embedding speed (texts per second, batched as the service batches)
  keywords    precision@5 of ExtractKeywords (services.text.keywords) against the labels,
              per language, at diversity 0 and 0.5
  moderation  Moderate (services.text.moderation) with the repo's policies/ files on 24
              texts never in the policies: flag precision / recall, and whether the flagged
              categories are exactly the labelled ones
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from local_models import LocalModels
from text_semantics_data import KEYWORD_SET, MODERATION_SET, PAIRS, PARAPHRASES

from mediamesh.config import SOURCE_ROOT
from services.text import keywords
from services.text.embedder import Embedder
from services.text.moderation import Policies


def _embedder() -> Embedder:
    return Embedder(LocalModels())  # type: ignore[arg-type]


def top1(queries: np.ndarray, candidates: np.ndarray, truth: list[int]) -> float:
    return float(np.mean(np.argmax(queries @ candidates.T, axis=1) == np.asarray(truth)))


def eval_retrieval(_: int = 0) -> dict[str, Any]:
    embedder = _embedder()
    english = [en for en, _ in PAIRS]
    chinese = [zh for _, zh in PAIRS]
    paraphrases = [p for p, _ in PARAPHRASES]
    asyncio.run(embedder.embed(english[:2]))  # load the session outside the timing
    started = time.perf_counter()
    en, zh, para = (asyncio.run(embedder.embed(texts))
                    for texts in (english, chinese, paraphrases))
    seconds = time.perf_counter() - started
    texts = len(english) + len(chinese) + len(paraphrases)
    same = list(range(len(PAIRS)))
    targets = [i for _, i in PARAPHRASES]
    rows = [{"task": "English line -> its Chinese line (of 40)", "top1": top1(en, zh, same)},
            {"task": "Chinese line -> its English line (of 40)", "top1": top1(zh, en, same)},
            {"task": "English paraphrase -> the Chinese line (of 40)",
             "top1": top1(para, zh, targets)},
            {"task": "English paraphrase -> the English line (of 40)",
             "top1": top1(para, en, targets)}]
    pair_scores = np.sum(en * zh, axis=1)
    off = (en @ zh.T)[~np.eye(len(PAIRS), dtype=bool)]
    return {"title": f"retrieval: {len(PAIRS)} hand-translated en/zh subtitle lines and "
                     f"{len(PARAPHRASES)} English paraphrases; sentence_encoder in "
                     f"onnxruntime, 1 thread: {texts / seconds:.0f} texts/s; translation "
                     f"pairs score {pair_scores.mean():.2f} on average, other pairs "
                     f"{off.mean():.2f}",
            "table": rows, "columns": ["task", "top1"], "texts_per_second": texts / seconds}


def _hits(found: list[str], labels: list[str]) -> int:
    wanted = [label.lower() for label in labels]
    return sum(any(w == f.lower() or w in f.lower() for w in wanted) for f in found)


def eval_keywords(_: int = 0) -> dict[str, Any]:
    embedder = _embedder()
    per: dict[tuple[str, float], list[float]] = {}
    examples = []
    for item in KEYWORD_SET:
        text, language = str(item["text"]), str(item["language"])
        labels = list(item["labels"])  # type: ignore[call-overload]
        for diversity in (0.0, 0.5):
            found = asyncio.run(keywords.extract(text, language, 5,
                                                 list(item["user_dictionary"]),  # type: ignore[call-overload]
                                                 diversity, embedder.embed))
            terms = [k.text for k in found]
            per.setdefault((language, diversity), []).append(_hits(terms, labels) / 5)
            examples.append({"language": language, "diversity": diversity, "keywords": terms})
    rows = [{"language": language, "diversity": diversity, "paragraphs": len(scores),
             "precision_at_5": float(np.mean(scores))}
            for (language, diversity), scores in per.items()]
    return {"title": f"keywords: {len(KEYWORD_SET)} hand-labelled paragraphs (zh: jieba "
                     "TF-IDF with the request's user dictionary; en: phrases ranked by "
                     "embedding similarity to the text); precision@5",
            "table": rows, "columns": ["language", "diversity", "paragraphs",
                                       "precision_at_5"], "examples": examples}


def eval_moderation(_: int = 0) -> dict[str, Any]:
    embedder = _embedder()
    policies = Policies(SOURCE_ROOT / "policies")
    categories = policies.select([])
    texts = [t for t, _ in MODERATION_SET]
    verdicts = asyncio.run(policies.judge(texts, categories, embedder.embed))
    tp = fp = fn = exact = 0
    mistakes = []
    for (text, labels), verdict in zip(MODERATION_SET, verdicts, strict=True):
        flagged = {c.name for c in categories if verdict.scores[c.name] >= c.policy.threshold}
        tp += bool(labels) and verdict.flagged
        fp += (not labels) and verdict.flagged
        fn += bool(labels) and not verdict.flagged
        exact += flagged == labels
        if flagged != labels:
            mistakes.append({"text": text, "labels": sorted(labels), "flagged": sorted(flagged),
                             "scores": {k: round(v, 3) for k, v in verdict.scores.items()}})
    rows = [{"texts": len(texts), "harmful": sum(bool(lab) for _, lab in MODERATION_SET),
             "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1),
             "exact_categories": exact / len(texts)}]
    return {"title": "moderation: the repo's policies/ (spam, violence) on 24 hand-labelled "
                     "zh/en texts, none of them a policy example (harmless ones on purpose "
                     "near the policies' words: 'killed it', 'click the link', battle scenes)",
            "table": rows, "columns": ["texts", "harmful", "precision", "recall",
                                       "exact_categories"], "mistakes": mistakes}
