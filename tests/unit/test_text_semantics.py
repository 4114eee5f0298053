"""Keywords and moderation logic on plain strings and arrays (no models, no servers)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mediamesh.errors import InvalidArgument, MeshError
from services.text import keywords, moderation


@pytest.mark.parametrize("text,requested,expected", [
    ("今天天气很好 and some English", "", "zh"), ("Mostly English, 一点中文", "", "en"),
    ("anything", "zh-Hans-CN", "zh"), ("任何", "en_US", "en"), ("1234 !!", "", "en")])
def test_language_of(text: str, requested: str, expected: str) -> None:
    assert keywords.language_of(text, requested) == expected


def test_unknown_language_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        keywords.language_of("text", "fr")


def test_english_candidates_skip_stop_words_and_punctuation() -> None:
    text = "The red fox ran. The red fox slept, and the dog barked at the red fox quickly."
    found = keywords.english_candidates(text, ["dog barked at"], 20)
    assert found[0] == "dog barked at"  # a user term that occurs comes first
    assert found[1] == "red fox"  # the most frequent phrase (3x), before "red" and "fox"
    assert all("the" not in f.lower().split() for f in found[1:])
    assert "fox ran" in found and "ran slept" not in found  # no phrase across a full stop
    assert not any(f.endswith("quickly") for f in found)


def test_mmr_trades_relevance_for_difference() -> None:
    vectors = np.array([[1, 0], [0.99, 0.141], [0, 1]], np.float32)
    relevance = np.array([0.9, 0.89, 0.5], np.float32)
    assert keywords.maximal_marginal_relevance(relevance, vectors, 2, 0.0) == [0, 1]
    assert keywords.maximal_marginal_relevance(relevance, vectors, 2, 0.6) == [0, 2]


def category(tmp_path: Path, body: str, name: str = "spam") -> moderation.Category:
    path = tmp_path / f"{name}.yaml"
    path.write_text(body, "utf-8")
    return moderation.load_category(path)


def test_terms_match_whole_latin_words_and_chinese_substrings(tmp_path: Path) -> None:
    spam = category(tmp_path, "terms: [ass, 加微信]\nsegmented_terms: [代考]\n")
    text = "A class act. Kick ass! 请加微信。大学代考。代理考试"
    found = [(m.term, m.start, m.end) for m in moderation.term_matches(text, [spam])]
    assert found == [("ass", 18, 21), ("加微信", 24, 27), ("代考", 30, 32)]
    assert text[18:21] == "ass" and text[30:32] == "代考"


def test_counter_examples_push_the_score_down() -> None:
    example, counter = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    near_example = np.array([[0.8, 0.6]])
    near_counter = np.array([[0.6, 0.8]])
    assert moderation.semantic_score(near_example, example, counter) == pytest.approx(0.8)
    assert moderation.semantic_score(near_counter, example, counter) == pytest.approx(0.4)
    assert moderation.semantic_score(near_counter, example, np.zeros((0, 2))) == \
        pytest.approx(0.6)


def test_sentences_split_on_both_scripts_punctuation() -> None:
    assert moderation.sentences("你好。今天好吗？Fine. Thanks!\nBye") == \
        ["你好。", "今天好吗？", "Fine.", "Thanks!", "Bye"]


def test_a_broken_policy_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MeshError) as caught:
        category(tmp_path, "threshold: 7\n")
    assert "spam.yaml" in caught.value.message and caught.value.code == "FAILED_PRECONDITION"
    with pytest.raises(MeshError):
        category(tmp_path, "surprise: field\n")
