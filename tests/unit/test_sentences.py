"""mediamesh.sentences: one script sentence = one subtitle cue and one shot, so the splits
must be the ones a reader expects, in Chinese and in English."""
from __future__ import annotations

from mediamesh.sentences import detect_language, split_sentences


def test_chinese_splits_at_full_width_marks_and_keeps_closing_quotes() -> None:
    text = "夕阳落在海面上。城市的夜晚很热闹！你看见森林了吗？\n雪山很高；“我们出发吧。”最后一句"
    assert split_sentences(text) == [
        "夕阳落在海面上。", "城市的夜晚很热闹！", "你看见森林了吗？", "雪山很高；",
        "“我们出发吧。”", "最后一句"]


def test_chinese_line_breaks_end_sentences() -> None:
    assert split_sentences("第一行没有句号\n第二行也没有", "zh") == ["第一行没有句号", "第二行也没有"]


def test_english_keeps_abbreviations_initials_and_numbers() -> None:
    text = ("Dr. Smith met J. K. Rowling at 3.5 p.m. today. It rained, e.g. in the U.S. "
            "and elsewhere! Did it stop? \"Yes.\" The end")
    assert split_sentences(text) == [
        "Dr. Smith met J. K. Rowling at 3.5 p.m. today.",
        "It rained, e.g. in the U.S. and elsewhere!", "Did it stop?", "\"Yes.\"", "The end"]


def test_english_line_breaks_are_spaces_and_blank_lines_end_sentences() -> None:
    text = "A red sunset\nover the sea.  Then night\n\nA green forest"
    assert split_sentences(text) == ["A red sunset over the sea.", "Then night",
                                     "A green forest"]


def test_ellipsis_and_repeated_marks_stay_with_their_sentence() -> None:
    assert split_sentences("Wait... What?! Go.") == ["Wait...", "What?!", "Go."]


def test_empty_and_blank_scripts_have_no_sentences() -> None:
    assert split_sentences("") == [] and split_sentences(" \n\n \t") == []


def test_language_detection() -> None:
    assert detect_language("夕阳落在海面上。") == "zh"
    assert detect_language("A city street at night.") == "en"
    assert detect_language("我们用 Python 写代码。") == "zh"
    assert detect_language("12345") == "en"
