"""Train the beat/downbeat TCN on songs the repo renders; write mediamesh/models/beat_tcn.npz.

Optional step (needs torch: `pip install torch==2.13.0`); the committed .npz is what the mesh
uses, so nobody needs torch to run mediamesh. Training songs use seeds from TRAIN_SEED_BASE
up, and the evaluation set (`bench/eval_audio.py`) uses seeds below 10 000, so the model is
never scored on a song it was trained on.

    python tools/train_beat_tcn.py --songs 240 --epochs 30
"""
from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mediamesh import media
from mediamesh.audio import spectral
from mediamesh.models import beat_tcn
from mediamesh.synth.songs import render_song

TRAIN_SEED_BASE = 100_000
OUT = Path(__file__).resolve().parents[1] / "mediamesh" / "models" / beat_tcn.WEIGHTS


def targets(beats: list[float], positions: list[int], frames: int) -> np.ndarray:
    """(frames, 2) soft targets: 1 on the beat's frame, 0.5 on its neighbours."""
    y = np.zeros((frames, 2), np.float32)
    for t, p in zip(beats, positions):
        i = int(round(t * spectral.FPS))
        for j, v in ((i - 1, 0.5), (i + 1, 0.5), (i, 1.0)):
            if 0 <= j < frames:
                y[j, 0] = max(y[j, 0], v)
                if p == 1:
                    y[j, 1] = max(y[j, 1], v)
    return y


def example(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets of one training song; every third goes through MP3."""
    song = render_song(seed, spectral.RATE)
    rng = np.random.default_rng(seed)
    mono = song.samples.mean(axis=0)
    if seed % 3 == 0:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "song.mp3"
            media.write_audio(path, song.samples, spectral.RATE, bitrate=int(rng.choice(
                [96_000, 128_000, 192_000])))
            mono = media.decode_audio(path, spectral.RATE, True)
    mono = mono * float(10 ** (rng.uniform(-12, 0) / 20))
    x = spectral.features(mono)
    return x, targets(song.truth.beats, song.truth.positions, len(x))


class TCN(nn.Module):
    def __init__(self, n_features: int) -> None:
        super().__init__()
        c, k = beat_tcn.CHANNELS, beat_tcn.KERNEL
        self.input = nn.Conv1d(n_features, c, 1)
        self.blocks = nn.ModuleList(nn.Conv1d(c, c, k, dilation=d, padding=d * (k - 1) // 2)
                                    for d in beat_tcn.DILATIONS)
        self.head = nn.Conv1d(c, 2, 1)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, T, F) -> logits (N, T, 2)
        h = nn.functional.elu(self.input(x.transpose(1, 2)))
        for block in self.blocks:
            h = h + self.drop(nn.functional.elu(block(h)))
        return self.head(h).transpose(1, 2)


def crops(data: list[tuple[np.ndarray, np.ndarray]], n: int, length: int,
          rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(n):
        x, y = data[int(rng.integers(len(data)))]
        start = int(rng.integers(0, max(1, len(x) - length)))
        xs.append(x[start:start + length])
        ys.append(y[start:start + length])
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def fold_normalisation(state: dict[str, np.ndarray], mean: np.ndarray, std: np.ndarray
                       ) -> dict[str, np.ndarray]:
    """Put the input standardisation into the first 1x1 convolution."""
    w, b = state["input.weight"], state["input.bias"]
    scaled = w / std[None, :, None]
    state["input.weight"] = scaled.astype(np.float32)
    state["input.bias"] = (b - (scaled[:, :, 0] @ mean)).astype(np.float32)
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--songs", type=int, default=240)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=120, help="batches per epoch")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=1536, help="frames per crop")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    started = time.time()
    seeds = list(range(TRAIN_SEED_BASE, TRAIN_SEED_BASE + args.songs))
    with multiprocessing.Pool(args.workers) as pool:
        data = pool.map(example, seeds, chunksize=4)
    print(f"rendered {len(data)} songs, {sum(len(x) for x, _ in data) / 6000:.0f} min of "
          f"audio in {time.time() - started:.0f} s", flush=True)
    split = max(1, len(data) // 10)
    train, valid = data[split:], data[:split]
    stacked = np.concatenate([x for x, _ in train])
    mean, std = stacked.mean(axis=0), stacked.std(axis=0) + 1e-3
    norm = [((x - mean) / std, y) for x, y in train]
    valid_norm = [((x - mean) / std, y) for x, y in valid]
    model = TCN(stacked.shape[1])
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, args.epochs)
    loss_fn = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(0)
    history = []
    for epoch in range(args.epochs):
        model.train()
        total = 0.0
        for _ in range(args.steps):
            x, y = crops(norm, args.batch, args.length, rng)
            loss = loss_fn(model(x), y)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
        schedule.step()
        model.eval()
        with torch.no_grad():
            vloss = float(np.mean([float(loss_fn(model(torch.from_numpy(x[None])),
                                                 torch.from_numpy(y[None])))
                                   for x, y in valid_norm]))
        history.append({"epoch": epoch + 1, "train_loss": total / args.steps,
                        "valid_loss": vloss})
        print(f"epoch {epoch + 1:3d}  train {total / args.steps:.4f}  valid {vloss:.4f}  "
              f"({time.time() - started:.0f} s)", flush=True)
    state = {k: v.detach().numpy().astype(np.float32)
             for k, v in model.state_dict().items()}
    state = fold_normalisation(state, mean.astype(np.float64), std.astype(np.float64))
    record = {
        "made": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "by": "tools/train_beat_tcn.py", "torch": torch.__version__,
        "python": platform.python_version(), "licence": "Apache-2.0",
        "data": f"mediamesh.synth.songs seeds {seeds[0]}..{seeds[-1]} at "
                f"{spectral.RATE} Hz, every third through MP3; 10% held out for validation",
        "args": vars(args), "history": history,
        "seconds": round(time.time() - started)}
    np.savez_compressed(OUT, record=np.array(json.dumps(record)), **state)
    x, _ = valid[0]
    with torch.no_grad():
        ours = torch.sigmoid(model(torch.from_numpy(((x - mean) / std)[None].astype(
            np.float32))))[0].numpy()
    check = beat_tcn.reference(x, {k: v for k, v in state.items()})
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes); numpy reference vs torch max diff "
          f"{np.max(np.abs(check - ours)):.2e}")


if __name__ == "__main__":
    main()
