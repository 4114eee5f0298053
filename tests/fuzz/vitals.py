"""Is the mesh still well after a batch of bad input? Every part answers grpc.health.v1
SERVING, no process was restarted (supervised parts and Triton's per-model stubs keep their
pids), and each service's resident memory stays bounded.

Memory bounds, per service process tree (VmRSS, mediamesh.mesh.process_memory):
  - RSS_LIMIT (3 GB) absolute: the largest input a service accepts is a 50 MP picture
    (`MAX_PICTURE_PIXELS`, 150 MB as RGB) or 115 M decoded samples (`MAX_DECODED_SAMPLES`,
    460 MB as float32); with the few copies an analysis holds, a request peaks near 2 GB over
    an idle process of 100-300 MB. Past 3 GB a decode or an allocation escaped the limits;
  - GROWTH_LIMIT (1 GB) from the first to the last reading of the session. A process keeps
    the pages of its largest request (glibc hands back only the top of a heap, and jobs run
    in a thread pool with an arena per thread): measured over a 12,000-case run, +230 to
    +410 MB per service, reached within the first batches that hold big inputs and flat
    after (the report lists every batch's RSS). A leak of 100 KB a case would pass 1 GB.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mediamesh.config import Settings
from mediamesh.mesh.health import grpc_health
from mediamesh.mesh.parts import GRPC_SERVICE_NAMES
from mediamesh.mesh.process_memory import children_map, part_pids, parts_rss

RSS_LIMIT = 3 << 30
GROWTH_LIMIT = 1 << 30
#: the parts whose memory is bounded (ours); NATS and Triton are watched for restarts only
SERVICE_PARTS = tuple(GRPC_SERVICE_NAMES)


@dataclass(frozen=True)
class Snapshot:
    pids: dict[str, int]  # part (or triton/<model> for a model's stub) -> pid
    rss: dict[str, int]  # part -> bytes of its process tree (Triton: with its stubs)


def _stub_model(pid: int) -> str:
    """The model a Triton python-backend stub serves (the folder of its model.py)."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    for arg in args:
        if arg.endswith(b"/model.py"):
            return Path(arg.decode()).parent.parent.name
    return str(pid)


def snapshot(settings: Settings) -> Snapshot:
    pids = part_pids(settings)
    rss = parts_rss(pids)
    tree = children_map()
    stubs = {f"triton/{_stub_model(child)}": child
             for child in tree.get(pids.get("triton", -1), [])}
    return Snapshot({**pids, **stubs}, rss)


def problems(settings: Settings, first: Snapshot, now: Snapshot) -> list[str]:
    """What is wrong with the mesh now, compared with the session's first reading."""
    found = []
    for part, service in GRPC_SERVICE_NAMES.items():
        serving, status = grpc_health(settings.service_address(part), timeout_s=5.0,
                                      service=service)
        if not serving:
            found.append(f"{part} health is {status}, not SERVING")
    for name, pid in first.pids.items():
        if now.pids.get(name) != pid:
            found.append(f"{name} restarted: pid {pid} -> {now.pids.get(name)}")
    for part in SERVICE_PARTS:
        rss, grown = now.rss.get(part, 0), now.rss.get(part, 0) - first.rss.get(part, 0)
        if rss > RSS_LIMIT:
            found.append(f"{part} RSS {rss >> 20} MB is over {RSS_LIMIT >> 20} MB")
        if grown > GROWTH_LIMIT:
            found.append(f"{part} RSS grew {grown >> 20} MB (limit {GROWTH_LIMIT >> 20} MB)")
    return found
