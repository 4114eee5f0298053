"""`mediamesh text ...`, `mediamesh transcribe` and `mediamesh tag`: TextService's RPCs on
the running mesh (keywords, moderation, search indexes, speech, tags), with tables for
people, progress bars for long jobs and --json for scripts."""
from __future__ import annotations

from pathlib import Path

import srt
from rich.console import Console
from rich.table import Table

from mediamesh.config import Settings
from mediamesh.jobs import JobError, run_with_progress, stage
from mediamesh.v1 import common_pb2, text_pb2


def read_text(argument: str) -> str:
    """The argument itself, or a file's contents when it is @path (UTF-8)."""
    if argument.startswith("@"):
        path = Path(argument[1:])
        try:
            return path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise JobError(f"cannot read {path}: {exc}") from exc
    return argument


def srt_texts(path: Path) -> list[text_pb2.IndexedText]:
    """An SRT file's cues as texts to index, with their times."""
    try:
        cues = list(srt.parse(path.read_text("utf-8-sig")))
    except (OSError, UnicodeDecodeError, srt.SRTParseError) as exc:
        raise JobError(f"cannot read {path} as SRT: {exc}") from exc
    return [text_pb2.IndexedText(
        text=cue.content.replace("\n", " "), kind="subtitle",
        range=common_pb2.TimeRange(start=cue.start.total_seconds(),
                                   end=cue.end.total_seconds()))
        for cue in cues if cue.content.strip()]


def keywords_table(reply: text_pb2.ExtractKeywordsResponse) -> Table:
    table = Table(title=f"{len(reply.keywords)} keywords ({reply.language})")
    table.add_column("#", justify="right")
    table.add_column("keyword")
    table.add_column("score", justify="right")
    for i, k in enumerate(reply.keywords, start=1):
        table.add_row(str(i), k.text, f"{k.score:.2f}")
    return table


def moderation_table(texts: list[str], reply: text_pb2.ModerateResponse) -> Table:
    table = Table(title="moderation")
    for column in ("text", "flagged", "scores", "terms found"):
        table.add_column(column)
    for text, result in zip(texts, reply.results, strict=True):
        scores = ", ".join(f"{c.category} {c.score:.2f}" for c in result.categories)
        terms = ", ".join(f"{m.term} [{m.category} @{m.start}]" for m in result.matches)
        table.add_row(text if len(text) <= 60 else text[:57] + "...",
                      "[red]yes[/red]" if result.flagged else "no", scores, terms)
    return table


def hits_table(query: str, reply: text_pb2.SearchResponse) -> Table:
    table = Table(title=f"{len(reply.hits)} hits for {query!r}")
    for column in ("#", "score", "media", "where", "text"):
        table.add_column(column, justify="right" if column in ("#", "score") else "left")
    for i, hit in enumerate(reply.hits, start=1):
        where = f"{hit.range.start:.1f}-{hit.range.end:.1f} s" if hit.HasField("range") else ""
        table.add_row(str(i), f"{hit.score:.2f}", hit.media_id, where, hit.text)
    return table


async def transcribe(settings: Settings, audio: Path, console: Console, *, language: str = "",
                     output: str = "") -> text_pb2.TranscribeResult:
    """Run Transcribe on a local file with a progress bar (on `console`)."""
    request = text_pb2.TranscribeRequest(
        audio=stage(settings, audio), language=language,
        output=common_pb2.OutputSpec(uri=output, overwrite=True))
    result: text_pb2.TranscribeResult = await run_with_progress(
        settings, console, f"transcribing {audio.name}",
        lambda mesh: mesh.text.Transcribe(request, timeout=3600))
    return result


async def tag_media(settings: Settings, path: Path, console: Console, *, ocr: bool = True,
                    speech: bool = True, top_k: int = 10) -> text_pb2.TagMediaResult:
    """Run TagMedia on a local file with a progress bar (on `console`)."""
    request = text_pb2.TagMediaRequest(media=stage(settings, path), use_ocr=ocr,
                                       use_speech=speech, top_k=top_k)
    result: text_pb2.TagMediaResult = await run_with_progress(
        settings, console, f"tagging {path.name}",
        lambda mesh: mesh.text.TagMedia(request, timeout=3600))
    return result


def segments_table(result: text_pb2.TranscribeResult) -> Table:
    table = Table(title=f"{len(result.segments)} segments ({result.language})")
    for column in ("start s", "end s", "text", "conf"):
        table.add_column(column, justify="left" if column == "text" else "right")
    for segment in result.segments:
        table.add_row(f"{segment.range.start:.2f}", f"{segment.range.end:.2f}", segment.text,
                      f"{segment.confidence:.2f}")
    return table


_SOURCES = {text_pb2.TAG_SOURCE_OCR: "on screen", text_pb2.TAG_SOURCE_SPEECH: "said",
            text_pb2.TAG_SOURCE_KEYWORD: "both"}


def tags_table(result: text_pb2.TagMediaResult) -> Table:
    table = Table(title=f"{len(result.tags)} tags")
    for column in ("#", "tag", "score", "from", "where (s)"):
        table.add_column(column, justify="right" if column in ("#", "score") else "left")
    for i, tag in enumerate(result.tags, start=1):
        spans = ", ".join(f"{o.start:.1f}-{o.end:.1f}" for o in tag.occurrences[:6])
        more = f" (+{len(tag.occurrences) - 6})" if len(tag.occurrences) > 6 else ""
        table.add_row(str(i), tag.label, f"{tag.score:.2f}", _SOURCES.get(tag.source, ""),
                      spans + more)
    return table
