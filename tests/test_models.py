"""Every registry entry builds and runs; predictions summarise correctly; weights round-trip without pickle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from core.analysis.predict import AMBIGUITY_MARGIN, predict_waveform, summarise
from core.config import GENRES, AudioConfig
from core.models.knn import KNNGenreModel
from core.models.nets import NETS, build_net, for_inference
from core.models.registry import KINDS
from core.models.torchnet import TorchGenreModel
from core.runs.folder import load_model
from core.training.train import make_settings

CFG = AudioConfig()


@pytest.mark.parametrize("kind", sorted(NETS))
def test_every_net_runs_forward_and_backward(kind: str) -> None:
    torch.manual_seed(0)
    net = build_net(kind, cfg=CFG, n_classes=len(GENRES))
    waves = 0.1 * torch.randn(3, CFG.segment_samples)
    logits, emb = net.embed(waves)
    assert logits.shape == (3, len(GENRES)) and emb.shape == (3, net.embedding_dim)
    assert torch.isfinite(logits).all() and torch.isfinite(emb).all()
    logits.sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_unknown_net_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="Choose one of"):
        build_net("transformer", cfg=CFG, n_classes=10)


def test_knn_fit_predict_on_random_features() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(len(GENRES), 57)) * 3
    labels = np.repeat(np.arange(len(GENRES)), 20)
    feats = centres[labels] + rng.normal(size=(len(labels), 57))
    model = KNNGenreModel(kind="knn", classes=GENRES, cfg=CFG, mean=feats.mean(0), scale=feats.std(0),
                          train_features=feats, train_labels=labels, k=5)
    probs, emb = model.predict_features(centres)
    assert probs.shape == (len(GENRES), len(GENRES)) and emb.shape == (len(GENRES), 57)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
    assert (probs.argmax(1) == np.arange(len(GENRES))).all()


def test_knn_with_more_neighbours_than_training_rows_is_a_clear_error() -> None:
    from core.errors import InputError
    from core.models.knn import fit_knn

    feats = np.random.default_rng(0).normal(size=(6, 57))
    with pytest.raises(InputError, match="k = 10, but there are 6 training rows"):
        fit_knn(feats, pd.Series(["blues", "rock"] * 3), k=10, cfg=CFG, classes=GENRES)
    model = fit_knn(feats, pd.Series(["blues", "rock"] * 3), k=6, cfg=CFG, classes=GENRES)
    probs, _ = model.predict_features(feats)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(NETS))
def test_weights_save_load_same_output(tmp_path, kind: str) -> None:
    torch.manual_seed(1)
    net = build_net(kind, cfg=CFG, n_classes=4).eval()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    again = build_net(kind, cfg=CFG, n_classes=4)
    again.load_state_dict(load_file(tmp_path / "w.safetensors"))
    again.eval()
    waves = 0.1 * torch.randn(2, CFG.segment_samples)
    with torch.inference_mode():
        assert torch.equal(net(waves), again(waves))


@pytest.mark.parametrize("run_id", ["cnn-gtzan", "crnn-gtzan"])
def test_inference_copy_gives_the_trained_networks_outputs(run_id: str) -> None:
    """``for_inference`` folds each batch norm into its convolution and drops dropout: the shipped real-music runs
    give the same probabilities (1e-5) and embeddings (relative 1e-5) as their networks, and the copy is made once."""
    model = load_model(run_id, device="cpu")
    rng = np.random.default_rng(0)
    t = np.arange(model.cfg.segment_samples) / model.cfg.sample_rate
    waves = np.stack([0.3 * np.sin(2 * np.pi * f * t) * (1 + np.sin(2 * np.pi * 3 * t)) for f in (110, 440, 1500)]
                     + [0.1 * rng.standard_normal(t.size)]).astype(np.float32)
    with torch.inference_mode():
        logits, emb = model.net.eval().embed(torch.from_numpy(waves))
    probs, embs = model.predict_segments(waves)
    np.testing.assert_allclose(probs, torch.softmax(logits, 1).numpy(), atol=1e-5)
    np.testing.assert_allclose(embs, emb.numpy(), rtol=1e-5, atol=1e-5)
    fast = model._fast
    assert not any(isinstance(m, torch.nn.BatchNorm2d | torch.nn.Dropout2d) for m in fast.body)
    model.predict_segments(waves[:1])
    assert model._fast is fast
    assert model.net is not fast and any(isinstance(m, torch.nn.BatchNorm2d) for m in model.net.body)


@pytest.mark.parametrize("run_id", ["cnn-gtzan", "crnn-gtzan"])
def test_inference_copy_on_real_tracks(run_id: str, shared_data) -> None:
    """The same equality on every 3-s segment of three real GTZAN tracks (blues, classical, metal)."""
    from core.audio.decode import cut_segments, load_audio

    model = load_model(run_id, device="cpu")
    for genre in ("blues", "classical", "metal"):
        path = min((shared_data / "gtzan_ff" / "audio" / genre).glob("*.flac"))
        samples = load_audio(path, sample_rate=model.cfg.sample_rate).samples
        segments, _ = cut_segments(samples, sample_rate=model.cfg.sample_rate,
                                   segment_seconds=model.cfg.segment_seconds)
        with torch.inference_mode():
            logits, emb = model.net.eval().embed(torch.from_numpy(segments))
        probs, embs = model.predict_segments(segments)
        np.testing.assert_allclose(probs, torch.softmax(logits, 1).numpy(), atol=1e-5)
        np.testing.assert_allclose(embs, emb.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(NETS))
def test_inference_copy_of_an_untrained_net(kind: str) -> None:
    """Random batch-norm statistics (not the identity) fold exactly too."""
    torch.manual_seed(2)
    net = build_net(kind, cfg=CFG, n_classes=4)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    net.eval()
    waves = 0.1 * torch.randn(3, CFG.segment_samples)
    with torch.inference_mode():
        want, got = net.embed(waves), for_inference(net).embed(waves)
    for a, b in zip(want, got):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_predict_waveform_segments_and_spectrum() -> None:
    torch.manual_seed(0)
    net = build_net("cnn", cfg=CFG, n_classes=len(GENRES)).eval()
    model = TorchGenreModel(kind="cnn", classes=GENRES, cfg=CFG, net=net, device=torch.device("cpu"))
    samples = (0.1 * np.random.default_rng(0).standard_normal(int(10.5 * CFG.sample_rate))).astype(np.float32)
    pred = predict_waveform(samples, model=model)
    assert pred.segment_probs.shape == (3, len(GENRES)) and pred.bounds.shape == (3, 2)
    np.testing.assert_allclose(pred.spectrum, pred.segment_probs.mean(0), atol=1e-6)
    assert abs(pred.spectrum.sum() - 1) < 1e-5
    out = pred.to_json()
    assert abs(sum(out["spectrum"].values()) - 1) < 1e-4 and len(out["segments"]) == 3


def test_ambiguity_flag_follows_the_margin() -> None:
    clear = np.array([[0.9, 0.05, 0.05]])
    torn = np.array([[0.5, 0.4, 0.1], [0.4, 0.5, 0.1]])
    spectrum, gap, entropy, flag = summarise(clear)
    assert not flag and gap == pytest.approx(0.85) and 0 < entropy < 1
    spectrum, gap, entropy, flag = summarise(torn)
    assert flag and gap == pytest.approx(0.0) and gap < AMBIGUITY_MARGIN
    assert summarise(torn, margin=0.0)[3] is False


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_registered_kind_has_its_code(name: str) -> None:
    """A kind's module loads models; a trainable kind also trains and names its audio configuration."""
    kind = KINDS[name]
    code = kind.code()
    assert callable(code.load)
    if kind.settings is not None:
        assert callable(code.train) and isinstance(code.audio_config(kind.settings()), AudioConfig)
        assert kind.model_file and all("help" in f.metadata for f in dataclasses.fields(kind.settings))


def test_settings_refuse_options_of_another_family() -> None:
    assert make_settings("knn", "data", k=5).hyper.k == 5
    with pytest.raises(ValueError, match="--epochs does not apply to knn"):
        make_settings("knn", "data", epochs=3)
    with pytest.raises(ValueError, match="Unknown model"):
        make_settings("transformer", "data")
