"""Song analysis speed: a 3-minute MP3 through decode, resample, mel and model, stage by stage.

Run: ``python bench/bench_predict.py [--model RUN_ID] [--repeats 5]``. Prints milliseconds per stage and the
real-time factor. Without a shipped run it times an untrained CNN of the same architecture (speed does not
depend on the weights).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from core.analysis.predict import predict_song  # noqa: E402
from core.audio.decode import cut_segments  # noqa: E402
from core.config import GENRES, AudioConfig  # noqa: E402
from core.models.nets import build_net  # noqa: E402
from core.models.torchnet import TorchGenreModel
from core.runs.folder import load_model, runs_root


def make_mp3(path: Path, seconds: float = 180.0, sr: int = 44100) -> Path:
    """A 3-minute stereo MP3 of tones and noise."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    mono = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) + 0.05 * rng.standard_normal(t.size)
    data = np.stack([mono, np.roll(mono, 100)], axis=1).astype(np.float32)
    with sf.SoundFile(path, "w", sr, 2, format="MP3") as f:
        for i in range(0, len(data), 65536):
            f.write(data[i : i + 65536])
    return path


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn-synth")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if (runs_root() / args.model).is_dir():
        model = load_model(args.model, device="cpu")
        label = args.model
    else:
        cfg = AudioConfig()
        net = build_net("cnn", cfg=cfg, n_classes=len(GENRES)).eval()
        model = TorchGenreModel(kind="cnn", classes=GENRES, cfg=cfg, net=net, device=torch.device("cpu"))
        label = "untrained cnn (same architecture)"
    cfg = model.cfg
    with tempfile.TemporaryDirectory() as tmp:
        mp3 = make_mp3(Path(tmp) / "song.mp3")
        raw, sr = sf.read(mp3, dtype="float32")
        mono = raw.mean(axis=1)
        segments, _ = cut_segments(soxr.resample(mono, sr, cfg.sample_rate, "HQ"), sample_rate=cfg.sample_rate,
                                   segment_seconds=cfg.segment_seconds)
        batch = torch.from_numpy(segments)
        net = getattr(model, "net", None)
        stages = {
            "decode (soundfile, MP3 → float32)": lambda: sf.read(mp3, dtype="float32"),
            f"mix to mono + resample 44.1k → {cfg.sample_rate / 1000:g}k (soxr HQ)": lambda: soxr.resample(
                raw.mean(axis=1), sr, cfg.sample_rate, "HQ"),
        }
        if net is not None:
            with torch.inference_mode():
                spec = net.frontend(batch)
            stages["mel front-end (torch.stft + filterbank, 60 segments)"] = lambda: _no_grad(net.frontend, batch)
            stages["network (60 segments)"] = lambda: _no_grad(lambda b: net.head(net.features(b)), spec)
        stages["end to end: predict_song(path)"] = lambda: predict_song(mp3, model=model)
        print(f"model: {label}; torch threads: {torch.get_num_threads()}; audio: 180 s stereo MP3 at 44.1 kHz")
        for name, fn in stages.items():
            fn()  # warm-up
            seconds = best_of(fn, args.repeats)
            print(f"  {name:<55} {seconds * 1000:8.1f} ms")
        print(f"  real-time factor: {180.0 / seconds:.0f}x (target: 360x, i.e. under 0.5 s)")


def _no_grad(fn, x):
    with torch.inference_mode():
        return fn(x)


if __name__ == "__main__":
    main()
