"""Workflow `${...}` expressions: balanced braces, multiselect hashes, typed substitution."""
from __future__ import annotations

import pytest

from orchestrator import expressions


def test_multiselect_hash_stays_inside_its_expression() -> None:
    text = "${steps.chorus.outputs[*].{audio: audio, rhythm: rhythm}}"
    expr = expressions.whole(text)
    assert expr is not None
    context = {"steps": {"chorus": {"outputs": [{"audio": "a.wav", "rhythm": 1, "x": 0},
                                                {"audio": "b.wav", "rhythm": 2, "x": 0}]}}}
    assert expressions.render(text, context) == [{"audio": "a.wav", "rhythm": 1},
                                                 {"audio": "b.wav", "rhythm": 2}]
    # the projected list is the reference checked against the workflow; the hash is computed
    assert expr.references() == [("steps", "chorus", "outputs", "*")]
    assert not expr.is_path()


def test_plain_paths_are_paths() -> None:
    expr = expressions.whole("${steps.rhythm.outputs[*].audio}")
    assert expr is not None and expr.is_path()
    assert expr.references() == [("steps", "rhythm", "outputs", "*", "audio")]


def test_templates_interpolate_each_expression() -> None:
    context = {"index": 3, "inputs": {"name": "x"}}
    assert expressions.render("clip-${index}-${inputs.name}.mp4", context) == "clip-3-x.mp4"
    assert expressions.whole("clip-${index}.mp4") is None
    assert expressions.render("${ '}' }", {}) == "}"  # braces inside quotes do not close


def test_unclosed_expression_is_reported() -> None:
    with pytest.raises(expressions.ExpressionError, match="unclosed"):
        expressions.find("take ${inputs.songs")


def test_names_relative_to_a_pipe_or_a_projection_are_not_references() -> None:
    expr = expressions.parse("[steps.a.outputs.cues[*].{text: text, kind: 'subtitle'}, "
                             "[{text: steps.b.outputs.transcript}]][] | [?text]")
    assert sorted(expr.references()) == [("steps", "a", "outputs", "cues", "*"),
                                         ("steps", "b", "outputs", "transcript")]
    context = {"steps": {"a": {"outputs": {"cues": [{"text": "hi"}, {"text": ""}]}},
                         "b": {"outputs": {"transcript": "said"}}}}
    assert expr.evaluate(context) == [{"text": "hi", "kind": "subtitle"}, {"text": "said"}]
    skipped = {"steps": {"a": {"outputs": None}, "b": {"outputs": {"transcript": ""}}}}
    assert expr.evaluate(skipped) == []
    filtered = expressions.parse("inputs.clips[?size > `3`].name")
    assert filtered.references() == [("inputs", "clips")]


@pytest.mark.parametrize("source", ["[" * 5000, "(" * 2000 + "a" + ")" * 2000,
                                    "!" * 999 + "a", "a | " * 249 + "a",
                                    "inputs.songs" + "[*]" * 300,
                                    "`" + "[" * 400 + "1" + "]" * 400 + "`"])
def test_deeply_nested_expressions_are_refused_not_a_recursion_error(source: str) -> None:
    """Found by the fuzz: 5000 brackets in a workflow's output made ValidateWorkflow answer
    INTERNAL (jmespath's parser recursed past Python's limit)."""
    with pytest.raises(expressions.ExpressionError, match="nested too deeply|characters long|"
                                                          "not a valid expression"):
        expressions.parse(source)


def test_long_flat_expressions_still_parse() -> None:
    parsed = expressions.parse("steps.a" + ".b" * 400)
    assert parsed.references() == [("steps", "a", *["b"] * 400)]
