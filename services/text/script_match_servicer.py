"""TextService.MatchScript, as a mixin of TextServicer: the library's shots and texts
checked, every distinct text embedded once (the multilingual encoder on Triton, so a
Chinese sentence finds an English-described shot), then the exact assignment."""
from __future__ import annotations

import grpc
import numpy as np

from mediamesh.protocol import time_range
from mediamesh.v1 import common_pb2, text_pb2
from mediamesh.worker_threads import run_in_thread
from services.text import script_match
from services.text.embedder import Embedder, check_texts


class ScriptMatchMixin:
    embedder: Embedder

    async def MatchScript(self, request: text_pb2.MatchScriptRequest,
                          context: grpc.aio.ServicerContext) -> text_pb2.MatchScriptResponse:
        sentences = list(request.sentences)
        script_match.check_sentences(sentences)
        script_match.check_library(len(request.media), len(request.shots),
                                   len(request.descriptions))
        min_shot = request.min_shot_duration or script_match.DEFAULT_MIN_SHOT_S
        shots = [[time_range(r, f"shots[{m}].ranges[{k}]") for k, r in enumerate(lst.ranges)]
                 for m, lst in enumerate(request.shots)]
        texts = [[_library_text(t, f"descriptions[{m}].texts[{k}]")
                  for k, t in enumerate(d.texts)] for m, d in enumerate(request.descriptions)]
        found = script_match.candidates(shots, texts, min_shot)
        script_match.check_enough(len(sentences), len(found))
        unique = list(dict.fromkeys(t for c in found for t in c.texts))
        check_texts(sentences + unique, "sentences")
        vectors = await self.embedder.embed(sentences + unique)
        position = {t: i for i, t in enumerate(unique)}
        rows = [position[t] for c in found for t in c.texts]
        owners = np.array([n for n, c in enumerate(found) for _ in c.texts], np.int64)
        matches = await run_in_thread(script_match.match, vectors[:len(sentences)], found,
                                      vectors[len(sentences):][rows], owners)
        reply = text_pb2.MatchScriptResponse(candidates=len(found),
                                             total_score=sum(m.score for m in matches))
        for m in matches:
            shot = found[m.candidate]
            reply.matches.append(text_pb2.ShotMatch(
                sentence_index=m.sentence_index, sentence=sentences[m.sentence_index],
                media_index=shot.media_index, media=request.media[shot.media_index],
                range=common_pb2.TimeRange(start=shot.start, end=shot.end or 0.0),
                score=m.score, matched_text=m.text))
        return reply


def _library_text(text: text_pb2.IndexedText, field_name: str) -> script_match.LibraryText:
    if not text.HasField("range"):
        return script_match.LibraryText(text.text, 0.0, None)
    start, end = time_range(text.range, f"{field_name}.range")
    return script_match.LibraryText(text.text, start, end)
