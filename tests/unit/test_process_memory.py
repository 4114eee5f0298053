"""Resident memory of process trees, read from /proc (this test's own process)."""
from __future__ import annotations

import os
import subprocess
import sys

from mediamesh.mesh.process_memory import children_map, rss_bytes, tree_rss


def test_a_process_tree_counts_its_children() -> None:
    sleeper = "print('ready', flush=True); import time; time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", sleeper], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        children = children_map()  # the child now sleeps: its memory holds still
        assert child.pid in children[os.getpid()]
        alone = rss_bytes(child.pid)
        assert alone > 1 << 20 and tree_rss(child.pid, children) == alone
        assert tree_rss(os.getpid(), children) > alone + (1 << 20)  # ours plus the child's
    finally:
        child.kill()
        child.wait()


def test_a_gone_process_has_no_memory() -> None:
    assert rss_bytes(2 ** 22 + 12345) == 0
