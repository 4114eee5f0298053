"""A run's inputs against the workflow's declared inputs: types, ranges, media that exists.

Rejected at submit, every problem at once. Media inputs are normalised to MediaRef
objects ({"uri": ...}) so steps receive what their request fields expect.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator.workflow_spec import InputSpec, Workflow


def _media_uri(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, dict) and isinstance(value.get("uri"), str) and value["uri"].strip():
        return str(value["uri"])
    return None


def _scalar_problem(spec: InputSpec, kind: str, value: Any) -> str | None:
    if kind == "media":
        return None if _media_uri(value) else f"expects media (a uri string), got {value!r}"
    if kind == "bool":
        return None if isinstance(value, bool) else f"expects true or false, got {value!r}"
    if kind == "string":
        return None if isinstance(value, str) else f"expects a string, got {value!r}"
    if kind == "enum":
        if value not in spec.values:
            return f"expects one of {', '.join(spec.values)}, got {value!r}"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expects a number, got {value!r}"
    if kind == "integer" and not float(value).is_integer():
        return f"expects an integer, got {value!r}"
    if spec.minimum is not None and value < spec.minimum:
        return f"must be >= {spec.minimum}, got {value}"
    if spec.maximum is not None and value > spec.maximum:
        return f"must be <= {spec.maximum}, got {value}"
    return None


def check_input_value(spec: InputSpec, value: Any) -> list[str]:
    """Every problem with `value` for this input (empty when it fits)."""
    if spec.type.endswith("[]"):
        if not isinstance(value, list):
            return [f"expects a list ({spec.type}), got {type(value).__name__}"]
        problems = []
        if spec.min_items is not None and len(value) < spec.min_items:
            problems.append(f"needs at least {spec.min_items} items, got {len(value)}")
        if spec.max_items is not None and len(value) > spec.max_items:
            problems.append(f"takes at most {spec.max_items} items, got {len(value)}")
        kind = spec.type[:-2]
        for i, item in enumerate(value):
            problem = _scalar_problem(spec, kind, item)
            if problem:
                problems.append(f"[{i}] {problem}")
        return problems
    problem = _scalar_problem(spec, spec.type, value)
    return [problem] if problem else []


def _normalise(spec: InputSpec, value: Any) -> Any:
    if spec.type == "media":
        return {"uri": _media_uri(value)}
    if spec.type == "media[]":
        return [{"uri": _media_uri(v)} for v in value]
    return value


def validate_inputs(workflow: Workflow, values: dict[str, Any],
                    media_exists: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """Normalised inputs with defaults applied; WorkflowInvalid lists every problem."""
    from orchestrator.workflow_spec import Problem, WorkflowInvalid

    problems: list[Problem] = []

    def report(name: str, message: str) -> None:
        problems.append(Problem(f"inputs.{name}", 0, 0, message))

    for name in values:
        if name not in workflow.inputs:
            report(name, f"unknown input (this workflow takes: "
                         f"{', '.join(workflow.inputs) or 'no inputs'})")
    result: dict[str, Any] = {}
    for name, spec in workflow.inputs.items():
        if name not in values or values[name] is None:
            if spec.required:
                report(name, f"is required ({spec.type})")
            elif spec.default is not None:
                result[name] = _normalise(spec, spec.default)
            continue
        found = check_input_value(spec, values[name])
        for message in found:
            report(name, message)
        if found:
            continue
        result[name] = _normalise(spec, values[name])
        if media_exists and spec.type in ("media", "media[]"):
            refs = result[name] if isinstance(result[name], list) else [result[name]]
            for ref in refs:
                if not media_exists(ref["uri"]):
                    report(name, f"media '{ref['uri']}' does not exist")
    if problems:
        raise WorkflowInvalid(problems, what="inputs")
    return result
