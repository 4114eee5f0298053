"""supervisord config rendering, socket placement, watchdog records and death counting.

The rendered config is parsed by supervisor's own option parser (no supervisord is started),
so what is checked is what supervisord would actually run.
"""
from __future__ import annotations

import configparser
import json
import os
from pathlib import Path

import pytest
from supervisor.options import ServerOptions

from mediamesh.config import CONFIG_ENV, Settings, load_settings
from mediamesh.mesh.control import deaths_by_part
from mediamesh.mesh.parts import HealthKind, Part
from mediamesh.mesh.supervisor import events_file, logs_dir, render_config, socket_path
from mediamesh.mesh.watchdog import event_record


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in {n for n in os.environ if n.startswith("MEDIAMESH_")} | {CONFIG_ENV}:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name, raising=False)


def mesh_settings(state_dir: Path) -> Settings:
    return load_settings(state_dir=state_dir, port_base=40000)


def demo_parts() -> list[Part]:
    return [
        Part("nats", ["/opt/nats/nats-server", "-p", "40000"], "nats://127.0.0.1:40000",
             HealthKind.NATS, 40001, priority=10),
        Part("audio", ["/usr/bin/python3", "-m", "services.audio", "--label", "100% done"],
             "127.0.0.1:40010", HealthKind.GRPC, 40010, priority=50,
             environment={"PYTHONPATH": "/src/with space", "RATIO": "50%", "EMPTY": ""}),
    ]


def parse(config_text: str, state_dir: Path) -> ServerOptions:
    """Let supervisor read the config exactly as supervisord would."""
    (state_dir / "logs").mkdir(parents=True, exist_ok=True)
    path = state_dir / "supervisord.conf"
    path.write_text(config_text)
    options = ServerOptions()
    options.configfile = str(path)
    options.process_config(do_usage=False)
    return options


def program(options: ServerOptions, name: str):  # type: ignore[no-untyped-def]
    (group,) = [g for g in options.process_group_configs if g.name == name]
    (config,) = group.process_configs
    return config


def test_config_has_a_program_per_part(tmp_path: Path) -> None:
    settings = mesh_settings(tmp_path)
    text = render_config(demo_parts(), settings)
    ini = configparser.RawConfigParser()
    ini.read_string(text)
    assert {"program:nats", "program:audio", "eventlistener:watchdog", "supervisord",
            "unix_http_server", "supervisorctl"} <= set(ini.sections())
    for name in ("nats", "audio"):
        section = ini[f"program:{name}"]
        assert section["autorestart"] == "true"
        assert section["stopasgroup"] == "true" and section["killasgroup"] == "true"
        assert section["stdout_logfile"] == str(tmp_path / "logs" / f"{name}.log")
        assert section["directory"] == str(settings.state_dir)
    assert ini["program:nats"]["priority"] == "10"
    assert ini["supervisord"]["identifier"] == "mediamesh-40000"
    assert ini["unix_http_server"]["file"] == str(socket_path(settings))
    assert ini["supervisorctl"]["serverurl"] == f"unix://{socket_path(settings)}"


def test_environment_values_are_quoted_and_percent_escaped(tmp_path: Path) -> None:
    text = render_config(demo_parts(), mesh_settings(tmp_path))
    env_line = next(line for line in text.splitlines()
                    if line.startswith("environment=") and "RATIO" in line)
    assert 'PYTHONPATH="/src/with space"' in env_line
    assert 'RATIO="50%%"' in env_line
    assert 'MEDIAMESH_PART="audio"' in env_line
    assert 'PYTHONUNBUFFERED="1"' in env_line
    assert '"100%% done"' in text  # the command is escaped and quoted too


def test_supervisor_reads_the_config_back_exactly(tmp_path: Path) -> None:
    settings = mesh_settings(tmp_path)
    options = parse(render_config(demo_parts(), settings), tmp_path)
    audio = program(options, "audio")
    assert audio.environment == {"MEDIAMESH_PART": "audio", "PYTHONUNBUFFERED": "1",
                                 "PYTHONPATH": "/src/with space", "RATIO": "50%", "EMPTY": ""}
    assert audio.command == \
        '/usr/bin/python3 -m services.audio --label "100% done"'
    assert audio.autorestart is not False
    assert audio.stdout_logfile == str(logs_dir(settings) / "audio.log")
    assert audio.directory == str(settings.state_dir)
    assert audio.stopasgroup and audio.killasgroup
    nats = program(options, "nats")
    assert nats.priority == 10 and nats.environment["MEDIAMESH_PART"] == "nats"
    assert options.logfile == str(logs_dir(settings) / "supervisord.log")


def test_watchdog_event_listener_is_configured(tmp_path: Path) -> None:
    settings = mesh_settings(tmp_path)
    options = parse(render_config(demo_parts(), settings), tmp_path)
    watchdog = program(options, "watchdog")
    assert watchdog.command.endswith(f"-m mediamesh.mesh.watchdog {events_file(settings)}")
    (group,) = [g for g in options.process_group_configs if g.name == "watchdog"]
    events = {e.__name__ for e in group.pool_events}
    assert {"ProcessStateExitedEvent", "ProcessStateBackoffEvent",
            "ProcessStateFatalEvent", "ProcessStateRunningEvent"} <= events
    assert watchdog.stderr_logfile == str(logs_dir(settings) / "watchdog.log")


