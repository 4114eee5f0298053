"""The workflow language: what loads, and every problem reported with its line."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from mediamesh.config import SOURCE_ROOT
from mediamesh.v1 import common_pb2, vision_pb2
from orchestrator import arguments, expressions
from orchestrator.contracts import resolve
from orchestrator.inputs import validate_inputs
from orchestrator.workflow_spec import WorkflowInvalid, load_workflow
from orchestrator.yaml_source import load_located

GOOD = """
name: demo
version: 1
inputs:
  clips: {type: "media[]", min_items: 1}
  backdrop: {type: media, required: false}
  low: {type: number, default: 20, min: 0, max: 254}
  mode: {type: enum, values: [composite, alpha], default: composite}
steps:
  - id: key
    call: vision.KeyGreenScreen
    foreach: ${inputs.clips}
    concurrency: 2
    when: ${inputs.mode == 'composite'}
    with:
      input: ${item}
      background_image: ${inputs.backdrop}
      threshold_low: ${inputs.low}
      output_mode: COMPOSITE
      output: {uri: "out/clip-${index}.mp4", overwrite: true}
    retry: {max_attempts: 3, backoff: 0.5, retry_on: [UNAVAILABLE]}
    timeout: 30
  - id: again
    call: vision.KeyGreenScreen
    foreach: ${steps.key.outputs[*].output}
    with:
      input: ${item}
outputs:
  keyed: ${steps.key.outputs[*].output.uri}
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorkflowInvalid) as caught:
        load_workflow(text)
    assert caught.value.code.value == "INVALID_ARGUMENT"
    return [str(p) for p in caught.value.problems]


def test_a_good_workflow_loads_with_its_graph() -> None:
    workflow = load_workflow(GOOD)
    assert workflow.name == "demo" and workflow.version == "1"
    key, again = workflow.steps
    assert key.rpc.path == "/mediamesh.v1.VisionService/KeyGreenScreen" and key.rpc.streaming
    assert key.needs == () and again.needs == ("key",)  # implicit from the reference
    assert key.concurrency == 2 and key.timeout_s == 30
    assert key.retry.max_attempts == 3 and key.retry.retry_on == ("UNAVAILABLE",)
    assert key.retry.delay_before(2) == 0.5 and key.retry.delay_before(3) == 1.0
    assert workflow.order() == ["key", "again"]
    assert workflow.inputs["low"].required is False and workflow.inputs["clips"].required


def test_shipped_workflows_load() -> None:
    for path in sorted((SOURCE_ROOT / "workflows").glob("*.yaml")):
        assert load_workflow(path.read_text()).name == path.stem


@pytest.mark.parametrize("fragment,expected", [
    ("call: vision.KeyGreenscreen", "line 11: steps[0].call: unknown RPC 'vision.KeyGreenscreen'; "
                                    "did you mean vision.KeyGreenScreen?"),
    ("call: sound.Mix", "unknown service 'sound'"),
])
def test_unknown_calls(fragment: str, expected: str) -> None:
    text = GOOD.replace("call: vision.KeyGreenScreen", fragment, 1)
    assert any(expected in p for p in problems_of(text))


def test_every_problem_is_listed_with_its_line() -> None:
    text = """name: broken
version: 1
inputs:
  song: {type: media}
steps:
  - id: one
    call: vision.KeyGreenScreen
    needs: [two]
    with:
      input: ${inputs.songs}
      threshold_low: ${item}
      output_mode: NOPE
      colour: red
  - id: two
    call: vision.KeyGreenScreen
    with:
      input: ${steps.one.outputs.outptu}
      threshold_high: ${inputs.song}
outputs:
  x: ${steps.nothere.outputs}
"""
    found = problems_of(text)
    expected = [
        "line 10: steps[0].with.input: ${inputs.songs}: no input named 'songs'",
        "line 11: steps[0].with.threshold_low: ${item}: 'item' is only defined inside a step "
        "with foreach",
        "line 12: steps[0].with.output_mode: expects one of KEY_OUTPUT_MODE_UNSPECIFIED",
        "line 13: steps[0].with.colour: 'colour' is not a field of KeyGreenScreenRequest",
        "line 17: steps[1].with.input: ${steps.one.outputs.outptu}: KeyGreenScreenResult has no "
        "field 'outptu'",
        "line 18: steps[1].with.threshold_high: expects float, but ${inputs.song} gives media",
        "line 20: outputs.x: ${steps.nothere.outputs}: no step named 'nothere'",
        "steps: the steps form a cycle:",
    ]
    for text_start in expected:
        assert any(p.startswith(text_start) or text_start in p for p in found), (text_start, found)
    assert len(found) == len(expected)


def test_schema_errors_name_the_field_and_line() -> None:
    found = problems_of("name: x\nversion: 1\nsteps:\n  - id: a\n    cal: vision.Fingerprint\n")
    assert any("line 4: steps[0]: Additional properties are not allowed ('cal' was unexpected)"
               == p for p in found)
    assert any("'call' is a required property" in p for p in found)
    assert problems_of("name: Bad Name\nversion: 1\nsteps: []\n")  # pattern and minItems


