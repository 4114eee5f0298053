"""jobs.stage: local files go into the media root of the mesh this CLI talks to, and a
folder where no mesh was started is refused with what to do (the services would look in
another media root and answer NOT_FOUND)."""
from __future__ import annotations

from pathlib import Path

import pytest

from mediamesh.config import load_settings
from mediamesh.jobs import JobError, stage


def test_outside_files_are_copied_into_the_started_mesh_media_root(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state")
    settings.state_dir.mkdir(parents=True)
    settings.resolved_config_path.write_text(settings.to_json())
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"video bytes")
    ref = stage(settings, source)
    assert ref.uri == "inputs/clip.mp4" and ref.name == "clip.mp4"
    assert (settings.media_root / ref.uri).read_bytes() == b"video bytes"


def test_a_folder_without_a_started_mesh_is_refused(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "elsewhere")
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"video bytes")
    with pytest.raises(JobError, match="no mesh was started from .*--state-dir"):
        stage(settings, source)
    with pytest.raises(JobError, match="does not exist"):
        stage(settings, tmp_path / "missing.mp4")
