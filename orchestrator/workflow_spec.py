"""Workflow YAML -> a checked `Workflow`, or every problem with its line.

Checked at submit time, never at run time: the JSON Schema (shape, unknown fields), then the
meaning: unknown services/RPCs, `with:` keys and value types against the request message,
references to undeclared inputs or missing steps, output paths against the result message,
`${item}` outside a `foreach`, and cycles in the step graph.
"""
from __future__ import annotations

import functools
import graphlib
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jsonschema

from mediamesh.errors import MeshError, StatusCode
from orchestrator import arguments, expressions
from orchestrator.contracts import RpcInfo, is_repeated, resolve
from orchestrator.yaml_source import Located, YamlError, load_located

LIST_TYPES = {"media[]": "media", "string[]": "string"}
DEFAULT_RETRY_ON = ("UNAVAILABLE", "DEADLINE_EXCEEDED")
DEFAULT_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Problem:
    path: str  # e.g. "steps[1].with.input"
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path}: {self.message}" if self.path else f"{where}{self.message}"


class WorkflowInvalid(MeshError):
    """INVALID_ARGUMENT listing every problem of a workflow (or of a run's inputs)."""

    def __init__(self, problems: list[Problem], what: str = "workflow") -> None:
        self.problems = problems
        lines = "; ".join(str(p) for p in problems)
        super().__init__(f"{what} has {len(problems)} problem(s): {lines}",
                         StatusCode.INVALID_ARGUMENT, "WORKFLOW_INVALID")


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str  # media, media[], number, integer, string, string[], bool, enum
    required: bool
    default: Any = None
    values: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_items: int | None = None
    max_items: int | None = None
    description: str = ""

    @property
    def value_type(self) -> arguments.ValueType:
        if self.type in LIST_TYPES:
            return LIST_TYPES[self.type], True
        return ("string" if self.type == "enum" else self.type), False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 1
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    retry_on: tuple[str, ...] = DEFAULT_RETRY_ON

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (2, 3, ...)."""
        return min(self.max_backoff_s, self.backoff_s * 2 ** max(0, attempt - 2))


@dataclass(frozen=True)
class StepSpec:
    id: str
    call: str
    rpc: RpcInfo
    arguments: dict[str, Any]
    needs: tuple[str, ...]  # explicit `needs` plus every step referenced by an expression
    foreach: expressions.Expression | None = None
    concurrency: int = 4
    when: expressions.Expression | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class Workflow:
    name: str
    version: str
    description: str
    inputs: dict[str, InputSpec]
    steps: tuple[StepSpec, ...]
    outputs: dict[str, Any]
    source: str  # the YAML text, kept with each run so a run never changes under it

    def step(self, step_id: str) -> StepSpec:
        return self._by_id[step_id]

    def order(self) -> list[str]:
        """Step ids in an order where every step comes after what it needs."""
        return list(self._order)

    # Computed once per workflow: the scheduler asks on every transition of every run.
    @functools.cached_property
    def _by_id(self) -> dict[str, StepSpec]:
        return {s.id: s for s in self.steps}

    @functools.cached_property
    def _order(self) -> tuple[str, ...]:
        sorter = graphlib.TopologicalSorter({s.id: set(s.needs) for s in self.steps})
        return tuple(sorter.static_order())


def schema() -> dict[str, Any]:
    text = resources.files("orchestrator").joinpath("workflow.schema.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


_VALIDATOR = jsonschema.Draft202012Validator(schema())


def format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Checker:
    """Collects problems with their source positions."""

    def __init__(self, located: Located) -> None:
        self.located = located
        self.problems: list[Problem] = []

    def report(self, path: tuple[str | int, ...], message: str) -> None:
        line, column = self.located.where(path)
        self.problems.append(Problem(format_path(path), line, column, message))


def load_workflow(text: str) -> Workflow:
    """Parse and check a workflow; WorkflowInvalid lists every problem found."""
    try:
        located = load_located(text)
    except YamlError as exc:
        raise WorkflowInvalid([Problem("", exc.line, exc.column, str(exc))]) from exc
    checker = _Checker(located)
    data = located.data
    if not isinstance(data, dict):
        raise WorkflowInvalid([Problem("", 1, 1, "a workflow is a mapping with name, "
                                                 "version and steps")])
    for error in sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(map(str, e.path))):
        checker.report(tuple(error.absolute_path), error.message)
    if checker.problems:
        raise WorkflowInvalid(checker.problems)
    workflow = _build(data, text, checker)
    if checker.problems:
        raise WorkflowInvalid(checker.problems)
    assert workflow is not None
    return workflow


def _build(data: dict[str, Any], text: str, checker: _Checker) -> Workflow | None:
    inputs = {name: _input_spec(name, spec, checker) for name, spec in
              (data.get("inputs") or {}).items()}
    step_ids = [s["id"] for s in data["steps"]]
    for i, step_id in enumerate(step_ids):
        if step_ids.index(step_id) != i:
            checker.report(("steps", i, "id"), f"duplicate step id '{step_id}'")
    rpcs: dict[str, RpcInfo] = {}
    for i, step in enumerate(data["steps"]):
        try:
            rpcs[step["id"]] = resolve(step["call"])
        except KeyError as exc:
            checker.report(("steps", i, "call"), str(exc.args[0]))
    steps = []
    deps: dict[str, set[str]] = {}
    for i, step in enumerate(data["steps"]):
        spec = _step_spec(i, step, inputs, data["steps"], rpcs, checker, deps)
        if spec is not None:
            steps.append(spec)
    outputs = data.get("outputs") or {}
    _check_expressions(("outputs",), outputs, None, inputs, data["steps"], rpcs, checker)
    _check_cycles(deps, checker)
    if checker.problems:
        return None
    return Workflow(data["name"], str(data["version"]), data.get("description", ""), inputs,
                    tuple(steps), outputs, text)


def _input_spec(name: str, spec: dict[str, Any], checker: _Checker) -> InputSpec:
    has_default = "default" in spec
    result = InputSpec(
        name, spec["type"], bool(spec.get("required", not has_default)), spec.get("default"),
        tuple(spec.get("values", ())), spec.get("min"), spec.get("max"),
        spec.get("min_items"), spec.get("max_items"), spec.get("description", ""))
    if has_default and spec["default"] is not None:
        from orchestrator.inputs import check_input_value

        for message in check_input_value(result, spec["default"]):
            checker.report(("inputs", name, "default"), message)
    return result


def _step_spec(i: int, step: dict[str, Any], inputs: dict[str, InputSpec],
               all_steps: list[dict[str, Any]], rpcs: dict[str, RpcInfo],
               checker: _Checker, deps: dict[str, set[str]]) -> StepSpec | None:
    base: tuple[str | int, ...] = ("steps", i)
    foreach = _parse(step.get("foreach"), (*base, "foreach"), checker)
    when = _parse(step.get("when"), (*base, "when"), checker)
    in_foreach = foreach is not None
    referenced: set[str] = set()
    for key in ("foreach", "when"):
        if key in step:
            referenced |= _check_expressions((*base, key), step[key], step, inputs, all_steps,
                                             rpcs, checker, allow_item=in_foreach and key == "when")
    values = step.get("with") or {}
    referenced |= _check_expressions((*base, "with"), values, step, inputs, all_steps, rpcs,
                                     checker, allow_item=in_foreach)
    ids = {s["id"] for s in all_steps}
    for j, need in enumerate(step.get("needs", [])):
        if need not in ids:
            checker.report((*base, "needs", j), f"needs unknown step '{need}'")
        elif need == step["id"]:
            checker.report((*base, "needs", j), "a step cannot need itself")
    if foreach is not None:
        _check_foreach_is_list(foreach, (*base, "foreach"), inputs, checker)
    known = set(step.get("needs", [])) & ids
    deps[step["id"]] = (known | referenced) - {step["id"]}
    rpc = rpcs.get(step["id"])
    if rpc is None:
        return None
    infer = _inferrer(step, inputs, all_steps, rpcs)
    arguments.check_arguments(rpc.request, values, (*base, "with"), infer, checker.report)
    retry = step.get("retry") or {}
    policy = RetryPolicy(retry.get("max_attempts", 1), float(retry.get("backoff", 1.0)),
                         float(retry.get("max_backoff", 30.0)),
                         tuple(retry.get("retry_on", DEFAULT_RETRY_ON)))
    needs = tuple(sorted(set(step.get("needs", [])) | (referenced - {step["id"]})))
    return StepSpec(step["id"], step["call"], rpc, values, needs, foreach,
                    int(step.get("concurrency", 4)), when, policy,
                    float(step.get("timeout", DEFAULT_TIMEOUT_S)))


def _parse(text: str | None, path: tuple[str | int, ...],
           checker: _Checker) -> expressions.Expression | None:
    if text is None:
        return None
    try:
        return expressions.whole(text)
    except expressions.ExpressionError as exc:
        checker.report(path, str(exc))
        return None


def _check_expressions(path: tuple[str | int, ...], value: Any, step: dict[str, Any] | None,
                       inputs: dict[str, InputSpec], all_steps: list[dict[str, Any]],
                       rpcs: dict[str, RpcInfo], checker: _Checker, *,
                       allow_item: bool = False) -> set[str]:
    """Check every reference inside `value`; returns the ids of the steps it refers to."""
    referenced: set[str] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            referenced |= _check_expressions((*path, key), child, step, inputs, all_steps,
                                             rpcs, checker, allow_item=allow_item)
        return referenced
    if isinstance(value, list):
        for k, child in enumerate(value):
            referenced |= _check_expressions((*path, k), child, step, inputs, all_steps,
                                             rpcs, checker, allow_item=allow_item)
        return referenced
    if not isinstance(value, str):
        return referenced
    try:
        found = expressions.find(value)
    except expressions.ExpressionError as exc:
        checker.report(path, str(exc))
        return referenced
    ids = {s["id"]: s for s in all_steps}
    for expression in found:
        for ref in expression.references():
            root = ref[0]
            if root not in expressions.ROOTS:
                checker.report(path, f"${{{expression.source}}}: unknown name '{root}'; use "
                                     "inputs.<name>, steps.<id>.outputs, item or index")
            elif root in ("item", "index") and not allow_item:
                checker.report(path, f"${{{expression.source}}}: '{root}' is only defined "
                                     "inside a step with foreach")
            elif root == "inputs" and (len(ref) < 2 or ref[1] not in inputs):
                name = ref[1] if len(ref) > 1 else ""
                checker.report(path, f"${{{expression.source}}}: no input named '{name}' "
                                     f"(inputs: {', '.join(inputs) or 'none'})")
            elif root == "steps":
                target = ref[1] if len(ref) > 1 else None
                if not isinstance(target, str) or target not in ids:
                    checker.report(path, f"${{{expression.source}}}: no step named "
                                         f"'{target}' (steps: {', '.join(ids)})")
                    continue
                if step is not None and target == step["id"]:
                    checker.report(path, f"${{{expression.source}}}: a step cannot use "
                                         "its own outputs")
                    continue
                referenced.add(target)
                if len(ref) > 2 and ref[2] != "outputs":
                    checker.report(path, f"${{{expression.source}}}: a step exposes only "
                                         f"'outputs' (steps.{target}.outputs...)")
                elif target in rpcs:
                    walked = walk_outputs(ref[3:], ids[target], rpcs[target])
                    if walked.problem:
                        checker.report(path, f"${{{expression.source}}}: {walked.problem}")
    return referenced


@dataclass(frozen=True)
class OutputPath:
    """Where `outputs...` leads in a step's result message."""

    kind: str | None  # arguments.ValueType kind; None when not known
    is_list: bool
    problem: str | None = None  # set when the path cannot exist


