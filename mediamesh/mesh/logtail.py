"""`mediamesh logs`: the last lines of each part's log, then new lines as they come."""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path


def last_lines(path: Path, count: int) -> list[str]:
    with path.open(errors="replace") as handle:
        return list(deque(handle, maxlen=count))


def follow_files(files: list[Path], lines: int, follow: bool,
                 emit: Callable[[str], None], poll_s: float = 0.25) -> None:
    """Print the tail of every file, prefixed by its part; with `follow`, keep going."""
    prefix = len(files) > 1
    offsets: dict[Path, int] = {}
    for path in files:
        for line in last_lines(path, lines):
            emit(f"{path.stem:>12} | {line.rstrip()}" if prefix else line.rstrip())
        offsets[path] = path.stat().st_size
    while follow:
        for path in files:
            size = path.stat().st_size if path.exists() else 0
            if size < offsets[path]:
                offsets[path] = 0  # rotated
            if size > offsets[path]:
                with path.open(errors="replace") as handle:
                    handle.seek(offsets[path])
                    chunk = handle.read()
                offsets[path] = size
                for line in chunk.splitlines():
                    emit(f"{path.stem:>12} | {line}" if prefix else line)
        time.sleep(poll_s)
