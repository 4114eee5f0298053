"""The run state machine on plain documents: fan-out, fan-in, retries, failure, cancel."""
from __future__ import annotations

from typing import Any

import pytest

from orchestrator import scheduler as S
from orchestrator.workflow_spec import Workflow, load_workflow

FLOW = """
name: flow
version: 1
inputs:
  clips: {type: "media[]"}
  skip_second: {type: bool, default: false}
steps:
  - id: fan
    call: vision.KeyGreenScreen
    foreach: ${inputs.clips}
    concurrency: 2
    with: {input: "${item}"}
    retry: {max_attempts: 2, backoff: 3, retry_on: [UNAVAILABLE]}
  - id: gather
    call: vision.KeyGreenScreen
    when: ${!(inputs.skip_second)}
    with: {input: "${steps.fan.outputs[0].output}"}
outputs:
  all: ${steps.fan.outputs[*].output.uri}
  last: ${steps.gather.outputs.frames}
"""


@pytest.fixture()
def workflow() -> Workflow:
    return load_workflow(FLOW)


def run_of(workflow: Workflow, clips: int, **inputs: Any) -> tuple[dict[str, Any], S.Outcome]:
    doc = S.new_run("r", workflow, {"clips": [{"uri": f"c{i}"} for i in range(clips)],
                                    "skip_second": False, **inputs}, {}, "")
    return doc, S.start(doc, workflow)


def finish(doc: dict[str, Any], workflow: Workflow, task: S.TaskRef, outputs: Any) -> S.Outcome:
    assert S.claim(doc, task.step_id, task.item, task.attempt, "w")
    outcome = S.complete(doc, workflow, task.step_id, task.item, task.attempt, "w", outputs)
    assert outcome is not None
    return outcome


def test_fan_out_respects_concurrency_then_fans_in(workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 3)
    assert [e[0] for e in outcome.events] == ["submitted", "step.started"]
    assert [(t.step_id, t.item) for t in outcome.tasks] == [("fan", 0), ("fan", 1)]
    more = finish(doc, workflow, outcome.tasks[0], {"output": {"uri": "o0"}})
    assert [(t.step_id, t.item) for t in more.tasks] == [("fan", 2)]  # the freed slot
    finish(doc, workflow, outcome.tasks[1], {"output": {"uri": "o1"}})
    last = finish(doc, workflow, more.tasks[0], {"output": {"uri": "o2"}})
    assert doc["steps"]["fan"]["status"] == "SUCCEEDED"
    assert [(t.step_id, t.item) for t in last.tasks] == [("gather", 0)]
    end = finish(doc, workflow, last.tasks[0], {"frames": "7"})
    assert doc["state"] == "SUCCEEDED"
    assert doc["outputs"] == {"all": ["o0", "o1", "o2"], "last": "7"}
    assert end.events[-1][0] == "succeeded"


def test_a_result_is_recorded_once(workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 1)
    task = outcome.tasks[0]
    finish(doc, workflow, task, {"output": {"uri": "o"}})
    assert not S.claim(doc, "fan", 0, task.attempt, "other")  # redelivered: nothing to do
    assert S.complete(doc, workflow, "fan", 0, task.attempt, "w", {"x": 1}) is None
    assert doc["steps"]["fan"]["items"][0]["outputs"] == {"output": {"uri": "o"}}


def test_only_one_claim_wins(workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 1)
    task = outcome.tasks[0]
    assert S.claim(doc, "fan", 0, task.attempt, "a")
    assert not S.claim(doc, "fan", 0, task.attempt, "b")
    assert S.complete(doc, workflow, "fan", 0, task.attempt, "b", {}) is None


def test_retryable_failure_is_retried_with_backoff_then_fails_the_run(workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 1)
    task = outcome.tasks[0]
    assert S.claim(doc, "fan", 0, 1, "w")
    retry = S.fail(doc, workflow, "fan", 0, 1, "w", "UNAVAILABLE", "triton down", at=100.0)
    assert retry is not None and retry.tasks == [S.TaskRef("fan", 0, 2, 103.0)]
    assert doc["state"] == "RUNNING"
    assert S.claim(doc, "fan", 0, 2, "w")
    final = S.fail(doc, workflow, "fan", 0, 2, "w", "UNAVAILABLE", "still down", at=200.0)
    assert final is not None and doc["state"] == "FAILED"
    assert doc["error"]["step"] == "fan" and "still down" in doc["error"]["message"]
    assert [e[0] for e in final.events] == ["step.failed", "failed"]
    assert doc["steps"]["gather"]["status"] == "CANCELLED"
    assert task.attempt == 1


