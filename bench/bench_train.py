"""Training and evaluation throughput of the CNN and CRNN on CPU, and the peak memory of a training run.

Run: ``python bench/bench_train.py [--batches 5] [--memory]``. Prints training crops per second (forward,
backward and optimiser step on random 3-s crops, batch 32, SpecAugment on), evaluation songs per second (30-s
songs: 10 segments each, batch 64) and, with ``--memory``, the peak resident memory of a one-epoch
``python -m core train`` on ``data/synth`` (generate it first with ``python -m core synth``).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

from core.analysis.predict import predict_waveform  # noqa: E402
from core.config import GENRES, AudioConfig  # noqa: E402
from core.models.nets import NETS, build_net  # noqa: E402
from core.models.torchnet import TorchGenreModel


def train_throughput(kind: str, *, batches: int, cfg: AudioConfig) -> float:
    """Crops per second of training steps (best of ``batches`` after one warm-up)."""
    torch.manual_seed(0)
    net = build_net(kind, cfg=cfg, n_classes=len(GENRES)).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x = 0.1 * torch.randn(32, cfg.segment_samples)
    y = torch.randint(0, len(GENRES), (32,))
    times = []
    for _ in range(batches + 1):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return 32 / min(times[1:])


def eval_throughput(kind: str, *, songs: int, cfg: AudioConfig) -> float:
    """30-s songs per second through :func:`core.analysis.predict.predict_waveform`."""
    net = build_net(kind, cfg=cfg, n_classes=len(GENRES)).eval()
    model = TorchGenreModel(kind=kind, classes=GENRES, cfg=cfg, net=net, device=torch.device("cpu"))
    song = (0.1 * np.random.default_rng(0).standard_normal(30 * cfg.sample_rate)).astype(np.float32)
    predict_waveform(song, model=model)
    start = time.perf_counter()
    for _ in range(songs):
        predict_waveform(song, model=model)
    return songs / (time.perf_counter() - start)


def peak_memory_of_training() -> float:
    """Peak RSS (MiB) of a one-epoch CNN training run on data/synth, in a child process."""
    data = ROOT / "data" / "synth"
    if not data.is_dir():
        raise SystemExit("data/synth is missing: run `python -m core synth` first (or drop --memory).")
    subprocess.run([sys.executable, "-m", "core", "train", "--model", "cnn", "--data", str(data), "--epochs", "1",
                    "--valid", "0.25", "--test", "0.25", "--crops-per-track", "6", "--run-id", "bench-memory"],
                   cwd=ROOT, check=True, capture_output=True)
    shutil.rmtree(ROOT / "models" / "runs" / "bench-memory")
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--songs", type=int, default=5)
    parser.add_argument("--memory", action="store_true", help="also measure a one-epoch run on data/synth")
    args = parser.parse_args()
    cfg = AudioConfig()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    for kind in NETS:
        crops = train_throughput(kind, batches=args.batches, cfg=cfg)
        songs = eval_throughput(kind, songs=args.songs, cfg=cfg)
        print(f"  {kind:<5} training {crops:7.1f} crops/s   evaluation {songs:6.2f} songs/s (30 s each)")
    if args.memory:
        print(f"  peak memory of a one-epoch CNN run on data/synth: {peak_memory_of_training():.0f} MiB")


if __name__ == "__main__":
    main()
