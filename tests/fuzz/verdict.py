"""The verdict on one case, shared by the built-message and raw-bytes tests: record it, and
on a status a client cannot act on, record the input (text and exact bytes) and fail.

In survey mode (MEDIAMESH_FUZZ_SURVEY=1, what `make fuzz` uses) a failing case does not
stop its batch: every case runs and is counted, and the batch fails at its end listing what
failed; the quick run stops at the first failure and lets hypothesis shrink it.
"""
from __future__ import annotations

import os
from collections.abc import Callable

import grpc
import pytest
from hypothesis import currently_in_test_context, note

from tests.fuzz.caller import Outcome, allowed
from tests.fuzz.report import FuzzReport
from tests.fuzz.rpcs import Rpc

SURVEY = os.environ.get("MEDIAMESH_FUZZ_SURVEY") == "1"


def judge(report: FuzzReport, rpc: Rpc, kind: str, outcome: Outcome, payload: bytes,
          describe: Callable[[], str]) -> None:
    report.record(rpc.key, outcome)
    if outcome.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        report.overrun(rpc.key, kind, outcome, payload, describe())
    if allowed(rpc, outcome):
        return
    text = describe()
    report.failure(rpc.key, kind, outcome, payload, text)
    if currently_in_test_context():  # hypothesis prints it with the failing example
        note(f"request:\n{text[:5000]}")
    if not SURVEY:
        raise AssertionError(f"{rpc.key} answered {outcome.status} ({outcome.reason}): "
                             f"{outcome.details[:2000]}\nrequest: {text[:2000]}")


def fail_on_surveyed(report: FuzzReport, rpc: Rpc, kind: str) -> None:
    """End of a batch in survey mode: fail if any of its cases did, naming them."""
    failures = [f for f in report.failures_of(rpc.key) if f["kind"] == kind]
    if failures:
        lines = "; ".join(f"{f['status']}: {f['details'][:200]}" for f in failures[:10])
        pytest.fail(f"{len(failures)} {kind} case(s) of {rpc.key} failed: {lines}")
