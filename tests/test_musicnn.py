"""The musicnn port: checkpoint reader, converter, front-end, faithfulness, fast path and genre model."""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from core.audio.decode import cut_segments, load_audio
from core.config import GENRES
from core.pretrained import tfcheckpoint as tfc
from core.pretrained.genre_map import GENRE_TAGS, genre_spectrum
from core.pretrained.musicnn import (
    PATCH_FRAMES,
    PATCH_SAMPLES,
    PRETRAINED_DIR,
    SAMPLE_RATE,
    TAGGERS,
    FastMusicnn,
    JointFrontend,
    MusicnnFrontend,
    joint_frontend,
    joint_taggers,
    load_musicnn_genre_model,
    load_reference_net,
    load_tagger,
    song_patches,
    tag_vocabulary,
    taggram,
    top_tags,
)

WHEEL_ENV = "MUSICNN_WHEEL"
#: Where the README's ``pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn`` puts the wheel.
DEFAULT_WHEEL_DIR = Path(tempfile.gettempdir()) / "musicnn"


# --- CRC32C and a checkpoint written by hand ------------------------------------------------------------------------

def _crc32c_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def test_crc32c_matches_bitwise_definition() -> None:
    assert tfc.crc32c(b"123456789") == 0xE3069283  # the standard check value
    data = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    for n in (0, 1, 15, 16, 17, 255, 256, 257, 1024, 4999):  # tail only, exact chunks, chunks + tail
        assert tfc.crc32c(data[:n]) == _crc32c_bitwise(data[:n]), n


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire) + payload


def _entry(dtype: int, shape: tuple[int, ...], offset: int, data: bytes) -> bytes:
    dims = b"".join(_field(2, 2, _varint(len(d)) + d) for d in (_field(1, 0, _varint(n)) for n in shape))
    return (_field(1, 0, _varint(dtype)) + _field(2, 2, _varint(len(dims)) + dims) + _field(4, 0, _varint(offset))
            + _field(5, 0, _varint(len(data))) + _field(6, 5, struct.pack("<I", tfc.mask_crc(tfc.crc32c(data)))))


def _block(records: list[tuple[bytes, bytes]]) -> bytes:
    """A table block with prefix-compressed keys and a single restart point."""
    out, previous = bytearray(), b""
    for key, value in records:
        shared = len(os.path.commonprefix([previous, key]))
        out += _varint(shared) + _varint(len(key) - shared) + _varint(len(value)) + key[shared:] + value
        previous = key
    return bytes(out) + struct.pack("<II", 0, 1)


def _with_trailer(block: bytes) -> bytes:
    return block + b"\x00" + struct.pack("<I", tfc.mask_crc(tfc.crc32c(block + b"\x00")))


def _write_checkpoint(prefix: Path, tensors: dict[str, tuple[int, np.ndarray]]) -> None:
    """A TF V2 checkpoint (one shard, one data block) built byte by byte, independently of the reader."""
    data, records = b"", [(b"", _field(1, 0, _varint(1)))]  # BundleHeaderProto: num_shards = 1
    for name in sorted(tensors):
        code, array = tensors[name]
        raw = array.tobytes()
        records.append((name.encode(), _entry(code, array.shape, len(data), raw)))
        data += raw
    data_block = _with_trailer(_block(records))
    index_block = _with_trailer(_block([(records[-1][0], _varint(0) + _varint(len(data_block) - 5))]))
    handles = _varint(0) + _varint(0) + _varint(len(data_block)) + _varint(len(index_block) - 5)
    footer = handles + b"\x00" * (40 - len(handles)) + struct.pack("<Q", tfc.TABLE_MAGIC)
    Path(f"{prefix}.index").write_bytes(data_block + index_block + footer)
    Path(f"{prefix}.data-00000-of-00001").write_bytes(data)


