"""ExtractKeywords and Moderate through the mesh (jieba in TextService, the sentence
encoder on Triton), with the policy files the mesh reads from its state dir."""
from __future__ import annotations

import grpc
import pytest

from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.v1 import text_pb2
from tests.integration.streams import assert_invalid_argument

NEWS = ("嫦娥六号探测器在月球背面成功着陆，将采集月球样品并带回地球。这是人类首次从月球背面采样"
        "返回。国家航天局表示，任务进展顺利。")
RECIPE = ("To make a classic French omelette, whisk three eggs with a pinch of salt. Melt "
          "butter in a nonstick pan over medium heat. Pour in the eggs and stir gently so the "
          "curds stay small. When the omelette is barely set, roll it onto a warm plate.")


async def keywords(client: MeshClient, text: str, **fields: object
                   ) -> text_pb2.ExtractKeywordsResponse:
    return await client.text.ExtractKeywords(
        text_pb2.ExtractKeywordsRequest(text=text, **fields), timeout=60)


async def test_chinese_keywords_with_a_user_dictionary(client: MeshClient) -> None:
    plain = await keywords(client, NEWS, top_k=5)
    assert plain.language == "zh"
    terms = [k.text for k in plain.keywords]
    assert terms[0] == "月球" and "嫦娥六号" not in terms
    assert [k.score for k in plain.keywords] == sorted((k.score for k in plain.keywords),
                                                       reverse=True)
    whole = await keywords(client, NEWS, top_k=5, user_dictionary=["嫦娥六号"])
    assert "嫦娥六号" in [k.text for k in whole.keywords]
    again = await keywords(client, NEWS, top_k=5)  # the dictionary was this call's only
    assert [k.text for k in again.keywords] == terms


async def test_english_keywords_are_phrases_of_the_text(client: MeshClient) -> None:
    reply = await keywords(client, RECIPE, top_k=5)
    assert reply.language == "en" and len(reply.keywords) == 5
    assert "omelette" in reply.keywords[0].text.lower()
    assert all(k.text.lower() in RECIPE.lower() for k in reply.keywords)
    diverse = await keywords(client, RECIPE, top_k=5, diversity=0.7)
    assert sum("omelette" in k.text.lower() for k in diverse.keywords) < \
        sum("omelette" in k.text.lower() for k in reply.keywords)


async def test_bad_keyword_requests(client: MeshClient) -> None:
    await assert_invalid_argument(keywords(client, "  "), "text", "empty")
    await assert_invalid_argument(keywords(client, RECIPE, language="xx"), "language",
                                  "not supported")
    await assert_invalid_argument(keywords(client, RECIPE, diversity=2), "diversity", "[0, 1]")
    await assert_invalid_argument(keywords(client, RECIPE, user_dictionary=["ok", ""]),
                                  "user_dictionary[1]", "not blank")
    only_stopwords = await keywords(client, "and the of it is", language="en")
    assert list(only_stopwords.keywords) == []


async def moderate(client: MeshClient, texts: list[str], **fields: object
                   ) -> list[text_pb2.ModerationResult]:
    reply = await client.text.Moderate(text_pb2.ModerateRequest(texts=texts, **fields),
                                       timeout=60)
    return list(reply.results)


async def test_moderation_by_terms_and_by_meaning_across_languages(client: MeshClient) -> None:
    texts = ["Claim your free prize, just click the link!", "今天天气不错，我们去公园散步。",
             "我要杀了他。", "他在大学代考被抓了", "我们一起来代理考试", "加微信领取优惠"]
    results = await moderate(client, texts)
    flagged = [r.flagged for r in results]
    assert flagged == [True, False, True, True, False, True]
    scores = [{c.category: c.score for c in r.categories} for r in results]
    assert scores[0]["spam"] > scores[0]["violence"] and scores[2]["violence"] > scores[2]["spam"]
    assert [(m.term, m.category, m.start, m.end) for m in results[3].matches] == \
        [("代考", "spam", 4, 6)]
    assert results[5].matched_terms == ["加微信"] and results[5].matches[0].start == 0
    only_violence = await moderate(client, texts[:1], categories=["violence"])
    assert [c.category for c in only_violence[0].categories] == ["violence"]
    assert not only_violence[0].flagged


async def test_a_new_policy_file_takes_effect(client: MeshClient, mesh: Settings) -> None:
    assert not (await moderate(client, ["The class starts at nine."]))[0].flagged
    path = mesh.moderation_policies_dir / "school.yaml"
    path.write_text("threshold: 0.9\nterms: [class]\n", "utf-8")
    try:
        result = (await moderate(client, ["The class starts at nine.", "classic"],
                                 categories=["school"]))
        assert [r.flagged for r in result] == [True, False]  # whole words only
    finally:
        path.unlink()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await moderate(client, ["x"], categories=["school"])
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "spam" in caught.value.details()


async def test_bad_moderation_requests(client: MeshClient) -> None:
    await assert_invalid_argument(client.text.Moderate(text_pb2.ModerateRequest(), timeout=30),
                                  "texts", "at least one text")
    await assert_invalid_argument(client.text.Moderate(text_pb2.ModerateRequest(
        texts=["x"], categories=["nope"]), timeout=30), "categories", "unknown categories")
