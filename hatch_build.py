"""Generate the gRPC Python stubs from proto/ at build time (wheel and editable installs).

Generated code lives in mediamesh/v1/, is git-ignored and never edited by hand.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ProtoBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if not (root / "proto").is_dir():  # building a wheel from an sdist that already has stubs
            return
        import sys

        sys.path.insert(0, str(root))
        from mediamesh.protogen import generate

        generate(root)
