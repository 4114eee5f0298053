"""A script's text -> its sentences, Chinese or English; and which of the two it is.

Shared because the narration (AudioService.SynthesizeSpeech), the shot matching and the CLI
must agree on what one sentence is: each sentence becomes one subtitle cue and one shot.

Chinese ends a sentence at 。！？； (and their ASCII forms, and at a line break: Chinese
lines are not wrapped mid-sentence). English ends one at . ! ? followed by a space and not
part of an abbreviation ("Dr.", "e.g.", "U.S.", an initial "J.") or a number ("3.5"); a
line break inside an English paragraph is a space, a blank line always ends a sentence.
Closing quotes and brackets stay with the sentence they close.
"""
from __future__ import annotations

import re

ZH_TERMINATORS = "。！？；!?;"
EN_TERMINATORS = ".!?"
CLOSERS = "\"'”’」』）)]》"
#: Lower-case words that a period follows without ending the sentence.
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "etc", "e.g", "i.e", "cf",
    "inc", "ltd", "co", "corp", "no", "vol", "fig", "approx", "dept", "est", "mt", "ave",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "a.m", "p.m", "u.s", "u.k", "u.n", "ph.d"})
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SPACES = re.compile(r"[ \t\r\f\v]+")


def detect_language(text: str) -> str:
    """"zh" when Chinese characters make up at least a third of the letters, else "en"."""
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    return "zh" if cjk and cjk * 3 >= cjk + latin else "en"


def split_sentences(text: str, language: str = "") -> list[str]:
    """The text's sentences in order, whitespace-normalised, none empty. `language` is
    "zh", "en" or "" (detected)."""
    language = language or detect_language(text)
    out: list[str] = []
    for paragraph in _PARAGRAPHS.split(text.replace("\r\n", "\n")):
        if language == "zh":
            for line in paragraph.split("\n"):
                out += _split_zh(line)
        else:
            out += _split_en(" ".join(paragraph.split("\n")))
    return [s for s in (_SPACES.sub(" ", s).strip() for s in out) if s]


def _split_zh(line: str) -> list[str]:
    pieces, start, i = [], 0, 0
    while i < len(line):
        if line[i] in ZH_TERMINATORS or (line[i] == "." and _ends_english(line, i)):
            i += 1
            while i < len(line) and (line[i] in ZH_TERMINATORS or line[i] in CLOSERS):
                i += 1
            pieces.append(line[start:i])
            start = i
        else:
            i += 1
    pieces.append(line[start:])
    return pieces


def _split_en(paragraph: str) -> list[str]:
    pieces, start, i = [], 0, 0
    while i < len(paragraph):
        char = paragraph[i]
        if char in EN_TERMINATORS or char in "。！？":
            if char == "." and not _ends_english(paragraph, i):
                i += 1
                continue
            i += 1
            while i < len(paragraph) and (paragraph[i] in EN_TERMINATORS + "。！？"
                                          or paragraph[i] in CLOSERS):
                i += 1
            if i >= len(paragraph) or paragraph[i].isspace() or char in "。！？":
                pieces.append(paragraph[start:i])
                start = i
        else:
            i += 1
    pieces.append(paragraph[start:])
    return pieces


def _ends_english(text: str, at: int) -> bool:
    """Whether the period at `text[at]` ends a sentence: it is followed by a space (or the
    end, or more punctuation) and does not close an abbreviation, an initial or a number."""
    after = at + 1
    while after < len(text) and text[after] in CLOSERS + EN_TERMINATORS:
        after += 1
    if after < len(text) and not text[after].isspace():
        return False  # "3.5", "example.com", "U.S" inside a word
    word = re.search(r"([A-Za-z][A-Za-z.]*)$", text[:at])
    if word is None:
        return True
    token = word.group(1)
    if token.lower() in ABBREVIATIONS:
        return False
    if len(token) == 1 and token.isupper():
        return False  # an initial: "J. K. Rowling"
    # "U.S." at a sentence end is ambiguous; an upper-case word following decides
    return not ("." in token and _next_word_is_lower(text, after))


def _next_word_is_lower(text: str, after: int) -> bool:
    rest = text[after:].lstrip()
    return bool(rest) and rest[0].islower()
