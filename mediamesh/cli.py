"""`mediamesh`: start, inspect and stop an embedded mesh; build models; run jobs.

Typer for commands and Rich for tables and progress bars: well-kept, typed, and they give
the help pages and the live progress our users expect.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mediamesh.config import Settings, load_settings
from mediamesh.mesh import control
from mediamesh.mesh.servers import ServerNotInstalled
from mediamesh.mesh.supervisor import SupervisorNotRunning
from mediamesh.models import registry

app = typer.Typer(help="mediamesh: an open mesh of media-AI services.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
models_app = typer.Typer(help="Build and list the Triton models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
console = Console()
err = Console(stderr=True)

_state: dict[str, object] = {}

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="TOML config file "
                      "(or set MEDIAMESH_CONFIG)", envvar="MEDIAMESH_CONFIG")]
StateOpt = Annotated[Path | None, typer.Option("--state-dir", help="where the mesh keeps "
                     "logs, data and its control socket")]
PortOpt = Annotated[int | None, typer.Option("--port-base", help="first of the mesh's ports; "
                    "every port derives from it")]


@app.callback()
def main_options(config: ConfigOpt = None, state_dir: StateOpt = None,
                 port_base: PortOpt = None) -> None:
    _state.update(config=config, state_dir=state_dir, port_base=port_base)


def settings() -> Settings:
    try:
        return load_settings(_state.get("config"),  # type: ignore[arg-type]
                             state_dir=_state.get("state_dir"), port_base=_state.get("port_base"))
    except (ValueError, OSError) as exc:
        fail(f"invalid configuration: {exc}")
        raise  # unreachable


def fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True, markup=True, highlight=False)
    raise typer.Exit(code)


@app.command()
def up(timeout: Annotated[float, typer.Option(help="seconds to wait for health")] = 90.0) -> None:
    """Start NATS, Triton, every service and the orchestrator, supervised, and wait for health."""
    s = settings()
    started = time.monotonic()
    try:
        with console.status("starting the mesh...") as status:
            def healthy(reading: control.PartHealth) -> None:
                status.update(f"{reading.name} is healthy ({time.monotonic() - started:.1f} s)")
            control.up(s, timeout, healthy)
    except (control.MeshError, ServerNotInstalled) as exc:
        fail(str(exc))
    table = Table(title=f"mediamesh is up in {time.monotonic() - started:.1f} s "
                        f"(state: {s.state_dir})")
    table.add_column("part")
    table.add_column("listens on")
    for part in control.parts_for(s):
        table.add_row(part.name, part.address)
    console.print(table)
    console.print(f"media root: {s.media_root}")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False
           ) -> None:
    """Health of every part, restarts seen, and Triton's models."""
    s = settings()
    try:
        rows, models = control.status(s)
    except SupervisorNotRunning as exc:
        fail(f"{exc}; start it with `mediamesh up`")
        return
    if as_json:
        console.print_json(json.dumps({
            "parts": [{"name": r.name, "address": r.address, "healthy": r.health.healthy,
                       "health": r.health.detail, "state": r.process.state if r.process else None,
                       "pid": r.process.pid if r.process else None,
                       "uptime_s": r.process.uptime_s if r.process else None,
                       "unexpected_exits": r.deaths} for r in rows],
            "models": models}))
        raise typer.Exit(0 if all(r.health.healthy for r in rows) else 3)
    table = Table(title=f"mediamesh ({s.state_dir})")
    for column in ("part", "address", "process", "pid", "uptime", "health", "deaths"):
        table.add_column(column, no_wrap=column in ("part", "address", "health"))
    for r in rows:
        proc = r.process
        colour = "green" if r.health.healthy else "red"
        table.add_row(r.name, r.address, proc.state if proc else "-",
                      str(proc.pid) if proc else "-", f"{proc.uptime_s} s" if proc else "-",
                      f"[{colour}]{r.health.detail}[/{colour}]",
                      f"[yellow]{r.deaths}[/yellow]" if r.deaths else "0")
    console.print(table)
    if models:
        mt = Table(title="Triton models")
        for column in ("model", "version", "state", "reason"):
            mt.add_column(column)
        for m in models:
            mt.add_row(m.get("name", ""), m.get("version", ""), m.get("state", ""),
                       m.get("reason", ""))
        console.print(mt)
    raise typer.Exit(0 if all(r.health.healthy for r in rows) else 3)


@app.command()
def down() -> None:
    """Stop every part gracefully, then the supervisor."""
    if control.down(settings()):
        console.print("mediamesh stopped")
    else:
        console.print("no mesh was running for this state dir")


@app.command()
def logs(part: Annotated[str | None, typer.Argument(help="one part, e.g. vision")] = None,
         follow: Annotated[bool, typer.Option("--follow", "-f")] = False,
         lines: Annotated[int, typer.Option("--lines", "-n")] = 50) -> None:
    """Show (and follow) the logs of one part or all parts."""
    try:
        files = control.log_files(settings(), part)
    except control.MeshError as exc:
        fail(str(exc))
        return
    from mediamesh.mesh.logtail import follow_files

    # plain print: log lines are JSON and must not be re-wrapped or styled
    follow_files(files, lines, follow, lambda line: print(line, flush=True))


@models_app.command("build")
def models_build(names: Annotated[list[str] | None, typer.Argument()] = None,
                 force: Annotated[bool, typer.Option(help="rebuild existing files")] = False
                 ) -> None:
    """Export the models from their sources into the model repository."""
    s = settings()
    try:
        results = registry.build(s.model_repository, names, force=force)
    except KeyError as exc:
        fail(str(exc.args[0]))
        return
    table = Table(title=f"models in {s.model_repository}")
    for column in ("model", "bytes", "sha256", "seconds", ""):
        table.add_column(column)
    for r in results:
        table.add_row(r.name, str(r.size_bytes), r.sha256[:16], f"{r.seconds:.2f}",
                      "up to date" if r.skipped else "built")
    console.print(table)


@models_app.command("list")
def models_list() -> None:
    """Every model, its licence and whether it is built."""
    s = settings()
    table = Table()
    for column in ("model", "licence", "built", "source"):
        table.add_column(column)
    for spec in registry.MODELS:
        built = registry.model_file(s.model_repository, spec.name).exists()
        table.add_row(spec.name, spec.licence, "yes" if built else "[red]no[/red]", spec.source)
    console.print(table)


@app.command()
def key(input_path: Annotated[Path, typer.Argument(help="image or video on a green/blue screen")],
        output: Annotated[str, typer.Option(help="output path in the media root")] = "",
        background: Annotated[Path | None, typer.Option(help="background image")] = None,
        mode: Annotated[str, typer.Option(help="composite | alpha | foreground")] = "composite"
        ) -> None:
    """Key a green screen through VisionService (and Triton), with a progress bar."""
    from mediamesh.jobs import JobError, key_green_screen

    s = settings()
    try:
        result = asyncio.run(key_green_screen(s, input_path, output, background, mode, console))
    except JobError as exc:
        fail(str(exc))
        return
    console.print(f"output: {s.media_root / result.output.uri}", soft_wrap=True)
    console.print(f"alpha preview: {s.media_root / result.alpha_preview.uri}", soft_wrap=True)


@app.command()
def demo(out_dir: Annotated[Path, typer.Option(help="where to put the results")] = Path("out")
         ) -> None:
    """Run the main job that is real so far, end to end, against the running mesh."""
    from mediamesh.demo import run_demo
    from mediamesh.jobs import JobError

    try:
        asyncio.run(run_demo(settings(), out_dir, console))
    except JobError as exc:
        fail(str(exc))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
