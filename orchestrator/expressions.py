"""`${...}` expressions in workflows: JMESPath over {inputs, steps, item, index}.

Why JMESPath: a well-kept, specified query language (projections like
`steps.chorus.outputs[*].segment`, comparisons, `length()`), evaluated safely — no Python
eval. A value that is exactly one `${...}` keeps its type; `${...}` inside a longer string
is interpolated as text.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import Parser

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

    def is_path(self) -> bool:
        """A plain reference path (its type can be inferred), not a computed value."""
        return _chain(self.ast) is not None

    def evaluate(self, context: dict[str, Any]) -> Any:
        try:
            return jmespath.search(self.source, context)
        except JMESPathError as exc:
            raise ExpressionError(f"${{{self.source}}}: {exc}") from exc


#: The shipped workflows' expressions are under 50 characters and 8 levels deep (AST nodes,
#: their child lists and literal values, counted alike). The parser, the reference walk and
#: the evaluator all recurse: a few thousand brackets, `!` or pipes were a RecursionError.
MAX_CHARS = 1000
MAX_DEPTH = 64


def parse(source: str) -> Expression:
    if len(source) > MAX_CHARS:
        raise ExpressionError(f"${{{_shown(source)}}} is {len(source)} characters long; an "
                              f"expression may have at most {MAX_CHARS}")
    try:
        ast = Parser().parse(source).parsed
    except JMESPathError as exc:
        raise ExpressionError(f"${{{_shown(source)}}} is not a valid expression: {exc}") from exc
    except RecursionError:
        ast = None
    if ast is None or _depth(ast) > MAX_DEPTH:
        raise ExpressionError(f"${{{_shown(source)}}} is nested too deeply: at most "
                              f"{MAX_DEPTH} levels of brackets, operators and literals")
    return Expression(source, ast)


def _shown(source: str, limit: int = 80) -> str:
    return source if len(source) <= limit else f"{source[:limit]}..."


def _depth(ast: dict[str, Any]) -> int:
    """How deep the tree (with its literal values) nests, without recursing."""
    deepest, pending = 0, [(ast, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        values = item.values() if isinstance(item, dict) else item
        pending.extend((v, depth + 1) for v in values if isinstance(v, (dict, list)))
    return deepest


def _spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every ${...} in `text`, braces balanced and quotes respected, so a
    JMESPath multiselect hash (`outputs[*].{a: a, b: b}`) stays inside its expression."""
    i = 0
    while (start := text.find("${", i)) >= 0:
        depth, quote, j = 0, "", start + 1
        while j < len(text):
            ch = text[j]
            if quote:
                if ch == "\\":
                    j += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"`":
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        if j >= len(text):
            raise ExpressionError(f"unclosed ${{ in {text!r}: add the closing }}")
        yield start, j + 1
        i = j + 1


def find(text: str) -> list[Expression]:
    """Every ${...} in a string, parsed."""
    return [parse(text[a + 2:b - 1].strip()) for a, b in _spans(text)]


def whole(text: str) -> Expression | None:
    """The expression when `text` is exactly one ${...} (typed substitution), else None."""
    stripped = text.strip()
    spans = list(_spans(stripped)) if "${" in stripped else []
    if len(spans) == 1 and spans[0] == (0, len(stripped)):
        return parse(stripped[2:-1].strip())
    return None


def render(value: Any, context: dict[str, Any]) -> Any:
    """Substitute every expression in a (nested) value."""
    if isinstance(value, str):
        single = whole(value)
        if single is not None:
            return single.evaluate(context)

        pieces, last = [], 0
        for a, b in _spans(value):
            result = parse(value[a + 2:b - 1].strip()).evaluate(context)
            pieces += [value[last:a], result if isinstance(result, str) else json.dumps(result)]
            last = b
        return "".join(pieces) + value[last:]
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
        if rest is None:
            return None  # e.g. a multiselect hash: not a plain reference path
        return (*base, "*", *rest)
    if kind == "index":
        return (node["value"],)
    return None


def _projected_prefix(node: dict[str, Any]) -> RefPath | None:
    """`steps.x.outputs[*]` of `steps.x.outputs[*].{a: a}`: a projection whose right side is
    not a plain path (it is relative to each element) still references the projected list."""
    kind = node["type"]
    if kind == "projection":
        left = node["children"][0]
        base = _chain(left) if left["type"] != "identity" else ()
        return None if base is None else (*base, "*")
    if kind == "subexpression":
        parts: RefPath = ()
        for child in node["children"]:
            sub = _chain(child)
            if sub is None:
                tail = _projected_prefix(child)
                return None if tail is None else (*parts, *tail)
            parts += sub
    return None


#: Nodes whose children after the first are evaluated against the first one's result (each
#: element of a projection, the piped value), not against the run: only the first holds
#: references (`[a, b][] | [?text]` filters on each element's own `text`).
_RELATIVE_AFTER_FIRST = ("pipe", "projection", "filter_projection", "value_projection")


def _paths(node: dict[str, Any]) -> Iterator[RefPath]:
    chain = _chain(node)
    if chain is not None:
        yield chain
        return
    prefix = _projected_prefix(node)
    if prefix is not None:
        yield prefix
        return
    children = node.get("children", [])
    if node["type"] in _RELATIVE_AFTER_FIRST:
        children = children[:1]
    for child in children:
        if isinstance(child, dict):
            yield from _paths(child)
