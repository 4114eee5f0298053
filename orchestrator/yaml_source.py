"""Load workflow YAML safely and remember where every value came from (line, column).

Why: a producer fixing a workflow needs "steps[2].with.input (line 14)", not a traceback.
Safe loading only (no Python tags), with limits on size, nesting depth and the number of
values once aliases are expanded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
#: values (mappings, lists, scalars) a workflow may hold with its aliases expanded: the
#: shipped ones hold a few hundred; 256 KiB of plain YAML holds at most ~130k
MAX_VALUES = 50_000

Path = tuple[str | int, ...]
#: JSON-compatible YAML core tags; anything else (python/*, timestamps, custom) is refused.
_ALLOWED_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in
                          ("str", "int", "float", "bool", "null", "map", "seq"))


@dataclass(frozen=True)
class Located:
    """A loaded document and the (line, column), 1-based, of each path inside it."""

    data: Any
    positions: dict[Path, tuple[int, int]]

    def where(self, path: Path) -> tuple[int, int]:
        """Position of `path`, or of its nearest located parent."""
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (0, 0))


class YamlError(ValueError):
    """The text is not a YAML document we accept; message names the line."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.line, self.column = line, column


@dataclass
class _Budget:
    """Values left to build: an alias repeats its anchor's whole tree, so a few lines of
    nested aliases (a "billion laughs") stand for billions of values."""

    left: int = MAX_VALUES

    def spend(self, node: yaml.Node) -> None:
        self.left -= 1
        if self.left < 0:
            raise YamlError(f"the workflow has more than {MAX_VALUES} values (an alias counts "
                            "all of its anchor's values again, each time it is used)",
                            node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(node: yaml.Node, path: Path, positions: dict[Path, tuple[int, int]],
          depth: int, budget: _Budget) -> Any:
    if depth > MAX_DEPTH:
        raise YamlError(f"nesting deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
    budget.spend(node)
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if node.tag not in _ALLOWED_TAGS:
        raise YamlError(f"tag {node.tag} is not allowed (plain YAML only)",
                        node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                raise YamlError(f"keys must be strings, got {key!r}", key_node.start_mark.line + 1)
            if key in result:
                raise YamlError(f"duplicate key '{key}'", key_node.start_mark.line + 1,
                                key_node.start_mark.column + 1)
            result[key] = _walk(value_node, (*path, key), positions, depth + 1, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_walk(child, (*path, i), positions, depth + 1, budget)
                for i, child in enumerate(node.value)]
    return _scalar(node)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()
#: libyaml's parser when the PyYAML wheel has it (about 10x faster), same safe resolution.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar(node: yaml.Node) -> Any:
    """A scalar's value as the safe loader resolves it (int, float, bool, null, str)."""
    return _CONSTRUCTOR.construct_object(node, deep=True)


def load_located(text: str) -> Located:
    """Parse one YAML document into plain data plus positions; YamlError on anything else."""
    if len(text.encode()) > MAX_BYTES:
        raise YamlError(f"workflow is larger than {MAX_BYTES // 1024} KiB")
    try:
        documents = list(yaml.compose_all(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise YamlError(f"invalid YAML: {exc.problem}", line, column) from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from exc
    if len(documents) != 1 or documents[0] is None:
        raise YamlError("expected exactly one YAML document")
    positions: dict[Path, tuple[int, int]] = {}
    try:
        data = _walk(documents[0], (), positions, 0, _Budget())
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML value: {exc}") from exc
    return Located(data, positions)
