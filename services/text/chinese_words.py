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
#: Parts of speech a keyword may have: nouns (common, person, place, organisation, other
#: proper), verbal nouns, abbreviations, Latin words. Numbers, verbs and adverbs are not
#: what a tag names (两万名, 明显降低).
KEYWORD_POS = ("n", "nr", "nrt", "ns", "nt", "nz", "vn", "j", "eng")


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """Words with their character offsets (start, end)."""
    with _lock:
        return [(w, start, end) for w, start, end in jieba.tokenize(text)]


def tfidf_terms(text: str, user_terms: Sequence[str], limit: int) -> list[tuple[str, float]]:
    """jieba's TF-IDF terms with weights, best first, nouns only (KEYWORD_POS);
    `user_terms` are segmented whole and count as proper nouns."""
    with _lock:
        saved = {term: jieba.get_FREQ(term) for term in user_terms}
        for term in user_terms:
            jieba.add_word(term, tag="nz")
        try:
            return [(t, float(w)) for t, w in
                    jieba.analyse.extract_tags(text, topK=limit, withWeight=True,
                                               allowPOS=KEYWORD_POS)]
        finally:
            for term, freq in saved.items():
                if freq:
                    jieba.add_word(term, freq)
                else:
                    jieba.del_word(term)
