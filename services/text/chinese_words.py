"""Chinese word segmentation (jieba, MIT) shared by keywords and moderation.

jieba has one process-wide tokenizer; a request's user dictionary is added to it for the
duration of the call and taken out again, so every use goes through the one lock here.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence

import jieba
import jieba.analyse

jieba.setLogLevel(60)  # its dictionary-loading chatter would break the JSON logs
_lock = threading.Lock()


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Words with their character offsets (start, end)."""
    with _lock:
        return [(w, start, end) for w, start, end in jieba.tokenize(text)]


def tfidf_terms(text: str, user_terms: Sequence[str], limit: int) -> list[tuple[str, float]]:
    """jieba's TF-IDF terms with weights, best first, `user_terms` segmented whole."""
    with _lock:
        saved = {term: jieba.get_FREQ(term) for term in user_terms}
        for term in user_terms:
            jieba.add_word(term)
        try:
            return [(t, float(w)) for t, w in
                    jieba.analyse.extract_tags(text, topK=limit, withWeight=True)]
        finally:
            for term, freq in saved.items():
                if freq:
                    jieba.add_word(term, freq)
                else:
                    jieba.del_word(term)
