"""The pure parts of bench/load.py: the mix, percentiles, the knee, config rewriting and
request shapes."""
from __future__ import annotations

from collections import Counter
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from bench import load
from bench.harness import latency_summary, percentile
from mediamesh.config import SOURCE_ROOT

REPOSITORY = SOURCE_ROOT / "model_repository"


def test_the_mix_keeps_its_ratio_and_spreads_each_call() -> None:
    weights = load.parse_mix(load.DEFAULT_MIX)
    sequence = load.mix_sequence(weights)
    assert Counter(sequence) == weights
    assert all(a != b for a, b in pairwise(sequence))  # no runs of one call


@pytest.mark.parametrize("text", ["", "medley=0", "Nope=2", "medley", "medley=x"])
def test_a_bad_mix_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        load.parse_mix(text)


def test_levels_must_rise() -> None:
    assert load.parse_levels("1,2,4") == [1, 2, 4]
    for text in ("4,2", "0,1", "1,1", ""):
        with pytest.raises(ValueError):
            load.parse_levels(text)


def test_percentiles_interpolate_and_tolerate_no_values() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([], 99) is None
    assert latency_summary([]) == {"p50_ms": None, "p99_ms": None, "mean_ms": None, "calls": 0}


def test_rpc_summary_counts_errors_by_code_and_times_only_successes() -> None:
    outcomes = [load.Outcome("x", 0.010, "OK"), load.Outcome("x", 0.030, "OK"),
                load.Outcome("x", 9.0, "DEADLINE_EXCEEDED"),
                load.Outcome("x", 0.001, "UNAVAILABLE")]
    summary = load.rpc_summary(outcomes, wall_s=2.0)
    assert summary["requests"] == 4 and summary["ok"] == 2
    assert summary["throughput_rps"] == pytest.approx(1.0)
    assert summary["p50_ms"] == pytest.approx(20.0)
    assert summary["error_rate"] == pytest.approx(0.5)
    assert summary["errors"] == {"DEADLINE_EXCEEDED": 1, "UNAVAILABLE": 1}


def test_typical_p99_is_the_geometric_mean_over_rpcs_with_successes() -> None:
    rpcs = {"a": {"p99_ms": 10.0}, "b": {"p99_ms": 1000.0}, "c": {"p99_ms": None}}
    assert load.typical_p99(rpcs) == pytest.approx(100.0)
    assert load.typical_p99({"c": {"p99_ms": None}}) is None


def point(concurrency: int, throughput: float, p99: float | None) -> load.LevelPoint:
    return load.LevelPoint(concurrency, throughput, p99)


def test_the_knee_is_where_throughput_stalls_and_p99_climbs() -> None:
    points = [point(1, 1.0, 100), point(2, 1.9, 110), point(4, 3.0, 150),
              point(8, 3.2, 300), point(16, 3.3, 650)]
    assert load.find_knee(points) == 4


def test_no_knee_while_throughput_still_grows_or_latency_holds() -> None:
    growing = [point(1, 1.0, 100), point(2, 1.9, 200), point(4, 3.5, 400)]
    assert load.find_knee(growing) is None  # latency rises, but so does throughput
    flat_but_fast = [point(1, 1.0, 100), point(2, 1.05, 120)]
    assert load.find_knee(flat_but_fast) is None  # a stall without a latency cost
    assert load.find_knee([point(1, 1.0, None), point(2, 1.0, 500)]) is None
    assert load.find_knee([point(4, 3.0, 150)]) is None


def test_dynamic_batching_is_removed_whether_one_line_or_a_block() -> None:
    config = ('# joins each dynamic batch into one run\nname: "m"\nmax_batch_size: 8\n'
              'dynamic_batching { max_queue_delay_microseconds: 0 }\n'
              'parameters { key: "a" value: { string_value: "1" } }\n')
    assert load.has_dynamic_batching(config)
    stripped = load.without_dynamic_batching(config)
    assert not load.has_dynamic_batching(stripped)
    assert stripped == config.replace(
        "dynamic_batching { max_queue_delay_microseconds: 0 }\n", "")
    block = ('name: "m"\ndynamic_batching {\n  preferred_batch_size: [ 4, 8 ]\n'
             '  default_queue_policy { timeout_action: REJECT }  # {\n}\n'
             'instance_group [ { count: 1 } ]\n')
    assert load.without_dynamic_batching(block) == 'name: "m"\ninstance_group [ { count: 1 } ]\n'
    assert not load.has_dynamic_batching("# dynamic_batching { } in a comment\n")


def test_every_batching_model_of_the_repository_has_a_request_shape() -> None:
    models = load.batching_models(REPOSITORY, "cpu")
    assert "green_keyer" in models and "silero_vad" not in models  # max_batch_size 0
    assert set(models) <= set(load.REQUESTS)


def test_the_unbatched_repository_links_models_and_drops_only_the_batcher(
        tmp_path: Path) -> None:
    load.write_unbatched_repository(REPOSITORY, tmp_path, ["green_keyer"], "cpu")
    folder = tmp_path / "green_keyer"
    assert (folder / "1").is_symlink() and (folder / "1").resolve() == \
        (REPOSITORY / "green_keyer" / "1").resolve()
    config = (folder / "configs" / "cpu.pbtxt").read_text()
    source = (REPOSITORY / "green_keyer" / "configs" / "cpu.pbtxt").read_text()
    assert not load.has_dynamic_batching(config) and "max_batch_size: 8" in config
    assert config == load.without_dynamic_batching(source)


def test_request_inputs_follow_the_config_and_the_services_shape() -> None:
    config = {"input": [{"name": "chroma", "data_type": "TYPE_UINT8", "dims": ["2", "-1", "-1"]},
                        {"name": "params", "data_type": "TYPE_FP32", "dims": ["5"]}]}
    feed = load.request_inputs(config, load.REQUESTS["green_keyer"])
    assert feed["chroma"].shape == (4, 2, 180, 320) and feed["chroma"].dtype == np.uint8
    assert feed["params"].shape == (4, 5) and feed["params"].dtype == np.float32
    text = {"input": [{"name": "input_ids", "data_type": "TYPE_INT64", "dims": ["-1"]},
                      {"name": "attention_mask", "data_type": "TYPE_INT64", "dims": ["-1"]}]}
    feed = load.request_inputs(text, load.REQUESTS["sentence_encoder"])
    assert feed["input_ids"].shape == feed["attention_mask"].shape == (1, 16)
    assert feed["input_ids"].min() >= 1 and (feed["attention_mask"] == 1).all()
