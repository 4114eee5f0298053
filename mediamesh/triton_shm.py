"""Large tensors to and from a Triton on the same host through system shared memory.

Python gRPC is slow with big messages: a 6 MB tensor costs ~43 ms on the wire here and
~6 ms through /dev/shm (shared/research/infra.md). A keying chunk of four 720p frames
carries 1.8 MB in and 6.4 MB out. So when Triton shares the host, tensors above MIN_BYTES
travel through a shared-memory region instead of the message.

Regions are created and registered with Triton once and reused call after call (a
registration costs a round trip, and 2.51 can refuse to unregister a region it has just
answered from); one region serves one call at a time, its tensors at aligned offsets.
A Triton that restarted has forgotten the registrations: `register_all` repeats them.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing import shared_memory

import numpy as np

#: Below this a tensor goes inline: the region bookkeeping costs more than it saves.
MIN_BYTES = 256 * 1024
ALIGN = 64
MIN_REGION_BYTES = 1 << 20

Register = Callable[[str, str, int], Awaitable[None]]
Unregister = Callable[[str], Awaitable[None]]


@dataclass(eq=False)
class Region:
    """One /dev/shm segment known to Triton by `name`."""

    name: str
    memory: shared_memory.SharedMemory
    registered: bool = False

    @property
    def size(self) -> int:
        return self.memory.size

    @property
    def key(self) -> str:
        return "/" + self.memory.name

    def write(self, array: np.ndarray, offset: int) -> None:
        view = np.ndarray(array.shape, array.dtype, buffer=self.memory.buf, offset=offset)
        view[...] = array

    def read(self, dtype: np.dtype, shape: list[int], offset: int) -> np.ndarray:
        """A copy (the region is reused by the next call)."""
        return np.ndarray(shape, dtype, buffer=self.memory.buf, offset=offset).copy()

    def destroy(self) -> None:
        self.memory.close()
        try:
            self.memory.unlink()
        except FileNotFoundError:
            pass


@dataclass
class Layout:
    """Where each tensor of one call sits in its region: name -> (offset, bytes)."""

    inputs: dict[str, tuple[int, int]] = field(default_factory=dict)
    outputs: dict[str, tuple[int, int]] = field(default_factory=dict)
    size: int = 0

    def place(self, table: dict[str, tuple[int, int]], name: str, nbytes: int) -> None:
        table[name] = (self.size, nbytes)
        self.size += -(-nbytes // ALIGN) * ALIGN

    @classmethod
    def of(cls, inputs: dict[str, np.ndarray], output_bytes: dict[str, int]) -> Layout:
        """Tensors of at least MIN_BYTES; an empty layout when none is that big."""
        layout = cls()
        for name, array in inputs.items():
            if array.nbytes >= MIN_BYTES:
                layout.place(layout.inputs, name, array.nbytes)
        for name, nbytes in output_bytes.items():
            if nbytes >= MIN_BYTES:
                layout.place(layout.outputs, name, nbytes)
        return layout


class SharedMemoryPool:
    """Regions leased one per call; `register` / `unregister` talk to Triton."""

    def __init__(self, register: Register, unregister: Unregister) -> None:
        self._register = register
        self._unregister = unregister
        self._free: list[Region] = []
        self._all: set[Region] = set()
        #: unique per pool: several clients in one process must not share a region name
        self.prefix = f"mediamesh-{os.getpid()}-{uuid.uuid4().hex[:8]}-"
        self._names = (f"{self.prefix}{n}" for n in itertools.count())

    async def lease(self, nbytes: int) -> Region:
        """The smallest free region that holds `nbytes`, else a new one (a power of two)."""
        fits = [r for r in self._free if r.size >= nbytes]
        if fits:
            region = min(fits, key=lambda r: r.size)
            self._free.remove(region)
        else:
            size = max(MIN_REGION_BYTES, 1 << (nbytes - 1).bit_length())
            name = next(self._names)
            region = Region(name, shared_memory.SharedMemory(name, create=True, size=size))
            self._all.add(region)
        # registered by the caller inside its retry loop (see TritonClient): Triton may be
        # restarting right now, and that must be retried like the inference itself
        return region

    async def register(self, region: Region) -> None:
        """Tell Triton about `region` (again, after a restart)."""
        await self._register(region.name, region.key, region.size)
        region.registered = True

    def release(self, region: Region) -> None:
        """Back for the next call (the pool grows to the most calls ever in flight)."""
        self._free.append(region)

    def forget_registrations(self) -> None:
        """Triton restarted: every region must be registered again before use."""
        for region in self._all:
            region.registered = False

    def _discard(self, region: Region) -> None:
        self._all.discard(region)
        region.destroy()

    async def close(self) -> None:
        for region in list(self._all):
            if region.registered:
                with contextlib.suppress(Exception):  # Triton may be gone: unlink anyway
                    await self._unregister(region.name)
            self._discard(region)
        self._free.clear()
