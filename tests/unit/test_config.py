"""Settings: ports derived from one base, precedence explicit > env > file > defaults."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from mediamesh.config import CONFIG_ENV, SERVICE_PORT_OFFSETS, Settings, load_settings

BASE = 40000


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MEDIAMESH_* variable from the caller's shell, and none leaking out of a test.

    setenv-then-delenv records the original value, so even a variable that load_settings
    writes into os.environ itself is removed again when the test ends.
    """
    names = {n for n in os.environ if n.startswith("MEDIAMESH_")} | {CONFIG_ENV,
                                                                       "MEDIAMESH_PORT_BASE"}
    for name in names:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name, raising=False)


def test_every_port_derives_from_port_base(tmp_path: Path) -> None:
    s = Settings(port_base=BASE, state_dir=tmp_path)
    ports = s.ports()
    assert ports["nats"] == BASE
    assert ports["nats_monitor"] == BASE + 1
    assert ports["triton_grpc"] == BASE + 2
    assert ports["triton_http"] == BASE + 3
    assert ports["triton_metrics"] == BASE + 4
    for service, offset in SERVICE_PORT_OFFSETS.items():
        assert ports[service] == BASE + offset
    assert ports["audio"] == BASE + 10
    assert ports["orchestrator"] == BASE + 20
    assert len(set(ports.values())) == len(ports)
    assert s.service_address("vision") == f"127.0.0.1:{BASE + 11}"
    assert s.nats_address == f"nats://127.0.0.1:{BASE}"
    assert s.triton_address == f"127.0.0.1:{BASE + 2}"


def test_explicit_audio_port_overrides_only_that_port(tmp_path: Path) -> None:
    derived = Settings(port_base=BASE, state_dir=tmp_path).ports()
    s = Settings(port_base=BASE, audio_port=BASE + 500, state_dir=tmp_path)
    ports = s.ports()
    assert ports["audio"] == BASE + 500
    assert {k: v for k, v in ports.items() if k != "audio"} == \
        {k: v for k, v in derived.items() if k != "audio"}


def test_env_port_base_applies(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDIAMESH_PORT_BASE", "41000")
    s = load_settings(state_dir=tmp_path)
    assert s.port_base == 41000
    assert s.nats_port == 41000
    assert s.audio_port == 41010
    assert s.orchestrator_port == 41020


def test_explicit_value_beats_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MEDIAMESH_PORT_BASE", "41000")
    s = load_settings(state_dir=tmp_path, port_base=42000)
    assert s.nats_port == 42000


def test_toml_file_applies(tmp_path: Path) -> None:
    config = tmp_path / "mesh.toml"
    config.write_text(f'port_base = 43000\nvision_port = 43999\nstate_dir = "{tmp_path / "st"}"\n')
    s = load_settings(config)
    assert s.port_base == 43000
    assert s.nats_port == 43000
    assert s.audio_port == 43010
    assert s.vision_port == 43999
    assert s.state_dir == (tmp_path / "st").resolve()


def test_env_beats_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "mesh.toml"
    config.write_text("port_base = 43000\nlog_level = \"debug\"\n")
    monkeypatch.setenv("MEDIAMESH_PORT_BASE", "44000")
    s = load_settings(config, state_dir=tmp_path)
    assert s.port_base == 44000
    assert s.triton_grpc_port == 44002
    assert s.log_level == "debug"  # keys the env does not set still come from the file


def test_loading_a_toml_file_does_not_stick_to_later_loads(tmp_path: Path) -> None:
    """A later load without a file must not silently reuse the previous call's file."""
    config = tmp_path / "mesh.toml"
    config.write_text("port_base = 43000\n")
    assert load_settings(config, state_dir=tmp_path).port_base == 43000
    again = load_settings(state_dir=tmp_path)
    assert again.port_base == Settings.model_fields["port_base"].default


def test_colliding_explicit_ports_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="collide"):
        Settings(port_base=BASE, audio_port=BASE + 11, state_dir=tmp_path)  # == vision
    with pytest.raises(ValidationError, match="collide"):
        Settings(port_base=BASE, text_port=BASE, state_dir=tmp_path)  # == nats


def test_state_dir_and_media_root_are_absolute(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings(state_dir=Path("rel/state"), port_base=BASE)
    assert s.state_dir.is_absolute()
    assert s.state_dir == (tmp_path / "rel" / "state").resolve()
    assert s.media_root == s.state_dir / "media"
    assert s.media_root.is_absolute()
    assert s.resolved_config_path == s.state_dir / "mesh.json"

    explicit = Settings(state_dir=Path("st"), media_root=Path("elsewhere/media"), port_base=BASE)
    assert explicit.media_root is not None and explicit.media_root.is_absolute()
    assert explicit.media_root == (tmp_path / "elsewhere" / "media").resolve()


def test_json_round_trip_keeps_every_setting(tmp_path: Path) -> None:
    s = Settings(port_base=BASE, compose_port=BASE + 777, state_dir=tmp_path / "state",
                 inline_limit_bytes=1234, log_level="warning")
    path = tmp_path / "mesh.json"
    path.write_text(s.to_json())
    back = load_settings(path)
    assert back.ports() == s.ports()
    assert back.state_dir == s.state_dir
    assert back.media_root == s.media_root
    assert back.inline_limit_bytes == 1234
    assert back.log_level == "warning"


def test_out_of_range_values_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        Settings(port_base=80, state_dir=tmp_path)
    with pytest.raises(ValidationError):
        Settings(port_base=BASE, log_level="chatty", state_dir=tmp_path)
    with pytest.raises(ValidationError):
        Settings(port_base=BASE, no_such_setting=1, state_dir=tmp_path)


def test_missing_config_file_is_an_error_not_silently_ignored(tmp_path: Path) -> None:
    """`--config typo.toml` must fail loudly instead of starting on the default ports."""
    with pytest.raises((OSError, ValueError)):
        load_settings(tmp_path / "no-such-config.toml", state_dir=tmp_path)