def test_non_retryable_failure_fails_at_once(workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 2)
    assert S.claim(doc, "fan", 0, 1, "w")
    failed = S.fail(doc, workflow, "fan", 0, 1, "w", "INVALID_ARGUMENT", "bad clip", at=0)
    assert failed is not None and not failed.tasks and doc["state"] == "FAILED"
    assert doc["steps"]["fan"]["items"][1]["status"] == "CANCELLED"


def test_when_false_skips_and_outputs_see_null(workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 1, skip_second=True)
    end = finish(doc, workflow, outcome.tasks[0], {"output": {"uri": "o"}})
    assert doc["steps"]["gather"]["status"] == "SKIPPED"
    assert doc["state"] == "SUCCEEDED" and doc["outputs"]["last"] is None
    assert ("step.succeeded", {"step_id": "gather", "skipped": True}) in end.events


def test_empty_fan_out_succeeds(workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 0, skip_second=True)
    assert doc["state"] == "SUCCEEDED" and doc["outputs"]["all"] == []


def test_cancel_stops_everything_once(workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 3)
    assert S.claim(doc, "fan", 0, 1, "w")
    cancelled = S.cancel(doc, "user asked")
    assert cancelled is not None and cancelled.events == [("cancelled", {"reason": "user asked"})]
    assert {i["status"] for i in doc["steps"]["fan"]["items"]} == {"CANCELLED"}
    assert S.cancel(doc, "again") is None
    assert S.complete(doc, workflow, "fan", 0, 1, "w", {}) is None  # a late result is ignored


def test_the_engine_that_readies_a_task_may_claim_it_in_the_same_write(
        workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 3)
    claimed = S.claim_ready(doc, outcome, "eng:local", 1, at=100.0, lease_until=104.0)
    assert [(ref.step_id, ref.item) for ref, _ in claimed] == [("fan", 0)]
    assert [(t.step_id, t.item) for t in outcome.tasks] == [("fan", 1)]  # the rest: queue
    item = doc["steps"]["fan"]["items"][0]
    assert item["status"] == "RUNNING" and item["lease_until"] == 104.0


def test_an_expired_lease_can_be_taken_over_and_a_live_one_cannot(workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 1)
    [(ref, owner)] = S.claim_ready(doc, outcome, "dead", 1, at=100.0, lease_until=104.0)
    assert not S.claim(doc, "fan", 0, ref.attempt, "other", at=103.0)  # lease still live
    assert S.renew(doc, "fan", 0, ref.attempt, owner, 110.0)
    assert not S.claim(doc, "fan", 0, ref.attempt, "other", at=105.0)  # renewed
    assert S.claim(doc, "fan", 0, ref.attempt, "other", at=111.0)  # expired: taken over
    assert not S.renew(doc, "fan", 0, ref.attempt, owner, 120.0)  # no longer the owner's
    assert S.complete(doc, workflow, "fan", 0, ref.attempt, owner, {}) is None  # too late


def test_a_retry_waiting_for_its_backoff_is_not_claimed_early(workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, 1)
    assert S.claim(doc, "fan", 0, 1, "w")
    retry = S.fail(doc, workflow, "fan", 0, 1, "w", "UNAVAILABLE", "down", at=100.0)
    assert retry is not None
    assert S.claim_ready(doc, retry, "eng", 1, at=100.0, lease_until=104.0) == []
    assert [t.attempt for t in retry.tasks] == [2]  # goes through the queue, after 3 s


def test_a_runaway_fan_out_fails_the_run_instead_of_flooding_the_queue(
        workflow: Workflow) -> None:
    doc, outcome = run_of(workflow, S.MAX_FOREACH_ITEMS + 1)
    assert doc["state"] == "FAILED" and not outcome.tasks
    assert doc["error"]["code"] == "RESOURCE_EXHAUSTED"
    assert "1001 items" in doc["error"]["message"] and doc["error"]["step"] == "fan"
    doc, outcome = run_of(workflow, S.MAX_FOREACH_ITEMS)  # the limit itself is fine
    assert doc["state"] == "RUNNING" and len(outcome.tasks) == 2
