"""Workflow YAML and expressions for the orchestrator's validation: the shipped workflows as
they are and mutated line by line, small workflows built from fuzzed calls, arguments and
`${...}` expressions, and YAML made to hurt a loader (alias bombs, self-referencing
anchors, deep nesting, Python tags, megabytes)."""
from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

from tests.fuzz.strategies import HOSTILE_STRINGS

CALLS = ("audio.AnalyzeRhythm", "audio.DetectChorus", "vision.DetectShots", "text.Embed",
         "compose.RenderMedley", "vision.Nope", "nope.Nope", "audio.", ".x", "audio",
         "audio.AnalyzeRhythm.extra", "AudioService/AnalyzeRhythm", "diagnostics.ProbeModel",
         "workflow.SubmitWorkflow")
NAMES = ("inputs", "steps", "item", "outputs", "a", "b", "songs", "audio", "rhythm",
         "beats", "chorus", "length", "@", "`1`", "\"quoted\"", "x" * 300)


def expression_bodies() -> st.SearchStrategy[str]:
    """JMESPath-shaped text: references, projections, filters, pipes, functions, literals,
    and unbalanced or absurdly deep ones."""
    leaf = st.one_of(st.sampled_from(NAMES), st.sampled_from(HOSTILE_STRINGS[:40]))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, inner).map(lambda p: f"{p[0]}.{p[1]}"),
            inner.map(lambda e: f"{e}[*]"), inner.map(lambda e: f"{e}[0]"),
            inner.map(lambda e: f"{e}[-1:]"), inner.map(lambda e: f"{e}[?{e}]"),
            st.tuples(inner, inner).map(lambda p: f"{p[0]} | {p[1]}"),
            st.tuples(inner, inner).map(lambda p: f"{p[0]} == {p[1]}"),
            st.tuples(inner, inner).map(lambda p: f"{{k: {p[0]}, v: {p[1]}}}"),
            inner.map(lambda e: f"length({e})"), inner.map(lambda e: f"sort_by({e}, &x)"),
            inner.map(lambda e: f"({e}"), inner.map(lambda e: f"[{e}, `{{\"a\": 1}}`]"))

    return st.one_of(st.recursive(leaf, extend, max_leaves=8),
                     st.sampled_from(("(" * 2000 + "a" + ")" * 2000, "[" * 5000,
                                      "a" + ".a" * 5000, "!" * 3000 + "a",
                                      "inputs.songs" + "[*]" * 2000, "`" + "[" * 3000 + "`")))


def expressions() -> st.SearchStrategy[str]:
    return st.one_of(expression_bodies().map(lambda body: f"${{{body}}}"),
                     expression_bodies())


def _scalar_yaml() -> st.SearchStrategy[str]:
    return st.one_of(expressions().map(lambda e: '"' + e.replace('"', "'") + '"'),
                     st.sampled_from(("1", "-1", "0", "1e999", ".nan", "-.inf", "true", "~",
                                      "[]", "{}", "'x'", "null", "99999999999999999999999",
                                      "!!binary aGVsbG8=", "!!timestamp 2001-12-14")),
                     st.text(max_size=20).map(lambda s: '"' + s.replace('"', "").replace(
                         "\\", "") + '"'))


def synthetic_workflows() -> st.SearchStrategy[str]:
    """A small workflow around fuzzed calls, arguments, foreach/when and outputs."""
    step = st.fixed_dictionaries({
        "id": st.sampled_from(("a", "b", "a", "rhythm", "x y", "")),
        "call": st.sampled_from(CALLS),
        "with": st.dictionaries(st.sampled_from(("audio", "video", "texts", "range", "songs",
                                                 "output", "nope", "rhythm")),
                                _scalar_yaml(), max_size=3),
        "extra": st.sampled_from(("", "foreach: ${inputs.songs}", "when: ${inputs.n > `1`}",
                                  "needs: [a, b]", "needs: [zzz]", "retry: {max_attempts: 0}",
                                  "timeout: -1", "concurrency: 100000", "foreach: 3")),
    })

    def render(steps: list[dict[str, object]], output: str) -> str:
        lines = ["name: fuzz", 'version: "1"', "inputs:", "  songs: {type: 'media[]'}",
                 "  n: {type: integer, default: 2}", "steps:"]
        for s in steps:
            lines += [f"  - id: {s['id']!r}", f"    call: {s['call']}"]
            if s["extra"]:
                lines.append(f"    {s['extra']}")
            if s["with"]:
                lines.append("    with:")
                lines += [f"      {k}: {v}" for k, v in s["with"].items()]  # type: ignore[attr-defined]
        lines += ["outputs:", f"  result: {output}"]
        return "\n".join(lines) + "\n"

    return st.builds(render, st.lists(step, min_size=0, max_size=3), _scalar_yaml())


HOSTILE_YAML = (
    "",
    "# only a comment\n",
    "a: &a [*a, *a]\nname: x\n",  # an anchor that contains itself
    "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 12))
    .replace("*l0", "lol"),  # a billion laughs
    "[" * 10_000 + "]" * 10_000,
    "name: " + "x" * 300_000 + "\n",
    "!!python/object/apply:os.system ['id']\n",
    "name: !!python/name:os.system\n",
    "---\nname: a\n---\nname: b\n",
    "name: a\nname: b\n",
    "\tname: x\n",
    "name: x: y\n",
    "? [complex, key]\n: value\n",
    '{"name": 1, "version": [], "steps": {}}\n',
    "steps: *undefined\n",
    "name: fuzz\nversion: '1'\nsteps: []\n",
    ("name: fuzz\nversion: '1'\nsteps:\n  - {id: a, call: audio.AnalyzeRhythm, with: {audio: "
     "'${inputs.x}'}}\n"),
    "\x00\x01\x02",
    "\ufeffname: bom\n",
    "%YAML 9.9\n---\nname: x\n",
    "%TAG ! tag:evil.example,2000:\n---\n!x name\n",
)


def mutated(text: str) -> st.SearchStrategy[str]:
    """`text` with one line deleted, duplicated or replaced, a value swapped for a fuzzed
    one, or cut short."""
    lines = text.splitlines()
    index = st.integers(0, max(0, len(lines) - 1))

    def delete(i: int) -> str:
        return "\n".join(lines[:i] + lines[i + 1:])

    def duplicate(i: int) -> str:
        return "\n".join(lines[:i + 1] + lines[i:])

    def replace_value(i: int, value: str) -> str:
        key, sep, _ = lines[i].partition(":")
        changed = f"{key}: {value}" if sep else value
        return "\n".join(lines[:i] + [changed] + lines[i + 1:])

    return st.one_of(
        index.map(delete), index.map(duplicate),
        st.builds(replace_value, index, _scalar_yaml()),
        st.builds(replace_value, index, st.sampled_from(("", "-", "[", "{", "|", "&a", "*a"))),
        st.integers(0, len(text)).map(lambda n: text[:n]),
    )


def workflow_yaml(folder: Path) -> st.SearchStrategy[str]:
    """YAML for ValidateWorkflow and SubmitWorkflow."""
    shipped = [p.read_text() for p in sorted(folder.glob("*.yaml"))]
    return st.one_of(st.sampled_from(shipped),
                     st.sampled_from(shipped).flatmap(mutated),
                     st.sampled_from(shipped).flatmap(mutated).flatmap(mutated),
                     synthetic_workflows(), st.sampled_from(HOSTILE_YAML))