def test_reader_reads_a_handmade_checkpoint(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    tensors = {"conv2d/kernel": (1, rng.standard_normal((3, 2, 1, 4)).astype(np.float32)),
               "conv2d/bias": (1, rng.standard_normal(4).astype(np.float32)),
               "global_step": (9, np.array(1234, dtype=np.int64)),
               "half": (19, rng.standard_normal((2, 2)).astype(np.float16))}
    _write_checkpoint(tmp_path / "model", tensors)
    read = tfc.read_checkpoint(tmp_path / "model")
    assert sorted(read) == sorted(tensors)
    for name, (_, array) in tensors.items():
        assert read[name].dtype == array.dtype and read[name].shape == array.shape
        np.testing.assert_array_equal(read[name], array)

    shard = tmp_path / "model.data-00000-of-00001"
    raw = bytearray(shard.read_bytes())
    raw[5] ^= 0xFF
    shard.write_bytes(bytes(raw))
    with pytest.raises(tfc.CheckpointError, match="checksum"):
        tfc.read_checkpoint(tmp_path / "model")


def test_reader_rejects_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "x.index").write_bytes(b"\x00" * 64)
    with pytest.raises(tfc.CheckpointError, match="magic"):
        tfc.read_checkpoint(tmp_path / "x")


# --- converter ------------------------------------------------------------------------------------------------------

def _wheel() -> Path:
    if os.environ.get(WHEEL_ENV):
        return Path(os.environ[WHEEL_ENV])
    found = sorted(DEFAULT_WHEEL_DIR.glob("musicnn-0.1.0-*.whl"))
    if not found:
        pytest.skip(f"musicnn wheel absent: `pip download --no-deps musicnn==0.1.0 -d {DEFAULT_WHEEL_DIR}` "
                    f"or set {WHEEL_ENV}")
    return found[0]


def test_converter_reproduces_committed_weights(tmp_path: Path) -> None:
    from core.pretrained.convert import convert_musicnn

    written = convert_musicnn(wheel=_wheel(), out=tmp_path)
    for name in TAGGERS:
        fresh, committed = load_file(str(written[name])), load_file(str(PRETRAINED_DIR / f"musicnn_{name}.safetensors"))
        assert sorted(fresh) == sorted(committed)
        for key in committed:
            np.testing.assert_array_equal(fresh[key], committed[key], err_msg=key)
    assert json.loads((tmp_path / "musicnn_tags.json").read_text()) == json.loads(
        (PRETRAINED_DIR / "musicnn_tags.json").read_text())
    assert "Permission to use" in (tmp_path / "LICENSE-musicnn.txt").read_text()


# --- front-end and fast path ----------------------------------------------------------------------------------------