@pytest.mark.parametrize("text,expected", [
    ("name: [unclosed", "invalid YAML"),
    ("a: 1\na: 2\n", "line 2: duplicate key 'a'"),
    ("name: x\n---\nname: y\n", "exactly one YAML document"),
    ("!!python/object:os.system {}", "tag tag:yaml.org,2002:python/object:os.system is not "
                                     "allowed"),
])
def test_yaml_errors(text: str, expected: str) -> None:
    assert any(expected in p for p in problems_of(text))


def test_alias_bomb_is_refused_quickly() -> None:
    """Found by the fuzz: eleven lines of nested aliases (9**11 values once expanded) kept
    ValidateWorkflow walking them on the orchestrator's event loop until the liveness
    watchdog killed it."""
    lines = ["l1: &l1 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(2, 12)]
    started = time.perf_counter()
    found = problems_of("\n".join(lines) + "\n")
    assert time.perf_counter() - started < 2.0
    assert any("more than 50000 values" in p and "alias" in p for p in found)


def test_a_few_aliases_still_work() -> None:
    located = load_located("a: &retry {max_attempts: 3}\nb: *retry\nc: [*retry, *retry]\n")
    assert located.data["c"] == [{"max_attempts": 3}] * 2 == [located.data["b"]] * 2


def test_self_reference_and_duplicate_ids() -> None:
    text = GOOD.replace("      input: ${item}\noutputs", "      input: ${steps.again.outputs}\n"
                        "outputs").replace("id: again", "id: key")
    found = problems_of(text)
    assert any("duplicate step id 'key'" in p for p in found)


def test_foreach_needs_a_list() -> None:
    text = GOOD.replace("foreach: ${inputs.clips}", "foreach: ${inputs.low}")
    assert any("foreach needs a list, but input 'low' is number" in p for p in problems_of(text))


def test_expressions_extract_references_and_render() -> None:
    expr = expressions.parse("steps.chorus.outputs[*].segment")
    assert expr.references() == [("steps", "chorus", "outputs", "*", "segment")]
    context = {"inputs": {"n": 3, "l": [{"uri": "a"}, {"uri": "b"}]}, "index": 2}
    assert expressions.render({"a": "${inputs.n}", "b": "clip-${index}.mp4",
                               "c": "${inputs.l[*].uri}"}, context) == \
        {"a": 3, "b": "clip-2.mp4", "c": ["a", "b"]}
    with pytest.raises(expressions.ExpressionError):
        expressions.parse("inputs.[")


def test_arguments_become_the_request_message() -> None:
    rpc = resolve("vision.KeyGreenScreen")
    request = arguments.to_request(rpc.request, {
        "input": "clips/a.mp4", "output_mode": "ALPHA_ONLY", "threshold_low": 12,
        "background_image": {"uri": "b.png"}, "output": {"uri": "o.mp4", "overwrite": True}})
    assert isinstance(request, vision_pb2.KeyGreenScreenRequest)
    assert request.input.uri == "clips/a.mp4"
    assert request.output_mode == vision_pb2.KEY_OUTPUT_MODE_ALPHA_ONLY
    assert request.threshold_low == 12 and request.output.overwrite
    result = vision_pb2.KeyGreenScreenResult(output=common_pb2.MediaRef(uri="o.mp4"), frames=3)
    assert arguments.to_outputs(result) == {"output": {"uri": "o.mp4"}, "frames": "3"}


def test_inputs_are_checked_and_normalised() -> None:
    workflow = load_workflow(GOOD)
    values = validate_inputs(workflow, {"clips": ["a.mp4", {"uri": "b.mp4"}]},
                             media_exists=lambda uri: True)
    assert values == {"clips": [{"uri": "a.mp4"}, {"uri": "b.mp4"}], "low": 20,
                      "mode": "composite"}
    with pytest.raises(WorkflowInvalid) as caught:
        validate_inputs(workflow, {"clips": [], "low": 300, "mode": "x", "extra": 1,
                                   "backdrop": 5}, media_exists=lambda uri: True)
    found = [str(p) for p in caught.value.problems]
    assert "inputs.extra: unknown input (this workflow takes: clips, backdrop, low, mode)" in found
    assert "inputs.clips: needs at least 1 items, got 0" in found
    assert "inputs.low: must be <= 254, got 300" in found
    assert "inputs.mode: expects one of composite, alpha, got 'x'" in found
    assert "inputs.backdrop: expects media (a uri string), got 5" in found
    with pytest.raises(WorkflowInvalid, match="media 'gone.mp4' does not exist"):
        validate_inputs(workflow, {"clips": ["gone.mp4"]}, media_exists=lambda uri: False)
    with pytest.raises(WorkflowInvalid, match="inputs.clips: is required"):
        validate_inputs(workflow, {})


def test_schema_file_is_valid_json_schema() -> None:
    import jsonschema

    from orchestrator.workflow_spec import schema

    jsonschema.Draft202012Validator.check_schema(schema())
    assert Path(SOURCE_ROOT / "orchestrator" / "workflow.schema.json").exists()