def test_environment_value_with_a_double_quote_is_refused_clearly(tmp_path: Path) -> None:
    # supervisord's environment lexer cannot carry a '"': refuse rather than corrupt it
    part = Part("text", ["/usr/bin/true"], "127.0.0.1:40012", HealthKind.GRPC, 40012,
                environment={"GREETING": 'say "hi"'})
    with pytest.raises(ValueError, match="GREETING.*double quote"):
        render_config([part], mesh_settings(tmp_path))


def test_state_dir_with_a_percent_sign_is_refused_clearly(tmp_path: Path) -> None:
    # supervisord expands '%' in log paths twice; no escaping survives both passes
    with pytest.raises(ValueError, match="contains '%'"):
        mesh_settings(tmp_path / "100%done")


def test_percent_in_a_command_argument_survives(tmp_path: Path) -> None:
    part = Part("text", ["/usr/bin/echo", "100% done"], "127.0.0.1:40012", HealthKind.GRPC,
                40012, environment={"RATIO": "50%"})
    options = parse(render_config([part], mesh_settings(tmp_path)), tmp_path)
    assert program(options, "text").command == '/usr/bin/echo "100% done"'
    assert program(options, "text").environment["RATIO"] == "50%"


def test_socket_is_in_the_state_dir_for_short_paths(tmp_path: Path) -> None:
    settings = mesh_settings(tmp_path / "s")
    assert len(str(settings.state_dir / "supervisor.sock")) <= 100
    assert socket_path(settings) == settings.state_dir / "supervisor.sock"


def test_socket_moves_to_a_short_stable_tmp_path_for_long_state_dirs(tmp_path: Path) -> None:
    long_a = tmp_path / ("a" * 60) / ("b" * 60)
    long_b = tmp_path / ("a" * 60) / ("c" * 60)
    sock_a = socket_path(mesh_settings(long_a))
    assert len(str(sock_a)) <= 100
    assert not sock_a.is_relative_to(long_a)
    assert sock_a.name.startswith("mediamesh-") and sock_a.suffix == ".sock"
    assert socket_path(mesh_settings(long_a)) == sock_a  # stable across calls
    assert socket_path(mesh_settings(long_b)) != sock_a  # distinct meshes stay apart


# watchdog -------------------------------------------------------------------------------


def test_exit_event_record() -> None:
    record = event_record({"eventname": "PROCESS_STATE_EXITED"},
                          {"processname": "audio", "from_state": "RUNNING", "expected": "0",
                           "pid": "123"})
    assert record["event"] == "part.exited"
    assert record["part"] == "audio"
    assert record["from_state"] == "RUNNING"
    assert record["expected"] is False
    assert record["pid"] == 123
    assert record["level"] == "warning"
    assert isinstance(record["time"], str) and "T" in record["time"]
    json.dumps(record)  # the record is a JSON line


def test_running_and_backoff_records() -> None:
    running = event_record({"eventname": "PROCESS_STATE_RUNNING"},
                           {"processname": "vision", "from_state": "STARTING", "pid": "9"})
    assert running["event"] == "part.running" and running["level"] == "info"
    assert "expected" not in running
    backoff = event_record({"eventname": "PROCESS_STATE_BACKOFF"},
                           {"processname": "text", "from_state": "STARTING", "tries": "3"})
    assert backoff["event"] == "part.backoff" and backoff["tries"] == 3
    assert backoff["level"] == "warning"
    expected = event_record({"eventname": "PROCESS_STATE_EXITED"},
                            {"processname": "audio", "expected": "1", "pid": "5"})
    assert expected["expected"] is True


# deaths_by_part -------------------------------------------------------------------------


def test_deaths_count_only_unexpected_exits(tmp_path: Path) -> None:
    settings = mesh_settings(tmp_path)
    path = events_file(settings)
    assert path == tmp_path / "logs" / "events.jsonl"
    assert deaths_by_part(settings) == {}  # no file yet
    path.parent.mkdir(parents=True)
    exited = {"eventname": "PROCESS_STATE_EXITED"}
    lines = [
        json.dumps(event_record(exited, {"processname": "audio", "expected": "0", "pid": "1"})),
        json.dumps(event_record(exited, {"processname": "audio", "expected": "0", "pid": "2"})),
        json.dumps(event_record(exited, {"processname": "vision", "expected": "0", "pid": "3"})),
        json.dumps(event_record(exited, {"processname": "text", "expected": "1", "pid": "4"})),
        json.dumps(event_record({"eventname": "PROCESS_STATE_FATAL"},
                                {"processname": "compose", "from_state": "BACKOFF"})),
        json.dumps(event_record({"eventname": "PROCESS_STATE_RUNNING"},
                                {"processname": "audio", "pid": "7"})),
        "{not json",
        "",
        '{"event": "part.exited", "part": "orchestrator"}',  # no 'expected': unexpected
    ]
    path.write_text("\n".join(lines) + "\n")
    assert deaths_by_part(settings) == {"audio": 2, "vision": 1, "orchestrator": 1}


def test_liveness_prober_runs_beside_the_parts(tmp_path: Path) -> None:
    settings = mesh_settings(tmp_path)
    options = parse(render_config(demo_parts(), settings), tmp_path)
    liveness = program(options, "liveness")
    assert liveness.command.endswith(
        f"-m mediamesh.mesh.liveness --config {settings.resolved_config_path}")
    assert liveness.autorestart and liveness.priority == 90  # stopped first on `down`
