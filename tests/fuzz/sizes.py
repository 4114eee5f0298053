"""How many cases each RPC gets, and hypothesis' settings: fixed seed (derandomized) so a
run is reproducible in CI, no example database in the tree, no per-example deadline (the
calls carry their own)."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

from hypothesis import HealthCheck, Phase, settings

CALL_TIMEOUT_S = 20.0  # per call: a valid job on the corpus's small media ends well before
QUICK_CASES = 300  # `make test`: about 8 per RPC, two minutes on two cores
FULL_SWEEP_FROM = 2000  # cases asked for: from here the corpus sweep covers every media RPC
RAW_SHARE = 0.2  # of each RPC's cases, raw bytes rather than built messages


@dataclass(frozen=True)
class FuzzSize:
    total: int
    rpcs: int

    @classmethod
    def from_env(cls, rpcs: int) -> FuzzSize:
        return cls(int(os.environ.get("MEDIAMESH_FUZZ_CASES", QUICK_CASES)), rpcs)

    @property
    def structured(self) -> int:
        """Built messages per RPC (rounded up: the total is a floor)."""
        return max(2, math.ceil(self.total * (1 - RAW_SHARE) / self.rpcs))

    @property
    def full_sweep(self) -> bool:
        """Every corpus file through every media field (else: the malformed files through
        one media RPC per service)."""
        return self.total >= FULL_SWEEP_FROM

    @property
    def raw(self) -> int:
        return max(2, math.ceil(self.total * RAW_SHARE / self.rpcs))


def hypothesis_settings(examples: int) -> settings:
    shrink = os.environ.get("MEDIAMESH_FUZZ_SHRINK", "1") != "0"
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    phases=phases, print_blob=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example,
                                           HealthCheck.filter_too_much])
