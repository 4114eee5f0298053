"""Start tritonserver in the foreground exactly as `mediamesh up` starts the embedded one.

The CPU Triton of the Helm chart's dev profile runs from the mediamesh image with this
script (installed as /opt/mediamesh/bin/run-triton): the pytriton wheel's `tritonserver`, a
private backends dir holding the python-backend stub and our `onnxrunner` backend, and the
environment that lets the stub import numpy/onnxruntime from the image's venv. Everything
comes from the MEDIAMESH_* settings (model repository, --model-config-name, host, ports,
state dir for the backends dir), so the command line is `mediamesh.mesh.servers`' own;
extra arguments are appended to it (e.g. --log-verbose=1).
"""
from __future__ import annotations

import os
import sys

from mediamesh.config import load_settings
from mediamesh.mesh.servers import prepare_triton_backends, triton_command, triton_environment


def command_and_environment(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    settings = load_settings()
    backends = prepare_triton_backends(settings)
    return [*triton_command(settings, backends), *argv], {**os.environ, **triton_environment()}


def main() -> None:
    command, environment = command_and_environment(sys.argv[1:])
    sys.stdout.flush()
    os.execve(command[0], command, environment)


if __name__ == "__main__":
    main()
