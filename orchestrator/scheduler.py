"""A run as a state machine over a JSON document: pure functions, no I/O.

Every change to a run goes through one of these functions inside a compare-and-set on the
run document (orchestrator.run_store), so two replicas never lose each other's updates.
Each function mutates the document and returns an `Outcome`: the events to publish and the
step items to enqueue once the write has landed.

Document shape (kept small; it lives in a NATS KV value):
  state: RUNNING | SUCCEEDED | FAILED | CANCELLED
  steps.<id>: {status, items: [{status, attempt, value, outputs, error, owner, ...}],
               outputs, error, started_at, finished_at}
  outputs, error, event_seq (next event sequence), outbox (events not yet published)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orchestrator import expressions
from orchestrator.workflow_spec import StepSpec, Workflow

TERMINAL_RUN = ("SUCCEEDED", "FAILED", "CANCELLED")
DONE_STEP = ("SUCCEEDED", "SKIPPED")
ACTIVE_ITEM = ("QUEUED", "RUNNING")
#: Items one foreach may fan out to: the run's state (every item's outputs) is one JetStream
#: KV value, and a runaway list (a typo'd expression over a big input) must fail, not flood
MAX_FOREACH_ITEMS = 1000


def now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class TaskRef:
    """An item to put on the work queue (the idempotency key is run/step/item/attempt)."""

    step_id: str
    item: int
    attempt: int
    not_before: float = 0.0  # epoch seconds; retries wait for their back-off


@dataclass
class Outcome:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    tasks: list[TaskRef] = field(default_factory=list)

    def event(self, kind: str, **data: Any) -> None:
        self.events.append((kind, data))


def new_run(run_id: str, workflow: Workflow, inputs: dict[str, Any],
            labels: dict[str, str], idempotency_key: str) -> dict[str, Any]:
    stamp = now()
    return {
        "run_id": run_id, "state": "RUNNING", "created_at": stamp, "updated_at": stamp,
        "workflow": {"name": workflow.name, "version": workflow.version,
                     "source": workflow.source},
        "inputs": inputs, "labels": labels, "idempotency_key": idempotency_key,
        "steps": {s.id: {"status": "PENDING", "items": [], "outputs": None, "error": None,
                         "started_at": None, "finished_at": None} for s in workflow.steps},
        "outputs": None, "error": None, "event_seq": 1, "outbox": [],
    }


def context(doc: dict[str, Any]) -> dict[str, Any]:
    """What `${...}` sees: inputs and the outputs of finished steps."""
    return {"inputs": doc["inputs"],
            "steps": {sid: {"outputs": st["outputs"]} for sid, st in doc["steps"].items()
                      if st["status"] in DONE_STEP}}


def item_context(doc: dict[str, Any], step_id: str, index: int) -> dict[str, Any]:
    ctx = context(doc)
    ctx["item"] = doc["steps"][step_id]["items"][index]["value"]
    ctx["index"] = index
    return ctx


def start(doc: dict[str, Any], workflow: Workflow) -> Outcome:
    outcome = Outcome()
    outcome.event("submitted", workflow=workflow.name, version=workflow.version,
                  inputs=doc["inputs"])
    advance(doc, workflow, outcome)
    return outcome


def _fail_run(doc: dict[str, Any], outcome: Outcome, message: str,
              step_id: str | None = None, code: str = "") -> None:
    doc["state"] = "FAILED"
    doc["error"] = {"message": message, "step": step_id, "code": code}
    _stop_everything(doc, "CANCELLED")
    outcome.event("failed", step_id=step_id, code=code, error_message=message)


def _stop_everything(doc: dict[str, Any], status: str) -> None:
    for st in doc["steps"].values():
        for item in st["items"]:
            if item["status"] in (*ACTIVE_ITEM, "PENDING"):
                item["status"] = status
        if st["status"] in ("PENDING", "RUNNING"):
            st["status"] = status
            st["finished_at"] = now()


def _open_step(doc: dict[str, Any], spec: StepSpec, outcome: Outcome) -> None:
    """Evaluate `when` and `foreach` of a step whose needs are done; create its items."""
    st = doc["steps"][spec.id]
    ctx = context(doc)
    try:
        if spec.when is not None and not spec.when.evaluate(ctx):
            st.update(status="SKIPPED", finished_at=now())
            outcome.event("step.succeeded", step_id=spec.id, skipped=True)
            return
        values = spec.foreach.evaluate(ctx) if spec.foreach is not None else [None]
    except expressions.ExpressionError as exc:
        _fail_run(doc, outcome, str(exc), spec.id, "INVALID_ARGUMENT")
        return
    if not isinstance(values, list):
        _fail_run(doc, outcome, f"foreach of step '{spec.id}' gave {type(values).__name__}, "
                                "not a list", spec.id, "INVALID_ARGUMENT")
        return
    if len(values) > MAX_FOREACH_ITEMS:
        _fail_run(doc, outcome, f"foreach of step '{spec.id}' gave {len(values)} items, more "
                                f"than the {MAX_FOREACH_ITEMS} one step may fan out to; split "
                                "the input over several runs", spec.id, "RESOURCE_EXHAUSTED")
        return
    st.update(status="RUNNING", started_at=now(), items=[
        {"status": "PENDING", "attempt": 0, "value": v, "outputs": None, "error": None,
         "owner": None} for v in values])
    outcome.event("step.started", step_id=spec.id, items=len(values))


def _dispatch(doc: dict[str, Any], spec: StepSpec, outcome: Outcome) -> None:
    """Queue pending items while fewer than `concurrency` are in flight."""
    items = doc["steps"][spec.id]["items"]
    active = sum(1 for i in items if i["status"] in ACTIVE_ITEM)
    limit = spec.concurrency if spec.foreach is not None else 1
    for index, item in enumerate(items):
        if active >= limit:
            break
        if item["status"] == "PENDING":
            item.update(status="QUEUED", attempt=item["attempt"] + 1, queued_at=now())
            outcome.tasks.append(TaskRef(spec.id, index, item["attempt"]))
            active += 1


def _close_step(doc: dict[str, Any], spec: StepSpec, outcome: Outcome) -> None:
    st = doc["steps"][spec.id]
    items = st["items"]
    failed = next((i for i in items if i["status"] == "FAILED"), None)
    if failed is not None:
        st.update(status="FAILED", error=failed["error"], finished_at=now())
        error = failed["error"] or {}
        outcome.event("step.failed", step_id=spec.id, item_index=items.index(failed),
                      code=error.get("code", ""), error_message=error.get("message", ""))
        _fail_run(doc, outcome, f"step '{spec.id}' failed: {error.get('message', '')}",
                  spec.id, error.get("code", ""))
        return
    if all(i["status"] == "SUCCEEDED" for i in items):
        outputs = [i["outputs"] for i in items]
        st.update(status="SUCCEEDED", finished_at=now(),
                  outputs=outputs if spec.foreach is not None else outputs[0])
        outcome.event("step.succeeded", step_id=spec.id, items=len(items))


def advance(doc: dict[str, Any], workflow: Workflow, outcome: Outcome) -> None:
    """Open ready steps, queue what may run, close finished steps, finish the run."""
    changed = True
    while changed and doc["state"] == "RUNNING":
        changed = False
        for step_id in workflow.order():
            spec = workflow.step(step_id)
            st = doc["steps"][step_id]
            if st["status"] == "PENDING" and all(
                    doc["steps"][n]["status"] in DONE_STEP for n in spec.needs):
                _open_step(doc, spec, outcome)
                changed = True
            if doc["state"] != "RUNNING":
                return
            if st["status"] == "RUNNING":
                before = st["status"]
                _close_step(doc, spec, outcome)
                if doc["state"] != "RUNNING":
                    return
                if st["status"] == before:
                    _dispatch(doc, spec, outcome)
                else:
                    changed = True
    if doc["state"] == "RUNNING" and all(
            st["status"] in DONE_STEP for st in doc["steps"].values()):
        try:
            doc["outputs"] = expressions.render(workflow.outputs, context(doc))
        except expressions.ExpressionError as exc:
            _fail_run(doc, outcome, f"outputs: {exc}", None, "INVALID_ARGUMENT")
            return
        doc["state"] = "SUCCEEDED"
        outcome.event("succeeded", outputs=doc["outputs"])


def claim(doc: dict[str, Any], step_id: str, index: int, attempt: int, owner: str, *,
          steal: bool = False, at: float = 0.0, lease_until: float | None = None) -> bool:
    """Take an item for execution; False when it is not (or no longer) this attempt's.

    `steal`: the queue redelivered the task because its holder stopped answering (a crash),
    so a RUNNING item of this same attempt is taken over; the old holder's result, should
    it ever come, no longer counts. An item run outside the queue (a local claim) carries
    a lease instead: once the lease has expired at time `at`, anyone may take it over.
    `lease_until` makes this a local claim with that lease.
    """
    if doc["state"] != "RUNNING":
        return False
    items = doc["steps"][step_id]["items"]
    if index >= len(items):
        return False
    item = items[index]
    lease = item.get("lease_until")
    expired = lease is not None and at > lease
    takeover = (steal or expired) and item["status"] == "RUNNING" and item["owner"] != owner
    if (item["status"] != "QUEUED" and not takeover) or item["attempt"] != attempt:
        return False
    item.update(status="RUNNING", owner=owner, started_at=now(), lease_until=lease_until)
    return True


def claim_ready(doc: dict[str, Any], outcome: Outcome, owner_prefix: str, slots: int, *,
                at: float, lease_until: float) -> list[tuple[TaskRef, str]]:
    """Claim up to `slots` of the outcome's new tasks for the engine that made them ready.

    Done in the same write as the transition, so the next step starts without a trip
    through the queue. Claimed tasks leave `outcome.tasks`; their leases stand in for the
    queue's redelivery should this engine die.
    """
    claimed: list[tuple[TaskRef, str]] = []
    remaining: list[TaskRef] = []
    for ref in outcome.tasks:
        owner = f"{owner_prefix}:{ref.step_id}:{ref.item}:{ref.attempt}"
        if len(claimed) < slots and ref.not_before <= at and claim(
                doc, ref.step_id, ref.item, ref.attempt, owner, at=at, lease_until=lease_until):
            claimed.append((ref, owner))
        else:
            remaining.append(ref)
    outcome.tasks = remaining
    return claimed


def renew(doc: dict[str, Any], step_id: str, index: int, attempt: int, owner: str,
          lease_until: float) -> bool:
    """Extend a local claim's lease; False when the item is no longer this owner's."""
    if not owns(doc, step_id, index, attempt, owner):
        return False
    doc["steps"][step_id]["items"][index]["lease_until"] = lease_until
    return True


def owns(doc: dict[str, Any], step_id: str, index: int, attempt: int, owner: str) -> bool:
    item = doc["steps"][step_id]["items"][index]
    return (doc["state"] == "RUNNING" and item["status"] == "RUNNING"
            and item["attempt"] == attempt and item["owner"] == owner)


def complete(doc: dict[str, Any], workflow: Workflow, step_id: str, index: int,
             attempt: int, owner: str, outputs: Any, call_ms: float = 0.0) -> Outcome | None:
    """Record a finished item (once: a stale or repeated result changes nothing).

    `call_ms` is the service call's own duration, kept so the engine's overhead per step
    can be measured (bench/orchestrator_load.py).
    """
    if not owns(doc, step_id, index, attempt, owner):
        return None
    item = doc["steps"][step_id]["items"][index]
    item.update(status="SUCCEEDED", outputs=outputs, finished_at=now(),
                call_ms=round(call_ms, 3))
    outcome = Outcome()
    items = doc["steps"][step_id]["items"]
    done = sum(1 for i in items if i["status"] == "SUCCEEDED")
    outcome.event("step.progress", step_id=step_id, item_index=index,
                  done=done, total=len(items), fraction=done / len(items))
    advance(doc, workflow, outcome)
    return outcome


def fail(doc: dict[str, Any], workflow: Workflow, step_id: str, index: int, attempt: int,
         owner: str, code: str, message: str, *, at: float) -> Outcome | None:
    """Record a failed attempt: retry it when the policy allows, else fail the step."""
    if not owns(doc, step_id, index, attempt, owner):
        return None
    spec = workflow.step(step_id)
    item = doc["steps"][step_id]["items"][index]
    outcome = Outcome()
    if code in spec.retry.retry_on and attempt < spec.retry.max_attempts:
        delay = spec.retry.delay_before(attempt + 1)
        item.update(status="QUEUED", attempt=attempt + 1, owner=None, queued_at=now(),
                    not_before=at + delay, error={"code": code, "message": message})
        outcome.tasks.append(TaskRef(step_id, index, attempt + 1, at + delay))
        outcome.event("step.progress", step_id=step_id, item_index=index,
                      retry=attempt + 1, code=code, error_message=message, delay_s=delay)
        return outcome
    item.update(status="FAILED", error={"code": code, "message": message}, finished_at=now())
    advance(doc, workflow, outcome)  # closes the step as FAILED, which fails the run
    return outcome


def cancel(doc: dict[str, Any], reason: str) -> Outcome | None:
    if doc["state"] in TERMINAL_RUN:
        return None
    doc["state"] = "CANCELLED"
    doc["error"] = {"message": reason or "cancelled", "step": None, "code": "CANCELLED"}
    _stop_everything(doc, "CANCELLED")
    outcome = Outcome()
    outcome.event("cancelled", reason=reason)
    return outcome