def test_frontend_matches_the_original_librosa_pipeline() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    mel = librosa.feature.melspectrogram(y=wave, sr=SAMPLE_RATE, n_fft=512, hop_length=256, n_mels=96,
                                         pad_mode="reflect").T.astype(np.float16)
    expected = np.log10(10000 * mel.astype(np.float32) + 1)  # numpy 1's float32 promotion, done explicitly
    with torch.inference_mode():
        got = MusicnnFrontend()(torch.from_numpy(wave)[None])[0].numpy()
    assert got.shape == expected.shape == (1 + wave.size // 256, 96)
    # float16 rounding can land one step apart where float32 sums differ in the last bit: ~1e-3 at most
    assert np.abs(got - expected).max() < 2e-3
    assert np.median(np.abs(got - expected)) < 1e-6


def test_frontend_stays_finite_on_full_scale_noise() -> None:
    loud = np.sign(np.random.default_rng(3).standard_normal(PATCH_SAMPLES)).astype(np.float32)
    patches = song_patches(loud)
    assert patches.shape == (1, PATCH_FRAMES, 96) and torch.isfinite(patches).all()


@pytest.fixture(scope="module")
def real_patches(shared_data: Path) -> torch.Tensor:
    path = shared_data / "musicnn_examples" / "TRWJAZW128F42760DD_test.mp3"
    return song_patches(load_audio(path, sample_rate=SAMPLE_RATE).samples)[:4]


@pytest.mark.parametrize("model", TAGGERS)
def test_fast_network_matches_reference(model: str, real_patches: torch.Tensor) -> None:
    reference = load_reference_net(model)
    with torch.inference_mode():
        ref_probs, ref_features = reference(real_patches)
        probs, features = FastMusicnn(reference, chunk=3)(real_patches)
    assert torch.allclose(probs, ref_probs, atol=1e-4, rtol=0)
    assert torch.allclose(features, ref_features, atol=1e-4, rtol=0)


@pytest.mark.parametrize("chunk", [1, 3])
def test_joint_frontend_matches_each_taggers_own(chunk: int, real_patches: torch.Tensor) -> None:
    nets = [FastMusicnn(load_reference_net(name)) for name in TAGGERS]
    with torch.inference_mode():
        fronts = JointFrontend(nets, chunk=chunk)(real_patches)
        for net, front in zip(nets, fronts):
            x = (real_patches * net.in_scale + net.in_shift)[:, None]
            own = torch.cat([block(x) for block in net.frontend], dim=1)
            assert front.shape == own.shape
            assert torch.allclose(front, own, atol=1e-4, rtol=0)


#: Genre probabilities of the genre model must stay within this of the layer-by-layer reference port (they were
#: within 3e-6 when measured); embeddings (penultimate features, up to ~20 in size) within 1e-4 as well.
GENRE_TOLERANCE = 1e-4


def _reference_genre_model(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``predict_segments`` computed with the plain port: front-end, each reference tagger, genre mapping."""
    vocab = {name: tag_vocabulary(name) for name in TAGGERS}
    with torch.inference_mode():
        patches = MusicnnFrontend()(torch.from_numpy(segments))[:, :PATCH_FRAMES]
        outs = {name: load_reference_net(name)(patches) for name in TAGGERS}
    probs = genre_spectrum({name: o[0].numpy() for name, o in outs.items()}, vocab)
    return probs, torch.cat([o[1] for o in outs.values()], dim=1).numpy()


def test_genre_model_matches_the_reference_port_on_real_music(shared_data: Path) -> None:
    model = load_musicnn_genre_model(device="cpu")
    clips = sorted((shared_data / "musicnn_examples").glob("*.mp3")) + [shared_data / "fma" / "audio" / "000002.mp3"]
    for clip in clips:
        samples = load_audio(clip, sample_rate=SAMPLE_RATE).samples
        segments, _ = cut_segments(samples, sample_rate=SAMPLE_RATE, segment_seconds=3.0)
        probs, embeddings = model.predict_segments(segments)
        ref_probs, ref_embeddings = _reference_genre_model(segments)
        np.testing.assert_allclose(probs, ref_probs, atol=GENRE_TOLERANCE, rtol=0, err_msg=clip.name)
        np.testing.assert_allclose(embeddings, ref_embeddings, atol=GENRE_TOLERANCE, rtol=0, err_msg=clip.name)


def test_joint_frontend_is_shared_and_cached() -> None:
    assert joint_frontend("cpu") is joint_frontend("cpu")
    assert joint_frontend("cpu").chunk == 4
    sizes = [[load_tagger(name, device="cpu").frontend[i].weight.shape[0] for name in TAGGERS] for i in range(5)]
    assert joint_frontend("cpu").sizes == sizes


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(real_patches: torch.Tensor) -> None:
    reference = load_reference_net("mtt")
    with torch.inference_mode():
        cpu_probs, _ = FastMusicnn(reference)(real_patches)
        cuda_probs, _ = FastMusicnn(reference).cuda()(real_patches.cuda())
    assert torch.allclose(cuda_probs.cpu(), cpu_probs, atol=1e-4, rtol=0)


# --- faithfulness to published outputs ------------------------------------------------------------------------------

def test_top_tags_reproduce_published_outputs(shared_data: Path) -> None:
    folder = shared_data / "musicnn_examples"
    cases = {c["file"]: c["top_tags"] for c in json.loads((folder / "expected.json").read_text())["cases"]}
    electronic = top_tags(folder / "joram-moments_of_clarity-08-solipsism-59-88.mp3", model="mtt", top=10)
    published = cases["joram-moments_of_clarity-08-solipsism-59-88.mp3"]
    assert electronic[:8] == published[:8]
    assert len(set(electronic) & set(published)) >= 9
    assert top_tags(folder / "TRWJAZW128F42760DD_test.mp3", model="mtt", top=3) == cases["TRWJAZW128F42760DD_test.mp3"]


def test_taggram_of_short_audio_is_one_padded_patch() -> None:
    probs, features = taggram(np.zeros(SAMPLE_RATE, dtype=np.float32), model="msd")
    assert probs.shape == (1, len(tag_vocabulary("msd"))) and features.shape == (1, 200)
    assert np.all((probs >= 0) & (probs <= 1))


def test_unknown_tagger_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="mtt, msd"):
        tag_vocabulary("vgg")


# --- genre model ----------------------------------------------------------------------------------------------------

def test_genre_mapping_uses_existing_tags_and_normalises() -> None:
    vocabularies = {name: tag_vocabulary(name) for name in TAGGERS}
    for genre, tags in GENRE_TAGS.items():
        assert genre in GENRES
        for tagger, tag in tags:
            assert tag in vocabularies[tagger], (genre, tag)
    probs = {name: np.full((2, len(v)), 0.01, dtype=np.float32) for name, v in vocabularies.items()}
    probs["msd"][0, vocabularies["msd"].index("blues")] = 0.9
    probs["mtt"][1, vocabularies["mtt"].index("classical")] = 0.9
    spectrum = genre_spectrum(probs, vocabularies)
    np.testing.assert_allclose(spectrum.sum(axis=1), 1.0, atol=1e-6)
    assert [GENRES[i] for i in spectrum.argmax(axis=1)] == ["blues", "classical"]


def test_genre_model_ranks_real_gtzan_clips(shared_data: Path) -> None:
    model = load_musicnn_genre_model(device="cpu")
    assert model.kind == "musicnn" and model.classes == GENRES
    assert model.cfg.sample_rate == SAMPLE_RATE and model.cfg.segment_seconds == 3.0
    clips = sorted((shared_data / "gtzan" / "audio").glob("*.wav"))
    assert len(clips) == 7
    for clip in clips:
        samples = load_audio(clip, sample_rate=SAMPLE_RATE).samples
        segments, _ = cut_segments(samples, sample_rate=SAMPLE_RATE, segment_seconds=3.0)
        probs, embeddings = model.predict_segments(segments)
        assert probs.shape == (len(segments), 10) and embeddings.shape == (len(segments), 400)
        assert embeddings.dtype == np.float32
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        top_two = [GENRES[i] for i in np.argsort(-probs.mean(axis=0))[:2]]
        assert clip.name.split(".")[0] in top_two, (clip.name, top_two)


def test_onnx_runtime_path_matches_the_torch_graph(real_patches: torch.Tensor, tmp_path: Path) -> None:
    """The CPU path (ONNX Runtime on the shipped graph) and a fresh export both equal torch's JointTaggers."""
    pytest.importorskip("onnx", reason="re-exporting needs the onnx package (requirements-dev.txt)")
    from core.pretrained import runtime

    with torch.inference_mode():
        expected = [t.numpy() for t in joint_taggers("cpu")(real_patches)]
    for a, b in zip(runtime.run_taggers(real_patches.numpy()), expected):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
    fresh = runtime.export_taggers(tmp_path / "taggers.onnx")
    import onnxruntime as ort

    session = ort.InferenceSession(str(fresh), providers=["CPUExecutionProvider"])
    for a, b in zip(session.run(None, {"patches": real_patches.numpy()}), expected):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