def walk_outputs(rest: tuple[str | int, ...], target: dict[str, Any],
                 rpc: RpcInfo) -> OutputPath:
    """Follow `rest` (the path after `steps.<id>.outputs`) through the result message.

    One walk serves both the check (a field that does not exist, an index on a single
    value) and type inference for `with:` values. A foreach step's outputs are a list of
    results: `[*]` keeps it a list, `[i]` picks one.
    """
    outer_list = False
    if "foreach" in target:
        if not rest:
            return OutputPath(rpc.result.full_name, True)
        if rest[0] == "*" or isinstance(rest[0], int):
            outer_list, rest = rest[0] == "*", rest[1:]
    descriptor = rpc.result
    kind: str | None = descriptor.full_name
    is_list = False
    for part in rest:
        if part == "*" or isinstance(part, int):
            if not is_list:
                name = descriptor.name if descriptor else "value"
                return OutputPath(None, False, f"cannot index a single {name}")
            outer_list = outer_list or part == "*"
            is_list = False
            continue
        if descriptor is None:
            return OutputPath(None, False)  # past a scalar: nothing more to know
        field = descriptor.fields_by_name.get(part)
        if field is None:
            known = ", ".join(f.name for f in descriptor.fields)
            return OutputPath(None, False, f"{descriptor.name} has no field '{part}' "
                                           f"(fields: {known})")
        is_list = is_repeated(field)
        descriptor = field.message_type
        kind = _kind_of(field)
    return OutputPath(kind, is_list or outer_list)


