"""One place for every setting of a mesh: ports, state dir, media root, limits.

Precedence (highest first): explicit values > `MEDIAMESH_*` environment > the TOML config
file (`MEDIAMESH_CONFIG` or `--config`) > defaults. Every port derives from `port_base`
unless set on its own, so two meshes on one machine stay apart by changing one number.
"""
from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent

#: The gRPC services of the mesh and their offset from `port_base`.
SERVICE_PORT_OFFSETS: dict[str, int] = {
    "audio": 10,
    "vision": 11,
    "text": 12,
    "compose": 13,
    "orchestrator": 20,
}
SERVICES: tuple[str, ...] = ("audio", "vision", "text", "compose")

#: Schemes of gRPC's name syntax a `<part>_url` may use instead of host:port.
GRPC_TARGET_SCHEMES = ("dns", "ipv4", "ipv6", "unix", "unix-abstract")

CONFIG_ENV = "MEDIAMESH_CONFIG"
#: The config file passed to `load_settings` (beats MEDIAMESH_CONFIG; never leaks into env).
_config_file: ContextVar[Path | None] = ContextVar("mediamesh_config_file", default=None)


class Settings(BaseSettings):
    """Resolved configuration of one mesh; serialisable so children get the exact same view."""

    model_config = SettingsConfigDict(env_prefix="MEDIAMESH_", extra="forbid")

    # where every part listens (0.0.0.0 in a pod), and the host clients dial for a part
    # unless its <part>_url is set
    host: str = "127.0.0.1"
    # below Linux's ephemeral range (32768-60999): an outgoing connection can never hold
    # one of our ports when the mesh starts
    port_base: int = Field(17100, ge=1024, le=65000)
    nats_port: int | None = None
    nats_monitor_port: int | None = None
    triton_grpc_port: int | None = None
    triton_http_port: int | None = None
    triton_metrics_port: int | None = None
    audio_port: int | None = None
    vision_port: int | None = None
    text_port: int | None = None
    compose_port: int | None = None
    orchestrator_port: int | None = None

    state_dir: Path = Path(".mediamesh")
    # derived from state_dir when unset (<state_dir>/media)
    media_root: Path = Field(default=None, validate_default=False)  # type: ignore[assignment]
    model_repository: Path = SOURCE_ROOT / "model_repository"
    workflows_dir: Path = SOURCE_ROOT / "workflows"
    # one <category>.yaml per moderation category (TextService.Moderate), re-read on change
    moderation_policies_dir: Path = SOURCE_ROOT / "policies"

    # what a client dials for a part instead of `host`:<part>_port: host:port (in
    # Kubernetes: the part's Service DNS name) or a gRPC target (dns:///..., ipv4:a,b). A
    # part listens on `service_address` of itself, so set only the *other* parts' addresses
    # in a process: its own stays `host` (0.0.0.0 in a pod)
    audio_url: str | None = None
    vision_url: str | None = None
    text_url: str | None = None
    compose_url: str | None = None
    orchestrator_url: str | None = None

    nats_url: str | None = None  # set to use an external NATS instead of the embedded one
    triton_url: str | None = None  # host:port of an external Triton (gRPC)
    embedded_nats: bool = True
    embedded_triton: bool = True
    triton_model_config: str = "cpu"  # --model-config-name for the embedded (CPU) Triton

    inline_limit_bytes: int = Field(4 * 1024 * 1024, ge=0)
    grpc_max_message_bytes: int = Field(64 * 1024 * 1024, ge=4 * 1024 * 1024)
    # longest input AnalyzeRhythm / DetectChorus / MixAudio / RenderMedley accept (from headers)
    max_song_seconds: float = Field(20 * 60.0, gt=0)
    # longest span of video DetectShots analyses in one request (its per-frame features
    # stay in memory, ~4 KB a frame: ~720 MB for 2 hours at 25 fps)
    max_video_seconds: float = Field(2 * 3600.0, gt=0)
    # per-song analysis the audio service keeps between AnalyzeRhythm and DetectChorus
    # (~12 MB per 3-minute song); 0 turns the cache off
    analysis_cache_mb: int = Field(256, ge=0)
    triton_timeout_s: float = Field(30.0, gt=0)
    triton_retries: int = Field(4, ge=0)
    # large tensors through /dev/shm instead of gRPC: "auto" = when Triton is on loopback
    # (the embedded mesh); "on" for a Triton sharing the host's /dev/shm (a pod with an
    # emptyDir medium Memory at /dev/shm shared with Triton), "off" otherwise
    triton_shared_memory: Literal["auto", "on", "off"] = "auto"
    shutdown_grace_s: float = Field(10.0, ge=0)
    # on SIGTERM a part answers health NOT_SERVING for this long before it stops taking new
    # calls, so load balancers and readiness probes move traffic first (Kubernetes: about
    # the readiness probe's period); in-flight calls then get shutdown_grace_s
    drain_delay_s: float = Field(0.0, ge=0, le=120)
    # orchestrator: a step not acknowledged within ack_wait (its worker died) is redelivered
    orchestrator_ack_wait_s: float = Field(30.0, ge=1)
    orchestrator_workers: int = Field(8, ge=1, le=256)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Observability. A part serves Prometheus metrics over HTTP on its gRPC port +
    # metrics_port_shift (audio 17110 -> 17130); 0 turns the endpoints off
    metrics_port_shift: int = Field(20, ge=0, le=1000)
    # OTLP/HTTP collector (http://otel-collector:4318): every part and the embedded Triton
    # export their spans there; unset = spans still carry trace ids into logs, exported nowhere
    otlp_endpoint: str | None = None
    trace_sample_ratio: float = Field(1.0, ge=0, le=1)

    # Security. TLS on every gRPC port when cert and key are set; clients verify servers
    # against tls_ca_file; tls_client_auth makes it mutual (callers present a certificate
    # signed by that CA: parts of the mesh present their own cert/key)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_file: Path | None = None
    tls_client_auth: bool = False
    # the name clients check in a server's certificate when it differs from the dialled host
    tls_server_name: str | None = None
    # bearer tokens a server accepts, one per line ("<token> [<caller name>]"; # comments);
    # set = every RPC but grpc.health needs `authorization: Bearer <token>`
    auth_accepted_tokens_file: Path | None = None
    # the token this process sends (a file, so it never lands in mesh.json or a process list)
    auth_token_file: Path | None = None
    # mTLS identities (certificate common name or DNS name) allowed to call; empty = any
    # certificate the CA signed
    auth_allowed_identities: list[str] = Field(default_factory=list)
    # NATS credentials: a .creds file (JWT + nkey), or a token file; CA for a TLS NATS
    nats_credentials_file: Path | None = None
    nats_token_file: Path | None = None
    nats_tls_ca_file: Path | None = None
    # http(s):// inputs (off: only the media root and the object store). When on, hosts
    # that resolve to loopback, private, link-local or reserved addresses are refused unless
    # inside one of http_fetch_allowed_networks (CIDRs, e.g. an internal media server)
    http_fetch: bool = False
    http_fetch_allowed_networks: list[str] = Field(default_factory=list)
    http_fetch_max_bytes: int = Field(2 << 30, gt=0)
    http_fetch_timeout_s: float = Field(60.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        explicit = _config_file.get()
        config_file = explicit or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV)
                                   else None)
        if config_file is not None:
            if not config_file.is_file():
                raise ValueError(f"config file {config_file} does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator(*(f"{name}_url" for name in SERVICE_PORT_OFFSETS))
    @classmethod
    def _grpc_target(cls, value: str | None) -> str | None:
        """What grpc dials: `host:port` (DNS name, IPv4 or [IPv6]), or a target in gRPC's
        name syntax (`dns:///svc:17110`, `ipv4:10.0.0.1:17110,10.0.0.2:17110`, `unix:...`)."""
        if value is None:
            return None
        value = value.strip()
        scheme, _, rest = value.partition(":")
        if scheme in GRPC_TARGET_SCHEMES and rest:
            return value
        host, _, port = value.rpartition(":")
        bare_ipv6 = ":" in host and not (host.startswith("[") and host.endswith("]"))
        if "://" in value or not host or bare_ipv6 or not port.isdigit() or \
                not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not host:port (mediamesh-audio:17110) or a gRPC "
                             f"target ({', '.join(f'{s}:' for s in GRPC_TARGET_SCHEMES)}...)")
        return f"{host}:{int(port)}"

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        base = self.port_base
        defaults = {
            "nats_port": base,
            "nats_monitor_port": base + 1,
            "triton_grpc_port": base + 2,
            "triton_http_port": base + 3,
            "triton_metrics_port": base + 4,
        }
        for name, offset in SERVICE_PORT_OFFSETS.items():
            defaults[f"{name}_port"] = base + offset
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        object.__setattr__(self, "state_dir", self.state_dir.expanduser().resolve())
        if "%" in str(self.state_dir):
            raise ValueError(f"state_dir {self.state_dir} contains '%', which the process "
                             "supervisor expands in paths; choose a directory without it")
        media_root = self.media_root if self.media_root is not None else self.state_dir / "media"
        object.__setattr__(self, "media_root", Path(media_root).expanduser().resolve())
        object.__setattr__(self, "model_repository", self.model_repository.expanduser().resolve())
        if self.embedded_nats and self.nats_credentials_file:
            raise ValueError("nats_credentials_file (a .creds JWT) is for an external NATS in "
                             "operator mode; protect the embedded NATS with nats_token_file")
        ports = self.ports()
        clashes = {p for p in ports.values() if list(ports.values()).count(p) > 1}
        if clashes:
            raise ValueError(f"ports collide: {sorted(clashes)}; set distinct *_port values")
        return self

    # Derived views -------------------------------------------------------------------

    def ports(self) -> dict[str, int]:
        """Every TCP port this mesh listens on, by part."""
        names = ["nats_port", "nats_monitor_port", "triton_grpc_port", "triton_http_port",
                 "triton_metrics_port", *[f"{s}_port" for s in SERVICE_PORT_OFFSETS]]
        ports = {n.removesuffix("_port"): int(getattr(self, n)) for n in names}
        for part in SERVICE_PORT_OFFSETS if self.metrics_port_shift else ():
            ports[f"{part}_metrics"] = ports[part] + self.metrics_port_shift
        return ports

    def metrics_port(self, part: str) -> int | None:
        """Where a part serves Prometheus metrics (its gRPC port + metrics_port_shift)."""
        if not self.metrics_port_shift:
            return None
        return int(getattr(self, f"{part}_port")) + self.metrics_port_shift

    def service_address(self, service: str) -> str:
        """host:port of a mesh gRPC service ("audio", ..., "orchestrator"): its `<service>_url`
        when set (what clients dial in a cluster), else `host`:<service>_port, which is also
        where the part itself listens."""
        url: str | None = getattr(self, f"{service}_url")
        return url or f"{self.host}:{getattr(self, f'{service}_port')}"

    @property
    def nats_address(self) -> str:
        return self.nats_url or f"nats://{self.host}:{self.nats_port}"

    @property
    def triton_address(self) -> str:
        return self.triton_url or f"{self.host}:{self.triton_grpc_port}"

    @property
    def triton_uses_shared_memory(self) -> bool:
        """Whether services hand Triton large tensors through /dev/shm."""
        if self.triton_shared_memory != "auto":
            return self.triton_shared_memory == "on"
        host = self.triton_address.rsplit(":", 1)[0].strip("[]")
        return host in ("localhost", "::1") or host.startswith("127.")

    @property
    def resolved_config_path(self) -> Path:
        """Where `mediamesh up` writes the settings every child process reads."""
        return self.state_dir / "mesh.json"

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from a config file (TOML or the JSON that `up` writes), env and overrides."""
    if config_file is not None and not config_file.is_file():
        raise ValueError(f"config file {config_file} does not exist")
    if config_file is not None and config_file.suffix == ".json":
        data = Settings.model_validate_json(config_file.read_text()).model_dump()
        data.update({k: v for k, v in overrides.items() if v is not None})
        return Settings(**data)
    token = _config_file.set(config_file)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _config_file.reset(token)
