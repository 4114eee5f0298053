"""Resident memory of a mesh's parts, each with its child processes, read from /proc.

Why whole process trees: Triton runs every python-backend model in its own stub process, so
Triton's own RSS is a small part of what it holds. Sums of RSS count pages shared between
processes (libraries, shared memory) once per process: an upper bound, not a PSS.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from mediamesh.config import Settings
from mediamesh.mesh.parts import mesh_parts
from mediamesh.mesh.supervisor import MeshSupervisor

PROC = Path("/proc")


def rss_bytes(pid: int) -> int:
    """VmRSS of one process; 0 when it is gone (or a kernel thread)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def children_map() -> dict[int, list[int]]:
    """parent pid -> child pids of every process now running."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name (field 2) is in parentheses and may contain spaces
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children[parent].append(int(entry.name))
    return children


def tree_rss(pid: int, children: dict[int, list[int]]) -> int:
    """RSS of a process and all its descendants."""
    total, pending, seen = 0, [pid], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        total += rss_bytes(current)
        pending.extend(children.get(current, []))
    return total


def part_pids(settings: Settings) -> dict[str, int]:
    """pid of every running part of the mesh, in the mesh's order (servers first)."""
    running = {p.name: p.pid for p in MeshSupervisor(settings).processes() if p.pid}
    return {part.name: running[part.name] for part in mesh_parts(settings)
            if part.name in running}


def parts_rss(pids: dict[str, int]) -> dict[str, int]:
    """RSS in bytes of each part's process tree."""
    children = children_map()
    return {name: tree_rss(pid, children) for name, pid in pids.items()}
