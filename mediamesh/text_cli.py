"""`mediamesh text ...`: TextService's text RPCs on the running mesh (keywords, moderation,
search indexes), with tables for people and --json for scripts."""
from __future__ import annotations

from pathlib import Path

import srt
from rich.table import Table

from mediamesh.config import Settings
from mediamesh.jobs import JobError, call_mesh
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


async def keywords(settings: Settings, request: text_pb2.ExtractKeywordsRequest
                   ) -> text_pb2.ExtractKeywordsResponse:
    reply: text_pb2.ExtractKeywordsResponse = await call_mesh(
        settings, lambda mesh: mesh.text.ExtractKeywords(request, timeout=120))
    return reply


async def moderate(settings: Settings, request: text_pb2.ModerateRequest
                   ) -> text_pb2.ModerateResponse:
    reply: text_pb2.ModerateResponse = await call_mesh(
        settings, lambda mesh: mesh.text.Moderate(request, timeout=120))
    return reply


async def index(settings: Settings, request: text_pb2.IndexMediaRequest
                ) -> text_pb2.IndexMediaResponse:
    reply: text_pb2.IndexMediaResponse = await call_mesh(
        settings, lambda mesh: mesh.text.IndexMedia(request, timeout=300))
    return reply


async def search(settings: Settings, request: text_pb2.SearchRequest
                 ) -> text_pb2.SearchResponse:
    reply: text_pb2.SearchResponse = await call_mesh(
        settings, lambda mesh: mesh.text.Search(request, timeout=120))
    return reply


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
