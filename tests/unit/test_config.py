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
    assert ports["audio_metrics"] == BASE + 30  # Prometheus: gRPC port + metrics_port_shift
    assert s.metrics_port("orchestrator") == ports["orchestrator_metrics"] == BASE + 40
    assert Settings(port_base=BASE, state_dir=tmp_path, metrics_port_shift=0).metrics_port(
        "audio") is None
    assert len(set(ports.values())) == len(ports)
    assert s.service_address("vision") == f"127.0.0.1:{BASE + 11}"
    assert s.nats_address == f"nats://127.0.0.1:{BASE}"
    assert s.triton_address == f"127.0.0.1:{BASE + 2}"


def test_explicit_audio_port_overrides_only_that_port(tmp_path: Path) -> None:
    derived = Settings(port_base=BASE, state_dir=tmp_path).ports()
    s = Settings(port_base=BASE, audio_port=BASE + 500, state_dir=tmp_path)
    ports = s.ports()
    assert ports["audio"] == BASE + 500
    assert ports["audio_metrics"] == BASE + 520  # its metrics move with it
    moved = {"audio", "audio_metrics"}
    assert {k: v for k, v in ports.items() if k not in moved} == \
        {k: v for k, v in derived.items() if k not in moved}


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


# Per-part addresses (Kubernetes: clients dial Service DNS names, pods listen on 0.0.0.0) ---

def test_without_urls_every_part_is_host_and_its_port(tmp_path: Path) -> None:
    """The embedded default is unchanged: no *_url set, every address is host:port."""
    s = Settings(port_base=BASE, state_dir=tmp_path)
    for part, offset in SERVICE_PORT_OFFSETS.items():
        assert getattr(s, f"{part}_url") is None
        assert s.service_address(part) == f"127.0.0.1:{BASE + offset}"


def test_urls_from_env_are_what_clients_dial(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("MEDIAMESH_HOST", "0.0.0.0")
    monkeypatch.setenv("MEDIAMESH_AUDIO_URL", "mm-mediamesh-audio:17110")
    monkeypatch.setenv("MEDIAMESH_VISION_URL", "mm-mediamesh-vision.media.svc:9000")
    s = load_settings(port_base=BASE, state_dir=tmp_path)
    assert s.service_address("audio") == "mm-mediamesh-audio:17110"
    assert s.service_address("vision") == "mm-mediamesh-vision.media.svc:9000"
    # a part without a URL (here: the process's own) listens and is dialled on host:port
    assert s.service_address("orchestrator") == f"0.0.0.0:{BASE + 20}"
    assert s.service_address("text") == f"0.0.0.0:{BASE + 12}"
    assert s.ports()["audio"] == BASE + 10  # a URL changes no port this process uses


def test_a_pod_listens_on_all_interfaces_on_its_own_port(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """What the Helm chart gives the orchestrator: the four services' URLs, its own port."""
    monkeypatch.setenv("MEDIAMESH_HOST", "0.0.0.0")
    monkeypatch.setenv("MEDIAMESH_ORCHESTRATOR_PORT", "17120")
    for part in ("audio", "vision", "text", "compose"):
        monkeypatch.setenv(f"MEDIAMESH_{part.upper()}_URL", f"mm-{part}:17110")
    s = load_settings(state_dir=tmp_path)
    assert s.service_address("orchestrator") == "0.0.0.0:17120"
    assert {p: s.service_address(p) for p in ("audio", "vision", "text", "compose")} == \
        {p: f"mm-{p}:17110" for p in ("audio", "vision", "text", "compose")}


@pytest.mark.parametrize("url", ["[::1]:17110", "10.0.0.7:1", " svc:65535 ", "localhost:17110",
                                 "dns:///mm-mediamesh-audio-pods.media.svc:17110",
                                 "ipv4:127.0.0.1:17110,127.0.0.1:17150", "unix:/run/audio.sock"])
def test_url_forms_accepted(url: str, tmp_path: Path) -> None:
    s = Settings(port_base=BASE, state_dir=tmp_path, compose_url=url)
    assert s.service_address("compose") == url.strip()


@pytest.mark.parametrize("url", ["svc", "svc:", ":17110", "svc:http", "svc:0", "svc:70000",
                                 "grpc://svc:17110", "::1:17110", "dns:"])
def test_url_that_is_not_host_and_port_is_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="host:port"):
        Settings(port_base=BASE, state_dir=tmp_path, audio_url=url)


def test_urls_survive_the_mesh_json_and_toml(tmp_path: Path) -> None:
    s = Settings(port_base=BASE, state_dir=tmp_path, text_url="mm-text:17112")
    path = tmp_path / "mesh.json"
    path.write_text(s.to_json())
    assert load_settings(path).service_address("text") == "mm-text:17112"
    toml = tmp_path / "mesh.toml"
    toml.write_text(f'port_base = {BASE}\norchestrator_url = "wf.example:443"\n')
    assert load_settings(toml, state_dir=tmp_path).service_address("orchestrator") == \
        "wf.example:443"
