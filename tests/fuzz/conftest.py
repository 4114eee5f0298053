"""The fuzz suite's mesh (booted like the integration suite's, on its own ports and state
dir), its corpus and facts, the report, and a health, restart and memory check after every
batch (one test = one RPC's batch of cases).

Size: MEDIAMESH_FUZZ_CASES cases in total (default: the quick run of `make test`);
MEDIAMESH_FUZZ_REPORT=path writes the JSON report there and prints the full tables.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediamesh.config import Settings
from tests.fuzz import vitals
from tests.fuzz.caller import Caller
from tests.fuzz.corpus import write_corpus
from tests.fuzz.hints import SessionFacts, hostile_hints, plausible_hints
from tests.fuzz.report import FuzzReport
from tests.fuzz.rpcs import DIAGNOSTICS_PARTS
from tests.fuzz.session_facts import gather
from tests.fuzz.sizes import CALL_TIMEOUT_S
from tests.fuzz.strategies import MessageStrategies
from tests.mesh_fixture import running_mesh

REPORT = pytest.StashKey[FuzzReport]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[REPORT] = FuzzReport()


@pytest.fixture(scope="session")
def report(pytestconfig: pytest.Config) -> FuzzReport:
    return pytestconfig.stash[REPORT]


@pytest.fixture(scope="session")
def fuzz_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with running_mesh(tmp_path_factory.mktemp("fuzz-mesh")) as settings:
        yield settings


@pytest.fixture(scope="session")
def facts(fuzz_mesh: Settings, report: FuzzReport) -> SessionFacts:
    gathered = gather(fuzz_mesh, write_corpus(fuzz_mesh.media_root))
    report.first = report.last = vitals.snapshot(fuzz_mesh)
    return gathered


@pytest.fixture(scope="session")
def messages(facts: SessionFacts) -> MessageStrategies:
    return MessageStrategies(hostile_hints(facts), plausible_hints(facts))


@pytest.fixture(scope="session")
def caller(fuzz_mesh: Settings) -> Iterator[Caller]:
    parts = {*DIAGNOSTICS_PARTS, "orchestrator"}
    mesh_caller = Caller({p: fuzz_mesh.service_address(p) for p in parts}, CALL_TIMEOUT_S)
    yield mesh_caller
    mesh_caller.close()


@pytest.fixture(autouse=True)
def mesh_stays_well(request: pytest.FixtureRequest, fuzz_mesh: Settings, facts: SessionFacts,
                    report: FuzzReport) -> Iterator[None]:
    """After each batch: every part SERVING, no restart, memory within bounds."""
    yield
    assert report.first is not None
    report.after_batch(request.node.name, vitals.snapshot(fuzz_mesh))
    assert report.last is not None
    found = vitals.problems(fuzz_mesh, report.first, report.last)
    if found:
        report.vitals_problems += [f"after {request.node.name}: {p}" for p in found]
        pytest.fail("the mesh is not well after this batch: " + "; ".join(found))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    report = terminalreporter.config.stash.get(REPORT, None)
    if report is None or not report.cases:
        return
    target = os.environ.get("MEDIAMESH_FUZZ_REPORT")
    if target:
        report.write(Path(target))
        terminalreporter.write(report.render())
        terminalreporter.write_line(f"fuzz report written to {target}")
        return
    failed = sum(len(s.failures) for s in report.rpcs.values())
    terminalreporter.write_line(f"fuzz: {report.cases} cases over {len(report.rpcs)} RPCs, "
                                f"{failed} failing (MEDIAMESH_FUZZ_REPORT=path for the table)")
