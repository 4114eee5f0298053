"""The runs the fuzz submitted (registered workflows with fuzzed inputs, fuzzed YAML) carried
bad input from the orchestrator into the services: whatever happened to them, a run that
failed says why in words a person can act on, never an internal error. Runs the file-order
puts last: after every SubmitWorkflow case."""
from __future__ import annotations

import time
from collections import Counter

import grpc

from mediamesh.config import Settings
from mediamesh.v1 import workflow_pb2, workflow_pb2_grpc
from tests.fuzz.report import FuzzReport

TERMINAL = {workflow_pb2.RUN_STATE_SUCCEEDED, workflow_pb2.RUN_STATE_FAILED,
            workflow_pb2.RUN_STATE_CANCELLED}
WAIT_S = 120.0  # the corpus is small: a run on it ends in seconds
#: what an unmapped exception looks like once mapped (grpc_errors.to_mesh_error), or not
INTERNAL_MARKS = ("internal error (", "incident ", "Unexpected <class", "Traceback")


def all_runs(stub: workflow_pb2_grpc.WorkflowServiceStub) -> list[workflow_pb2.Run]:
    runs, token = [], ""
    while True:
        page = stub.ListRuns(workflow_pb2.ListRunsRequest(page_size=500, page_token=token),
                             timeout=30)
        runs += page.runs
        if not (token := page.next_page_token):
            return runs


def test_failed_runs_say_why_without_internal_errors(fuzz_mesh: Settings,
                                                     report: FuzzReport) -> None:
    with grpc.insecure_channel(fuzz_mesh.service_address("orchestrator")) as channel:
        stub = workflow_pb2_grpc.WorkflowServiceStub(channel)
        deadline = time.monotonic() + WAIT_S
        runs = all_runs(stub)
        while any(r.state not in TERMINAL for r in runs) and time.monotonic() < deadline:
            time.sleep(2)
            runs = all_runs(stub)
    report.run_states = dict(Counter(workflow_pb2.RunState.Name(r.state) for r in runs))
    messages = [(r.run_id, m) for r in runs
                for m in (r.error_message, *(s.error_message for s in r.steps))]
    internal = [(run, m[:300]) for run, m in messages if any(k in m for k in INTERNAL_MARKS)]
    assert not internal, internal
