"""Which tensors of a call go through shared memory, and where they sit in its region."""
from __future__ import annotations

import numpy as np

from mediamesh.triton_shm import ALIGN, MIN_BYTES, Layout, Region


def test_only_big_tensors_get_aligned_places() -> None:
    big = np.zeros(MIN_BYTES + 3, np.uint8)
    layout = Layout.of({"chroma": big, "params": np.zeros((4, 5), np.float32)},
                       {"alpha": 2 * MIN_BYTES, "scores": 16})
    assert list(layout.inputs) == ["chroma"] and list(layout.outputs) == ["alpha"]
    assert layout.inputs["chroma"] == (0, MIN_BYTES + 3)
    offset, nbytes = layout.outputs["alpha"]
    assert offset % ALIGN == 0 and offset >= MIN_BYTES + 3 and nbytes == 2 * MIN_BYTES
    assert layout.size == offset + 2 * MIN_BYTES


def test_small_calls_need_no_region() -> None:
    assert Layout.of({"x": np.zeros(10, np.uint8)}, {"y": 10}).size == 0


def test_a_region_writes_and_reads_back_copies() -> None:
    from multiprocessing import shared_memory

    region = Region("t", shared_memory.SharedMemory(create=True, size=4096))
    try:
        data = np.arange(12, dtype=np.float32).reshape(3, 4)
        region.write(data, 128)
        back = region.read(np.dtype(np.float32), [3, 4], 128)
        region.write(np.zeros_like(data), 128)  # the next call reuses the region
        assert np.array_equal(back, data)
    finally:
        region.destroy()
