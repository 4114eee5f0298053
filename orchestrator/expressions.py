"""`${...}` expressions in workflows: JMESPath over {inputs, steps, item, index}.

Why JMESPath: a well-kept, specified query language (projections like
`steps.chorus.outputs[*].segment`, comparisons, `length()`), evaluated safely — no Python
eval. A value that is exactly one `${...}` keeps its type; `${...}` inside a longer string
is interpolated as text.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import Parser

_EXPRESSION = re.compile(r"\$\{(.*?)\}", re.DOTALL)
ROOTS = ("inputs", "steps", "item", "index")

#: A reference path: field names, "*" for a projection, ints for indexes.
RefPath = tuple[str | int, ...]


class ExpressionError(ValueError):
    """An expression does not parse or does not evaluate."""


@dataclass(frozen=True)
class Expression:
    source: str  # the text inside ${ }
    ast: dict[str, Any]

    def references(self) -> list[RefPath]:
        return list(_paths(self.ast))

    def evaluate(self, context: dict[str, Any]) -> Any:
        try:
            return jmespath.search(self.source, context)
        except JMESPathError as exc:
            raise ExpressionError(f"${{{self.source}}}: {exc}") from exc


def parse(source: str) -> Expression:
    try:
        return Expression(source, Parser().parse(source).parsed)
    except JMESPathError as exc:
        raise ExpressionError(f"${{{source}}} is not a valid expression: {exc}") from exc


def find(text: str) -> list[Expression]:
    """Every ${...} in a string, parsed."""
    return [parse(m.group(1).strip()) for m in _EXPRESSION.finditer(text)]


def whole(text: str) -> Expression | None:
    """The expression when `text` is exactly one ${...} (typed substitution), else None."""
    match = _EXPRESSION.fullmatch(text.strip())
    return parse(match.group(1).strip()) if match else None


def render(value: Any, context: dict[str, Any]) -> Any:
    """Substitute every expression in a (nested) value."""
    if isinstance(value, str):
        single = whole(value)
        if single is not None:
            return single.evaluate(context)

        def text(match: re.Match[str]) -> str:
            result = parse(match.group(1).strip()).evaluate(context)
            return result if isinstance(result, str) else json.dumps(result)
        return _EXPRESSION.sub(text, value)
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    return value


def expressions_in(value: Any) -> Iterator[Expression]:
    """Every expression inside a (nested) value."""
    if isinstance(value, str):
        yield from find(value)
    elif isinstance(value, list):
        for v in value:
            yield from expressions_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from expressions_in(v)


def _chain(node: dict[str, Any]) -> RefPath | None:
    """The reference path of a field/subexpression/index/projection chain, if it is one."""
    kind = node["type"]
    if kind == "field":
        return (node["value"],)
    if kind == "subexpression":
        parts: RefPath = ()
        for child in node["children"]:
            sub = _chain(child)
            if sub is None:
                return None
            parts += sub
        return parts
    if kind == "index_expression":
        left, index = node["children"]
        base = _chain(left)
        if base is None:
            return None
        return (*base, index["value"]) if index["type"] == "index" else base
    if kind == "projection":
        left, right = node["children"]
        base = _chain(left) if left["type"] != "identity" else ()
        if base is None:
            return None
        rest = _chain(right) if right["type"] not in ("identity", "current") else ()
        return (*base, "*", *(rest or ()))
    if kind == "index":
        return (node["value"],)
    return None


def _paths(node: dict[str, Any]) -> Iterator[RefPath]:
    chain = _chain(node)
    if chain is not None:
        yield chain
        return
    for child in node.get("children", []):
        if isinstance(child, dict):
            yield from _paths(child)
