"""The default model on real recordings: genre figures on the valid part, and the "is this music?" verdict on
every real recording in ``../shared/data`` and on generated non-music (speech, noise, tones, clicks, silence).

    python -m bench.eval_real_music [--model transfer-gtzan]

Prints tables (markdown) for the README. Skips with a message where ``../shared/data`` is absent.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from core.analysis.predict import predict_song, predict_waveform
from core.audio.files import audio_files
from core.config import REPO_ROOT
from core.runs.folder import Run, default_model, load_model, resolve_run
from core.synth.nonmusic import nonmusic_clips

SHARED = REPO_ROOT.parent / "shared" / "data"


def real_recordings() -> dict[str, list[Path]]:
    """Every real recording in the shared data, by collection."""
    return {"gtzan_ff (train + valid, 373)": audio_files(SHARED / "gtzan_ff" / "audio"),
            "gtzan clips (7)": audio_files(SHARED / "gtzan" / "audio"),
            "musicnn examples (2)": audio_files(SHARED / "musicnn_examples"),
            "fma clip (1)": audio_files(SHARED / "fma" / "audio")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="run id (default: the default model)")
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"{SHARED} is absent: nothing to evaluate.")
        return
    ref = args.model or default_model()
    model = load_model(ref, device="cpu")
    run = Run(resolve_run(ref))
    song = run.metrics["song"]
    print(f"## {ref}: genres on its test part ({run.info['split'].get('test_part', 'test split')})\n")
    print("| songs | accuracy | balanced accuracy | macro-F1 | top-2 |\n|---|---|---|---|---|")
    print(f"| {song['n']} | {song['accuracy']:.3f} | {song['balanced_accuracy']:.3f} | {song['macro_f1']:.3f} "
          f"| {song['top2_accuracy']:.3f} |\n")
    rows, started = [], time.perf_counter()
    for collection, paths in real_recordings().items():
        for path in paths:
            pred = predict_song(path, model=model)
            rows.append({"kind": "real music", "collection": collection, "name": path.name, **pred.music})
    sr = model.cfg.sample_rate
    for name, wave in nonmusic_clips(sample_rate=sr).items():
        pred = predict_waveform(wave, model=model)
        rows.append({"kind": "not music", "collection": "generated", "name": name, **pred.music})
    table = pd.DataFrame(rows)
    print(f"## The music verdict (cutoff {table['cutoff'].iloc[0]:.3f}, unlike-training cutoff "
          f"{table['ood_cutoff'].iloc[0]:.3f}; {time.perf_counter() - started:.0f} s)\n")
    print("| recordings | n | called music | music, unlike the training data | not music | silent |")
    print("|---|---|---|---|---|---|")
    for (kind, collection), group in table.groupby(["kind", "collection"], sort=False):
        counts = group["verdict"].value_counts()
        print(f"| {kind}: {collection} | {len(group)} | {counts.get('music', 0)} | "
              f"{counts.get('music, unlike the training data', 0)} | {counts.get('not music', 0)} | "
              f"{counts.get('silent', 0)} |")
    print("\nNon-music clips, one by one:\n")
    print("| clip | verdict | score |\n|---|---|---|")
    for row in table[table["kind"] == "not music"].itertuples(index=False):
        print(f"| {row.name} | {row.verdict} | {row.score:.3f} |")
    real = table[table["kind"] == "real music"]
    worst = real.sort_values("score", ascending=False).head(3)
    print("\nHighest-scoring real recordings: " + ", ".join(f"{r.name} {r.score:.3f}" for r in worst.itertuples()))
    print(f"Real recordings called not music: {int((~real['is_music']).sum())} of {len(real)}; "
          f"non-music caught: {int((~table[table['kind'] == 'not music']['is_music']).sum())} of "
          f"{int((table['kind'] == 'not music').sum())}.")


if __name__ == "__main__":
    main()
