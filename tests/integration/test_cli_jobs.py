"""The CLI runs jobs through the mesh: stages local files, shows progress, explains errors."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mediamesh import media
from mediamesh.config import Settings
from tests.integration.test_mesh_health import cli


def test_key_a_local_image_outside_the_media_root(mesh: Settings, tmp_path: Path) -> None:
    image = np.full((48, 64, 3), (40, 200, 60), np.uint8)
    image[12:36, 20:44] = (200, 150, 130)
    source = tmp_path / "shot.png"
    media.write_image(source, image)
    result = cli(mesh, "key", str(source), "--mode", "alpha", "--output", "cli/shot-alpha.png")
    assert result.returncode == 0, result.stderr
    output = mesh.media_root / "cli" / "shot-alpha.png"
    assert f"output: {output}" in result.stdout
    matte = media.read_image(output)[..., 0]
    assert matte[24, 32] == 255 and matte[2, 2] == 0
    assert (mesh.media_root / "inputs" / "shot.png").exists()  # staged into the media root


def test_key_errors_are_one_line(mesh: Settings, tmp_path: Path) -> None:
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500)
    result = cli(mesh, "key", str(garbage))
    assert result.returncode == 1
    assert "INVALID_ARGUMENT" in result.stderr and "broken.mp4" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    missing = cli(mesh, "key", str(tmp_path / "nope.mp4"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
