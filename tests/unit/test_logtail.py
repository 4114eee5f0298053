"""logtail: the last lines of each part's log, prefixed by the part when there are several."""
from __future__ import annotations

from pathlib import Path

from mediamesh.mesh.logtail import follow_files, last_lines


def write_log(folder: Path, part: str, count: int) -> Path:
    path = folder / f"{part}.log"
    path.write_text("".join(f"{part} line {i}\n" for i in range(count)))
    return path


def test_single_file_prints_the_last_lines_without_prefix(tmp_path: Path) -> None:
    path = write_log(tmp_path, "audio", 10)
    out: list[str] = []
    follow_files([path], 3, False, out.append)
    assert out == ["audio line 7", "audio line 8", "audio line 9"]


def test_several_files_are_prefixed_by_part(tmp_path: Path) -> None:
    files = [write_log(tmp_path, "audio", 5), write_log(tmp_path, "orchestrator", 2)]
    out: list[str] = []
    follow_files(files, 2, False, out.append)
    assert out == [
        "       audio | audio line 3",
        "       audio | audio line 4",
        "orchestrator | orchestrator line 0",
        "orchestrator | orchestrator line 1",
    ]


def test_short_and_empty_files(tmp_path: Path) -> None:
    short = write_log(tmp_path, "nats", 2)
    empty = write_log(tmp_path, "text", 0)
    out: list[str] = []
    follow_files([short, empty], 50, False, out.append)
    assert out == ["        nats | nats line 0", "        nats | nats line 1"]


def test_last_lines_tolerates_undecodable_bytes_and_missing_final_newline(tmp_path: Path) -> None:
    path = tmp_path / "triton.log"
    path.write_bytes(b"ok\nbad \xff\xfe byte\nno newline at end")
    lines = last_lines(path, 2)
    assert len(lines) == 2
    assert lines[0].startswith("bad ") and "\ufffd" in lines[0]
    assert lines[1] == "no newline at end"
    out: list[str] = []
    follow_files([path], 1, False, out.append)
    assert out == ["no newline at end"]
