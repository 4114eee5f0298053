"""Client-side runs of mesh jobs for the CLI: stage inputs, show progress, explain errors."""
from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from mediamesh.client import MeshClient
from mediamesh.config import Settings
from mediamesh.v1 import common_pb2, vision_pb2

_MODES = {"composite": vision_pb2.KEY_OUTPUT_MODE_COMPOSITE,
          "alpha": vision_pb2.KEY_OUTPUT_MODE_ALPHA_ONLY,
          "foreground": vision_pb2.KEY_OUTPUT_MODE_FOREGROUND_ALPHA}


T = TypeVar("T")


class JobError(RuntimeError):
    """A job failed; the message is the service's (already actionable) explanation."""


def stage(settings: Settings, path: Path) -> common_pb2.MediaRef:
    """A MediaRef for a local file: its path in the media root (copied there if outside)."""
    root = settings.media_root
    path = path.expanduser().resolve()
    if not path.is_file():
        raise JobError(f"{path} does not exist")
    if not settings.resolved_config_path.exists():  # the services would look elsewhere
        raise JobError(f"no mesh was started from {settings.state_dir} (inputs are staged "
                       "into its media root): run this where you ran `mediamesh up`, or pass "
                       "--state-dir")
    if not path.is_relative_to(root):
        target = root / "inputs" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.stat().st_mtime < path.stat().st_mtime:
            shutil.copy2(path, target)
        path = target
    return common_pb2.MediaRef(uri=path.relative_to(root).as_posix(), name=path.name)


def require_healthy_mesh(settings: Settings) -> None:
    """Fail with what to do when the mesh is down or a part is unhealthy."""
    from mediamesh.mesh import control
    from mediamesh.mesh.supervisor import SupervisorNotRunning

    try:
        rows, _ = control.status(settings)
    except SupervisorNotRunning:
        raise JobError("the mesh is not running; start it with `mediamesh up`") from None
    sick = [r.name for r in rows if not r.health.healthy]
    if sick:
        raise JobError(f"parts not healthy: {', '.join(sick)}; see `mediamesh status`")


def progress_bar(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                    TimeElapsedColumn(), console=console)


async def key_green_screen(settings: Settings, input_path: Path, output: str,
                           background: Path | None, mode: str, console: Console,
                           color: tuple[int, int, int] | None = None
                           ) -> vision_pb2.KeyGreenScreenResult:
    if mode not in _MODES:
        raise JobError(f"mode must be one of {', '.join(_MODES)}, got '{mode}'")
    request = vision_pb2.KeyGreenScreenRequest(
        input=stage(settings, input_path), output=common_pb2.OutputSpec(uri=output, overwrite=True),
        output_mode=_MODES[mode])
    if background is not None:
        request.background_image.CopyFrom(stage(settings, background))
    elif color is not None:
        request.background_color.CopyFrom(common_pb2.RgbColor(r=color[0], g=color[1], b=color[2]))
    result: vision_pb2.KeyGreenScreenResult = await run_with_progress(
        settings, console, f"keying {input_path.name}",
        lambda mesh: mesh.vision.KeyGreenScreen(request, timeout=3600))
    return result


async def call_mesh(settings: Settings, call: Callable[[MeshClient], Awaitable[T]]) -> T:
    """One short call on the mesh (`call` makes it); a failed call becomes a JobError
    naming the status, which the CLI prints as a sentence."""
    async with MeshClient.from_settings(settings) as mesh:
        try:
            return await call(mesh)
        except grpc.aio.AioRpcError as exc:
            raise JobError(f"{exc.code().name}: {exc.details()}") from exc


async def run_with_progress(settings: Settings, console: Console, label: str,
                            start: Callable[[MeshClient], AsyncIterator[Any]]) -> Any:
    """Run one long job (`start` opens its stream on the mesh) behind a progress bar fed by
    its Progress events; returns its result. A failed call becomes a JobError naming the
    status, which the CLI prints as a sentence."""
    async with MeshClient.from_settings(settings) as mesh:
        with progress_bar(console) as bar:
            task = bar.add_task(label, total=1.0)
            try:
                result = await mesh.run_job(
                    start(mesh), on_progress=lambda p: bar.update(task, completed=p.fraction))
            except grpc.aio.AioRpcError as exc:
                raise JobError(f"{exc.code().name}: {exc.details()}") from exc
            bar.update(task, completed=1.0)
    return result
