"""What the fuzz saw, per RPC: cases, status histogram, slowest call, deadline overruns and
every failing input (as protobuf text and as the exact bytes sent, base64, to replay it);
printed as a table and written as JSON."""
from __future__ import annotations

import base64
import io
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tests.fuzz.caller import Outcome
from tests.fuzz.vitals import Snapshot

MAX_TEXT = 200_000  # characters of a failing request's text form kept in the JSON


@dataclass
class RpcStats:
    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    max_latency_s: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)
    overruns: list[dict[str, Any]] = field(default_factory=list)  # DEADLINE_EXCEEDED cases


@dataclass
class FuzzReport:
    started: float = field(default_factory=time.time)
    rpcs: dict[str, RpcStats] = field(default_factory=dict)
    first: Snapshot | None = None
    last: Snapshot | None = None
    vitals_problems: list[str] = field(default_factory=list)
    run_states: dict[str, int] = field(default_factory=dict)  # the submitted runs, at the end
    #: (batch, MB of RSS per part) after every batch: the curve a leak would show
    rss_history: list[tuple[str, dict[str, int]]] = field(default_factory=list)

    def after_batch(self, batch: str, snapshot: Snapshot) -> None:
        self.last = snapshot
        self.rss_history.append((batch, {k: v >> 20 for k, v in snapshot.rss.items()}))

    def record(self, rpc_key: str, outcome: Outcome) -> None:
        stats = self.rpcs.setdefault(rpc_key, RpcStats())
        stats.cases += 1
        stats.statuses[outcome.status] += 1
        stats.max_latency_s = max(stats.max_latency_s, outcome.seconds)

    def failure(self, rpc_key: str, kind: str, outcome: Outcome, payload: bytes,
                text: str) -> None:
        self.rpcs.setdefault(rpc_key, RpcStats()).failures.append(
            _case(kind, outcome, payload, text))

    def overrun(self, rpc_key: str, kind: str, outcome: Outcome, payload: bytes,
                text: str) -> None:
        """A case that ran into its deadline: allowed, kept rare, and kept to look at."""
        self.rpcs.setdefault(rpc_key, RpcStats()).overruns.append(
            _case(kind, outcome, payload, text))

    def failures_of(self, rpc_key: str) -> list[dict[str, Any]]:
        stats = self.rpcs.get(rpc_key)
        return stats.failures if stats is not None else []

    @property
    def cases(self) -> int:
        return sum(s.cases for s in self.rpcs.values())

    def table(self) -> Table:
        table = Table(title=f"fuzz: {self.cases} cases over {len(self.rpcs)} RPCs")
        for column in ("rpc", "cases", "statuses", "max s", "deadline", "failed"):
            table.add_column(column, justify="left" if column in ("rpc", "statuses")
                             else "right")
        for key in sorted(self.rpcs):
            s = self.rpcs[key]
            statuses = ", ".join(f"{name} {n}" for name, n in s.statuses.most_common())
            table.add_row(key, str(s.cases), statuses, f"{s.max_latency_s:.2f}",
                          str(s.statuses.get("DEADLINE_EXCEEDED", 0)), str(len(s.failures)))
        return table

    def memory_table(self) -> Table:
        table = Table(title="processes: RSS (MB) and restarts")
        for column in ("part", "RSS before", "RSS after", "growth", "pid kept"):
            table.add_column(column, justify="left" if column == "part" else "right")
        first, last = self.first, self.last
        if first is None or last is None:
            return table
        for part in sorted(first.rss):
            before, after = first.rss[part] >> 20, last.rss.get(part, 0) >> 20
            kept = all(last.pids.get(n) == p for n, p in first.pids.items()
                       if n == part or n.startswith(f"{part}/"))
            table.add_row(part, str(before), str(after), f"{after - before:+d}",
                          "yes" if kept else "NO")
        return table

    def render(self, width: int = 180) -> str:
        console = Console(width=width, record=True, file=io.StringIO())
        console.print(self.table())
        console.print(self.memory_table())
        if self.run_states:
            console.print("workflow runs the fuzz submitted, at the end: " + ", ".join(
                f"{state} {n}" for state, n in sorted(self.run_states.items())))
        return console.export_text()

    def to_json(self) -> dict[str, Any]:
        def snap(s: Snapshot | None) -> dict[str, Any] | None:
            return None if s is None else {"pids": s.pids, "rss_mb": {
                k: round(v / (1 << 20), 1) for k, v in s.rss.items()}}

        return {
            "cases": self.cases, "wall_s": round(time.time() - self.started, 1),
            "rpcs": {key: {"cases": s.cases, "statuses": dict(s.statuses),
                           "max_latency_s": round(s.max_latency_s, 3),
                           "deadline_exceeded": s.statuses.get("DEADLINE_EXCEEDED", 0),
                           "failures": s.failures,
                           "deadline_cases": s.overruns}
                     for key, s in sorted(self.rpcs.items())},
            "processes": {"before": snap(self.first), "after": snap(self.last)},
            "vitals_problems": self.vitals_problems,
            "workflow_runs": self.run_states,
            "rss_mb_after_each_batch": [{"batch": b, **rss} for b, rss in self.rss_history],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False))


def _case(kind: str, outcome: Outcome, payload: bytes, text: str) -> dict[str, Any]:
    return {"kind": kind, "status": outcome.status, "reason": outcome.reason,
            "details": outcome.details[:2000], "seconds": round(outcome.seconds, 3),
            "request_text": text[:MAX_TEXT], "request_b64": base64.b64encode(payload).decode()}
