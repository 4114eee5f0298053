"""Workflows known by name: every `*.yaml` of the workflows folder, checked when loaded."""
from __future__ import annotations

from pathlib import Path

from mediamesh.errors import MeshError, StatusCode
from mediamesh.logs import get_logger
from orchestrator.workflow_spec import Workflow, WorkflowInvalid, load_workflow

log = get_logger()


class WorkflowNotFound(MeshError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"no workflow named '{name}' (known: {', '.join(known) or 'none'})",
                         StatusCode.NOT_FOUND, "WORKFLOW_NOT_FOUND", resource=name)


class WorkflowRegistry:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.workflows: dict[str, Workflow] = {}
        self.broken: dict[str, WorkflowInvalid] = {}

    def load(self) -> WorkflowRegistry:
        """(Re)read the folder; a broken file is logged and kept out, never half-loaded."""
        found: dict[str, Workflow] = {}
        broken: dict[str, WorkflowInvalid] = {}
        for path in sorted(self.folder.glob("*.yaml")):
            try:
                workflow = load_workflow(path.read_text())
            except WorkflowInvalid as exc:
                broken[path.name] = exc
                log.error("workflow.invalid", file=str(path), problems=[str(p) for p in
                                                                        exc.problems])
                continue
            found[workflow.name] = workflow
        self.workflows, self.broken = found, broken
        return self

    def get(self, name: str) -> Workflow:
        """By `name` or `name@version`."""
        base, _, version = name.partition("@")
        workflow = self.workflows.get(base)
        if workflow is None or (version and workflow.version != version):
            raise WorkflowNotFound(name, sorted(self.workflows))
        return workflow

    def list(self) -> list[Workflow]:
        return [self.workflows[n] for n in sorted(self.workflows)]
