"""Real music: the shipped default model on the real GTZAN tracks, its styles, and the music verdict both ways.

Everything here reads ``../shared/data`` and skips where it is absent (the shipped run itself is in the repo).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.analysis.predict import predict_song, predict_waveform
from core.cli.main import main
from core.data.sources import load_source
from core.models.registry import DEFAULT_RUN
from core.runs.evaluate import evaluate_run
from core.runs.folder import Run, default_model, load_model
from core.synth.nonmusic import nonmusic_clips

#: Balanced accuracy of the default model on GTZAN's fault-filtered valid part (measured 0.589; see the README).
VALID_BALANCED_FLOOR = 0.55


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_RUN, device="cpu")


def test_the_default_model_is_the_real_music_run() -> None:
    assert default_model() == DEFAULT_RUN
    run = Run(Path(__file__).resolve().parents[1] / "models" / "runs" / DEFAULT_RUN)
    assert "reggae" in run.classes and len(run.classes) == 10 and not run.synthetic
    assert run.info["split"]["spec"]["kind"] == "files" and run.info["split"]["counts"]["test"] == 106


def test_default_model_on_the_valid_part(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-evaluated from scratch on the real tracks with the run's recorded split: the same 106 valid tracks, and
    a balanced accuracy above the floor."""
    monkeypatch.setenv("GENRE_LAB_CACHE", str(tmp_path / "cache"))
    data = str(shared_data / "gtzan_ff" / "manifest.csv")
    again = Run(evaluate_run(DEFAULT_RUN, data=data, out=tmp_path / "runs" / "again", progress=False))
    manifest = load_source(data)
    valid = set(manifest.loc[manifest["ff_split"] == "valid", "track_id"])
    assert set(again.predictions["track_id"]) == valid and len(valid) == 106
    assert again.metrics["song"]["balanced_accuracy"] >= VALID_BALANCED_FLOOR


def test_real_recordings_are_music(shared_data: Path, model) -> None:
    paths = [*sorted((shared_data / "gtzan" / "audio").glob("*.wav")),
             *sorted((shared_data / "musicnn_examples").glob("*.mp3")), shared_data / "fma" / "audio" / "000002.mp3"]
    verdicts = {p.name: predict_song(p, model=model).music for p in paths}
    assert all(v["is_music"] for v in verdicts.values()), verdicts


@pytest.mark.parametrize("name", ["white noise", "tone 440 Hz", "clicks 10 Hz", "rain-like noise", "speech en",
                                  "speech de", "silence"])
def test_non_music_is_called_so(model, name: str) -> None:
    clips = nonmusic_clips(sample_rate=model.cfg.sample_rate, seconds=12.0, speech=name.startswith("speech"))
    if name not in clips:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    verdict = predict_waveform(clips[name], model=model).music
    assert not verdict["is_music"], verdict
    assert verdict["verdict"] == ("silent" if name == "silence" else "not music")


def test_predict_json_has_styles_tags_and_a_verdict(shared_data: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["predict", str(shared_data / "fma" / "audio" / "000002.mp3"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # valid JSON, no NaN
    styles = sorted(out["styles"].items(), key=lambda item: -item[1])
    assert "hip-hop" in [s for s, _ in styles[:2]]  # an FMA hip-hop clip
    assert out["music"]["verdict"] == "music" and out["top"][0]["genre"] == "hiphop"
    assert {"mtt", "msd", "descriptors"} <= set(out["tags"]) and np.isfinite(list(out["spectrum"].values())).all()


def test_progress_reports_every_batch_with_the_same_results(model, shared_data: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Home's "Analysing: n of N segments": analysing in batches for progress gives exactly the one-call results."""
    import core.analysis.predict as predict

    track = sorted((shared_data / "gtzan_ff" / "audio" / "jazz").glob("*.flac"))[0]
    whole = predict_song(track, model=model)
    monkeypatch.setattr(predict, "PROGRESS_BATCH", 4)
    calls: list[tuple[int, int]] = []
    batched = predict_song(track, model=model, on_progress=lambda done, total: calls.append((done, total)))
    n = len(whole.bounds)
    assert n >= 9 and calls == [(min(k, n), n) for k in range(4, n + 4, 4)]
    np.testing.assert_allclose(batched.segment_probs, whole.segment_probs, atol=1e-6, rtol=0)
    np.testing.assert_allclose(batched.segment_embeddings, whole.segment_embeddings, atol=1e-5, rtol=0)
