"""Compile proto/mediamesh/v1/*.proto into mediamesh/v1/ with grpcio-tools.

Run by the build hook (pip install) and by `make`; also `python -m mediamesh.protogen`.
"""
from __future__ import annotations

import sys
from pathlib import Path

PROTO_SUBDIR = Path("proto")
PACKAGE_SUBDIR = Path("mediamesh") / "v1"


def proto_files(root: Path) -> list[Path]:
    """All contract files, in a stable order."""
    return sorted((root / PROTO_SUBDIR / PACKAGE_SUBDIR).glob("*.proto"))


def generate(root: Path, out_dir: Path | None = None) -> list[Path]:
    """Generate *_pb2.py, *_pb2.pyi and *_pb2_grpc.py; returns the files written."""
    import grpc_tools
    from grpc_tools import protoc

    out = out_dir or root
    (out / PACKAGE_SUBDIR).mkdir(parents=True, exist_ok=True)
    init = out / PACKAGE_SUBDIR / "__init__.py"
    if not init.exists():
        init.write_text('"""Generated gRPC stubs (never edit; see proto/)."""\n')
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    files = proto_files(root)
    args = [
        "grpc_tools.protoc",
        f"-I{root / PROTO_SUBDIR}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *[str(f) for f in files],
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed for {[f.name for f in files]}")
    return sorted((out / PACKAGE_SUBDIR).glob("*_pb2*.py*"))


if __name__ == "__main__":
    written = generate(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[1])
    print(f"generated {len(written)} files")
