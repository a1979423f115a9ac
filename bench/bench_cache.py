"""Cold vs warm pass of the waveform cache over 200 clips.

Uses ``data/synth`` when it exists (the project's synthetic set), else writes 200 clips of 30 s
(noise + tones, 44.1 kHz stereo WAV, so decoding mixes down and resamples) to a temporary folder.
The cache goes to a fresh temporary folder, so the cold pass really decodes everything.

    python -m bench.bench_cache [--clips 200] [--workers N] [--seconds 30]

It also times reading every waveform back with ``cached_waveform`` in one process (what training pays).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from core.config import REPO_ROOT, AudioConfig
from core.data.cache import cached_waveform, warm_cache
from core.data.sources import load_source


def write_clips(folder: Path, *, count: int, seconds: float, rate: int = 44100) -> list[Path]:
    """``count`` stereo 16-bit WAV clips of ``seconds`` s: white noise plus two tones, distinct per clip."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    bed = rng.standard_normal((len(t), 2)).astype(np.float32)
    bed = 0.05 * bed / np.abs(bed).max()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in tqdm(range(count), desc="write clips", unit="clip"):
        tones = 0.2 * np.sin(2 * np.pi * (110 + 7 * i) * t) + 0.1 * np.sin(2 * np.pi * (660 + 3 * i) * t)
        noise = np.roll(bed, 997 * i, axis=0)
        path = folder / f"clip{i:04d}.wav"
        sf.write(path, tones[:, None] + noise, rate, subtype="PCM_16")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=None, help="default: all cores")
    args = parser.parse_args()
    sample_rate = AudioConfig().sample_rate
    with tempfile.TemporaryDirectory() as tmp:
        synth = REPO_ROOT / "data" / "synth"
        if synth.is_dir():
            paths = load_source(str(synth))["path"].dropna().tolist()[: args.clips]
            what = f"{len(paths)} clips from {synth}"
        else:
            paths = write_clips(Path(tmp) / "clips", count=args.clips, seconds=args.seconds)
            what = f"{len(paths)} generated {args.seconds:g}-s 44.1 kHz stereo WAV clips"
        cache_dir = Path(tmp) / "cache"
        cold = warm_cache(paths, sample_rate=sample_rate, workers=args.workers, cache_dir=cache_dir)
        warm = warm_cache(paths, sample_rate=sample_rate, workers=args.workers, cache_dir=cache_dir)
        start = time.perf_counter()
        for path in tqdm(paths, desc="read back", unit="file"):
            cached_waveform(path, sample_rate=sample_rate, cache_dir=cache_dir)
        read_back = time.perf_counter() - start
    assert cold.decoded == len(paths) - len(cold.failed) and warm.decoded == 0
    print(f"{what}, decoded to {sample_rate} Hz mono")
    print(f"cold pass (decode + write): {cold.seconds:.2f} s ({cold.decoded} decoded)")
    print(f"warm pass (hash + check):   {warm.seconds:.2f} s ({warm.cached} cached, 0 decoded)")
    print(f"warm is {cold.seconds / warm.seconds:.1f}x faster")
    print(f"read back every waveform with cached_waveform, 1 process: {read_back:.2f} s "
          f"({read_back / len(paths) * 1000:.1f} ms per clip)")


if __name__ == "__main__":
    main()
