"""Pick a port base whose whole block is free, so a test or bench mesh never collides."""
from __future__ import annotations

import random
import socket

from mediamesh.config import SERVICE_PORT_OFFSETS, Settings

#: gRPC ports, then each part's metrics port (gRPC port + the default metrics_port_shift)
PORT_SPAN = max(SERVICE_PORT_OFFSETS.values()) + 1 + \
    int(Settings.model_fields["metrics_port_shift"].default)


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port_base(host: str = "127.0.0.1", low: int = 20000, high: int = 32700,
                   attempts: int = 200) -> int:
    """A base b such that b .. b+PORT_SPAN-1 are all free right now.

    The default range stays below Linux's ephemeral ports (32768+), which outgoing
    connections take at random and would otherwise collide with a mesh's listeners.
    """
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(low, high - PORT_SPAN)
        if all(_free(host, base + i) for i in range(PORT_SPAN)):
            return base
    raise RuntimeError(f"no free block of {PORT_SPAN} ports in {low}-{high}")
