"""protogen: the committed/installed stubs are exactly what the .proto files generate."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from mediamesh.protogen import PACKAGE_SUBDIR, generate, proto_files

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = ROOT / PACKAGE_SUBDIR


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("protogen")
    return out, generate(ROOT, out)


def test_proto_files_are_found_in_stable_order() -> None:
    files = proto_files(ROOT)
    assert files == sorted(files)
    assert {f.name for f in files} >= {"common.proto", "vision.proto", "diagnostics.proto"}
    assert all(f.is_relative_to(ROOT / "proto" / "mediamesh" / "v1") for f in files)


def test_every_proto_has_its_generated_modules(generated: tuple[Path, list[Path]]) -> None:
    out, written = generated
    names = {p.name for p in written}
    for proto in proto_files(ROOT):
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert proto.stem + suffix in names
    assert all(p.parent == out / PACKAGE_SUBDIR for p in written)
    assert (out / PACKAGE_SUBDIR / "__init__.py").is_file()


def test_installed_stubs_are_byte_identical_to_a_fresh_generation(
        generated: tuple[Path, list[Path]]) -> None:
    _, written = generated
    stale = [p.name for p in written
             if not (INSTALLED / p.name).is_file() or
             (INSTALLED / p.name).read_bytes() != p.read_bytes()]
    assert stale == [], f"regenerate the stubs (python -m mediamesh.protogen): {stale}"
    leftovers = {p.name for p in INSTALLED.glob("*_pb2*.py*")} - {p.name for p in written}
    assert leftovers == set(), f"stubs without a .proto: {leftovers}"


def test_every_generated_module_imports() -> None:
    for proto in proto_files(ROOT):
        module = importlib.import_module(f"mediamesh.v1.{proto.stem}_pb2")
        assert module.DESCRIPTOR.name == f"mediamesh/v1/{proto.name}"
        assert module.DESCRIPTOR.package == "mediamesh.v1"