def _check_foreach_is_list(expression: expressions.Expression, path: tuple[str | int, ...],
                           inputs: dict[str, InputSpec], checker: _Checker) -> None:
    refs = expression.references()
    if len(refs) == 1 and refs[0][0] == "inputs" and len(refs[0]) == 2:
        spec = inputs.get(str(refs[0][1]))
        if spec is not None and spec.type not in LIST_TYPES:
            checker.report(path, f"foreach needs a list, but input '{spec.name}' is "
                                 f"{spec.type}")


def _inferrer(step: dict[str, Any], inputs: dict[str, InputSpec],
              all_steps: list[dict[str, Any]], rpcs: dict[str, RpcInfo]) -> arguments.Infer:
    """What an expression in this step is known to produce (None when not known)."""
    foreach = step.get("foreach")

    def infer(expression: expressions.Expression) -> arguments.ValueType | None:
        refs = expression.references()
        if len(refs) != 1 or not expression.is_path() or expression.ast["type"] not in (
                "field", "subexpression", "index_expression", "projection"):
            return None
        ref = refs[0]
        if ref[0] == "inputs" and len(ref) == 2 and str(ref[1]) in inputs:
            return inputs[str(ref[1])].value_type
        if ref == ("index",):
            return "integer", False
        if ref == ("item",) and isinstance(foreach, str):
            source = expressions.whole(foreach)
            if source is not None:
                inner = infer(source)
                if inner is not None and inner[1]:
                    return inner[0], False
            return None
        if ref[0] == "steps" and len(ref) >= 3 and ref[1] in rpcs:
            found = walk_outputs(ref[3:], next(s for s in all_steps if s["id"] == ref[1]),
                                 rpcs[str(ref[1])])
            return (found.kind, found.is_list) if found.kind and not found.problem else None
        return None

    return infer


def _kind_of(field: Any) -> str:
    from google.protobuf.descriptor import FieldDescriptor

    if field.message_type is not None:
        return "media" if field.message_type.full_name == arguments.MEDIA_REF \
            else field.message_type.full_name
    if field.enum_type is not None or field.type == FieldDescriptor.TYPE_STRING:
        return "string"
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "bool"
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return "number"
    return "integer"


def _check_cycles(deps: dict[str, set[str]], checker: _Checker) -> None:
    sorter = graphlib.TopologicalSorter(deps)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        checker.report(("steps",), f"the steps form a cycle: {' -> '.join(cycle)}")
