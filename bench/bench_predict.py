"""Song analysis speed: a 3-minute MP3 through decode, resample, mel and model, stage by stage.

Run: ``python bench/bench_predict.py [--model RUN_ID] [--repeats 5] [--threads N]``. Prints milliseconds per stage
(best and median of the repeats) and the real-time factor, with the machine's load average. Without a shipped run it
times an untrained CNN of the same architecture (speed does not depend on the weights); for CNN and CRNN runs it times
the network as trained and the inference copy that ``predict_segments`` runs (batch norms folded, channels-last). For models on the pretrained
musicnn taggers (``musicnn``, ``transfer``) it also times the mel front-end and the two taggers on the song's segments,
the taggers on ONNX Runtime (the CPU path) and on torch, jointly and each alone (same outputs within 1e-4).
"""

from __future__ import annotations

import argparse
import os
import statistics
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
from core.models.nets import build_net, for_inference  # noqa: E402
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


def timings(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="cnn-synth")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
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
            "mix to mono, raw.mean(axis=1) (numpy's mean, before)": lambda: raw.mean(axis=1, dtype=np.float32),
            "mix to mono, 0.5 * (left + right) (as the decoder mixes)": lambda: 0.5 * (raw[:, 0] + raw[:, 1]),
            f"resample 44.1k → {cfg.sample_rate / 1000:g}k (soxr HQ)": lambda: soxr.resample(
                mono, sr, cfg.sample_rate, "HQ"),
        }
        if net is not None:
            with torch.inference_mode():
                spec = net.frontend(batch)
            stages["mel front-end (torch.stft + filterbank, 60 segments)"] = lambda: _no_grad(net.frontend, batch)
            fast = for_inference(net)
            stages["network as trained, batch norms apart (60 segments; before)"] = lambda: _no_grad(
                lambda b: net.head(net.features(b)), spec)
            stages["network for inference, batch norms folded (60 segments)"] = lambda: _no_grad(
                lambda b: fast.head(fast.features(b)), spec)
        backbone = getattr(model, "backbone", model)
        if getattr(backbone, "kind", None) == "musicnn":
            stages.update(_musicnn_stages(segments))
        stages["end to end: predict_song(path)"] = lambda: predict_song(mp3, model=model)
        print(f"model: {label}; torch threads: {torch.get_num_threads()}; audio: 180 s stereo MP3 at 44.1 kHz; "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
        print(f"  {'stage':<62} {'best':>8} {'median':>9}")
        for name, fn in stages.items():
            fn()  # warm-up
            times = timings(fn, args.repeats)
            best, median = min(times), statistics.median(times)
            print(f"  {name:<62} {best * 1000:6.1f} ms {median * 1000:6.1f} ms")
        print(f"  real-time factor (best): {180.0 / best:.0f}x (target: 360x, i.e. under 0.5 s); "
              f"load average now {os.getloadavg()[0]:.2f}")


def _musicnn_stages(segments: np.ndarray) -> dict:
    """The musicnn taggers' stages on the song's 3-s segments, as ``MusicnnGenreModel.predict_segments`` runs them."""
    from core.pretrained.musicnn import (
        PATCH_FRAMES,
        TAGGERS,
        _frontend,
        joint_frontend,
        load_tagger,
    )

    from core.pretrained.runtime import run_taggers

    waves = torch.from_numpy(segments)
    frontend, joint = _frontend("cpu"), joint_frontend("cpu")
    nets = [load_tagger(name, device="cpu") for name in TAGGERS]
    patches = _no_grad(lambda w: frontend(w)[:, :PATCH_FRAMES], waves)
    n = len(segments)
    return {
        f"musicnn mel front-end ({n} segments)": lambda: _no_grad(frontend, waves),
        f"both taggers on ONNX Runtime (the CPU path; {n} segments)": lambda: run_taggers(patches.numpy()),
        f"both taggers on torch, shared front-end conv ({n} segments)": lambda: _no_grad(
            lambda p: [net.head(front) for net, front in zip(nets, joint(p))], patches),
        f"both taggers on torch, each alone ({n} segments)": lambda: _no_grad(
            lambda p: [net(p) for net in nets], patches),
    }


def _no_grad(fn, x):
    with torch.inference_mode():
        return fn(x)


if __name__ == "__main__":
    main()
