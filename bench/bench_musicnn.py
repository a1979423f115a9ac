"""Time the musicnn port on a 3-minute song: decode, mel, model; real-time factor; speedup over the plain port.

    python bench/bench_musicnn.py [--file SONG] [--threads N] [--repeats 3]

Without ``--file``, the musicnn example clip (``../shared/data/musicnn_examples``) is looped to 3 minutes and
written as MP3 in a temporary folder (synthetic chords and noise when the data folder is absent). Two paths are
timed: ``top_tags`` (the MTT tagger on whole-song patches) and the genre model (both taggers on 3-second segments,
as ``predict_segments`` runs them: one shared front-end convolution, :class:`~core.pretrained.musicnn.JointFrontend`,
then each tagger's mid- and back-end; the taggers run each alone are timed too, as the figure before). The plain port is :class:`core.pretrained.musicnn.Musicnn` run layer by layer on
the same patches in one batch; the fast path must match it within 1e-4. Each stage reports the best of
``--repeats`` runs; the load average is printed because other jobs on a shared machine inflate every figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from core.audio.decode import cut_segments, load_audio  # noqa: E402
from core.config import REPO_ROOT  # noqa: E402
from core.pretrained.genre_map import genre_spectrum  # noqa: E402
from core.pretrained.musicnn import (  # noqa: E402
    PATCH_FRAMES,
    SAMPLE_RATE,
    TAGGERS,
    MusicnnFrontend,
    joint_frontend,
    load_reference_net,
    load_tagger,
    song_patches,
    tag_vocabulary,
)

SONG_SECONDS = 180.0
EXAMPLE = REPO_ROOT.parent / "shared" / "data" / "musicnn_examples" / "joram-moments_of_clarity-08-solipsism-59-88.mp3"


def make_song(folder: Path) -> Path:
    """A 3-minute MP3 at 44.1 kHz: the example clip looped, or synthetic chords and noise."""
    rate = 44100
    n = int(SONG_SECONDS * rate)
    if EXAMPLE.is_file():
        clip = load_audio(EXAMPLE, sample_rate=rate).samples
        samples = np.tile(clip, int(np.ceil(n / len(clip))))[:n]
    else:
        t = np.arange(n) / rate
        chords = sum(np.sin(2 * np.pi * f * t * (1 + 0.5 * (t // 2 % 2))) for f in (220.0, 277.2, 329.6))
        samples = 0.2 * chords + 0.05 * np.random.default_rng(0).standard_normal(n)
    path = folder / "song.mp3"
    sf.write(path, samples.astype(np.float32), rate, format="MP3")
    return path


def best_of(repeats: int, fn: Callable[[], object]) -> tuple[float, object]:
    """Smallest wall time of ``repeats`` calls, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def cpu_seconds(fn: Callable[[], object]) -> float:
    """Process CPU time of one call (all threads): on a busy machine, less inflated than wall time."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def run(song: Path, *, repeats: int) -> None:
    """Print the stage table for both paths."""
    t_decode, decoded = best_of(repeats, lambda: load_audio(song, sample_rate=SAMPLE_RATE))
    samples = decoded.samples
    duration = decoded.duration
    fast = {name: load_tagger(name, device="cpu") for name in TAGGERS}
    plain = {name: load_reference_net(name) for name in TAGGERS}
    frontend = MusicnnFrontend()
    print(f"song: {song.name}, {duration:.1f} s; torch threads {torch.get_num_threads()}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    with torch.inference_mode():
        # path 1: top_tags (MTT on whole-song patches)
        t_mel, patches = best_of(repeats, lambda: song_patches(samples))
        t_fast, (probs, feats) = best_of(repeats, lambda: fast["mtt"](patches))
        t_plain, (ref_probs, ref_feats) = best_of(1, lambda: plain["mtt"](patches))
        diff = max(float((probs - ref_probs).abs().max()), float((feats - ref_feats).abs().max()))
        total = t_decode + t_mel + t_fast
        plain_total = t_decode + t_mel + t_plain
        print(f"\ntop_tags (MTT tagger), {len(patches)} patches of {PATCH_FRAMES} frames")
        print(f"  decode {t_decode:6.3f} s | mel {t_mel:6.3f} s | model {t_fast:6.3f} s | total {total:6.3f} s | "
              f"real-time factor {total / duration:.4f}")
        print(f"  plain port: model {t_plain:6.3f} s, total {plain_total:6.3f} s -> speedup model "
              f"{t_plain / t_fast:.1f}x, end to end {plain_total / total:.1f}x; max |difference| {diff:.1e}")
        print(f"  CPU time of one model call: fast {cpu_seconds(lambda: fast['mtt'](patches)):.3f} s, "
              f"plain {cpu_seconds(lambda: plain['mtt'](patches)):.3f} s")

        # path 2: genre model (both taggers on 3-second segments)
        segments, _ = cut_segments(samples, sample_rate=SAMPLE_RATE, segment_seconds=3.0)

        def mel() -> torch.Tensor:
            return frontend(torch.from_numpy(segments))[:, :PATCH_FRAMES]

        def both(nets: dict[str, torch.nn.Module], x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
            outs = {name: net(x) for name, net in nets.items()}
            spectrum = genre_spectrum({n: o[0].numpy() for n, o in outs.items()}, {n: tag_vocabulary(n) for n in outs})
            return spectrum, torch.cat([o[1] for o in outs.values()], dim=1).numpy()

        joint = joint_frontend("cpu")

        def shared(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
            outs = {name: fast[name].head(front) for name, front in zip(TAGGERS, joint(x))}
            spectrum = genre_spectrum({n: o[0].numpy() for n, o in outs.items()}, {n: tag_vocabulary(n) for n in outs})
            return spectrum, torch.cat([o[1] for o in outs.values()], dim=1).numpy()

        t_mel2, seg_patches = best_of(repeats, mel)
        t_alone, _ = best_of(repeats, lambda: both(fast, seg_patches))
        t_fast2, (spectrum, emb) = best_of(repeats, lambda: shared(seg_patches))
        t_plain2, (ref_spectrum, ref_emb) = best_of(1, lambda: both(plain, seg_patches))
        diff2 = max(float(np.abs(spectrum - ref_spectrum).max()), float(np.abs(emb - ref_emb).max()))
        total2 = t_decode + t_mel2 + t_fast2
        plain_total2 = t_decode + t_mel2 + t_plain2
        print(f"\ngenre model (MTT + MSD taggers), {len(segments)} segments of 3 s")
        print(f"  decode {t_decode:6.3f} s | mel {t_mel2:6.3f} s | model {t_fast2:6.3f} s | total {total2:6.3f} s | "
              f"real-time factor {total2 / duration:.4f}")
        print(f"  plain port: model {t_plain2:6.3f} s, total {plain_total2:6.3f} s -> speedup model "
              f"{t_plain2 / t_fast2:.1f}x, end to end {plain_total2 / total2:.1f}x; max |difference| {diff2:.1e}")
        print(f"  taggers each alone (before the shared front-end): model {t_alone:6.3f} s -> shared is "
              f"{t_alone / t_fast2:.2f}x faster")
        print(f"  CPU time of one model call: shared {cpu_seconds(lambda: shared(seg_patches)):.3f} s, "
              f"each alone {cpu_seconds(lambda: both(fast, seg_patches)):.3f} s, "
              f"plain {cpu_seconds(lambda: both(plain, seg_patches)):.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=None, help="song to time (default: a generated 3-minute MP3)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.file:
        run(args.file, repeats=args.repeats)
    else:
        with tempfile.TemporaryDirectory() as folder:
            run(make_song(Path(folder)), repeats=args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
