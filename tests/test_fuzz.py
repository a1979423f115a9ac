"""The decoder under the fuzz harness (``bench/fuzz_decode.py``): the bad-input corpus and a short seeded
mutation run, each input decoded in a worker subprocess with a 10 s time limit and a 2 GiB address-space limit.
Goal: 0 exceptions other than AudioError, 0 crashes, 0 hangs. The long run is
``python -m bench.fuzz_decode --mutants 20000 --seed 1``."""

from __future__ import annotations

import time

import pytest
from conftest import load_fuzz_harness

fuzz = load_fuzz_harness()


@pytest.fixture(scope="module")
def corpus_results() -> dict[tuple[str, str], tuple[str, str]]:
    """Every corpus input decoded from bytes and from a (possibly mislabelled) path: ``(name, mode) -> (outcome,
    detail)``."""
    results = {}
    with fuzz.Fuzzer(timeout=10, memory_gib=2) as fuzzer:
        for name, data in fuzz.corpus():
            for mode in ("bytes", "path"):
                results[name, mode] = fuzzer.run_one(name, data, mode=mode)
    return results


def test_corpus_has_no_bugs(corpus_results) -> None:
    bugs = {key: value for key, value in corpus_results.items() if value[0] not in ("decoded", "clean")}
    assert not bugs, f"other exceptions, crashes or hangs: {bugs}"
    assert len(corpus_results) > 400


def test_corpus_outcomes_match_the_policy(corpus_results) -> None:
    def outcome(name: str) -> tuple[str, str]:
        by_bytes, (path_outcome, path_detail) = corpus_results[name, "bytes"], corpus_results[name, "path"]
        by_path = (path_outcome, path_detail.replace(f"'{name}'", "The file"))  # a path's message names it
        assert by_bytes == by_path, f"{name}: bytes and path differ: {by_bytes} vs {by_path}"
        return by_bytes

    for name in ("rate1.wav", "rate999.wav", "rate1000001.wav", "au-rate1.au", "flac-rate1.flac"):
        assert outcome(name)[0] == "clean" and "sample rate" in outcome(name)[1]
    for name in ("channels65.wav", "channels1024.wav"):
        assert outcome(name)[0] == "clean" and "channels" in outcome(name)[1]
    for name in ("nan.wav", "inf.wav", "-inf.wav", "all-nan.wav"):
        assert outcome(name)[0] == "clean" and "NaN or infinity" in outcome(name)[1]
    for name in ("peak20.wav", "peak1e+06.wav", "peak1e+20.wav", "peak3e+38.wav"):
        assert outcome(name)[0] == "decoded" and "scaled down to full scale" in outcome(name)[1]
    assert outcome("empty.wav") == ("clean", "The file is empty (0 bytes).")
    for name in ("text.flac", "html.m4a", "zeros.wav"):
        assert "not a recognised audio format" in outcome(name)[1]
    for name in ("m4a-fake.m4a", "m4a-ftyp-only.m4a"):
        assert outcome(name)[0] == "clean" and "M4A" in outcome(name)[1]
    # Lying sizes decode what is there; tags before the audio and mislabelled names do not matter.
    for name in ("claims-4GB.wav", "claims-1h.wav", "mp3-xing-frames-huge.mp3", "id3-zero-padding.mp3",
                 "id3v24-footer.mp3", "id3-then-flac.flac", "m4a-in-wav-name.wav", "mislabelled-aac.m4a.flac",
                 "mislabelled-x.mp3.wav", "mislabelled-pcm16.wav.mp3", "rate-1MHz.wav", "64-channels.wav"):
        assert outcome(name)[0] == "decoded", (name, outcome(name))


def test_every_seed_format_decodes() -> None:
    from core.audio.decode import load_audio

    made = fuzz.seeds()
    assert {"pcm16.wav", "x.flac", "vorbis.ogg", "x.opus", "x.mp3", "id3v23.mp3", "aac.m4a", "alac.m4a",
            "x.aiff", "x.au"} <= set(made)
    for name, data in made.items():
        assert abs(load_audio(data, sample_rate=22050).duration - 0.5) < 0.05, name


def test_seeded_mutation_run_finds_no_bugs() -> None:
    """A few hundred mutants of every format: a short run of the fuzzer (the long one is a command)."""
    start = time.perf_counter()
    with fuzz.Fuzzer(timeout=10, memory_gib=2) as fuzzer:
        report = fuzzer.run(fuzz.mutants(400, seed=0))
    assert report.tried == 400
    assert report.counts["other"] == report.counts["crash"] == report.counts["hang"] == 0, report.bugs
    assert report.counts["decoded"] > 50 and report.counts["clean"] > 50, report.line()
    assert time.perf_counter() - start < 60


def test_the_harness_tells_bugs_crashes_and_hangs_apart() -> None:
    with fuzz.Fuzzer(timeout=1.0, memory_gib=2, selftest=True) as fuzzer:
        assert fuzzer.run_one("bug", b"bug")[0] == "other"
        assert fuzzer.run_one("crash", b"crash")[0] == "crash"
        assert fuzzer.run_one("hang", b"hang")[0] == "hang"
        outcome, detail = fuzzer.run_one("memory", b"memory")
        assert outcome == "other" and "MemoryError" in detail
        assert fuzzer.run_one("empty", b"")[0] == "clean", "the worker is restarted after a crash or hang"
    assert fuzzer.report.counts == {"other": 2, "crash": 1, "hang": 1, "clean": 1}


@pytest.mark.parametrize("message, ok", [
    ("'a.wav' is empty (0 bytes).", True),
    ("The file is not audio that can be read (InvalidDataError).", False),
    ("error: error: 'I' format requires 0 <= number <= 4294967295", False),
    ("()", False),
    ("", False),
])
def test_sentence_check(message: str, ok: bool) -> None:
    assert fuzz.is_sentence(message) is ok
