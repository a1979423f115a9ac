"""Peak memory of decoding long and lying files with ``core.audio.decode.load_audio`` (one subprocess per case).

Files are generated into a temporary folder (never committed): a 1-hour WAV (44.1 kHz stereo 16-bit, 635 MB)
and FLAC, a 20-minute 48 kHz stereo MP3 (the worst case of the one-call MP3 read), and the lying-header files
of issue #10 (a 176 KB WAV claiming 1 Hz, a 108-byte WAV claiming 4 GB, an MP3 whose Xing header claims 4
billion frames, a WAV claiming 1 hour). Each case is decoded at 22050 Hz with the default cap (900 s) in a
fresh Python process; the figure is that process's peak resident memory (``ru_maxrss``) minus its peak after
the imports.

    python -m bench.bench_decode_memory [--keep DIR] [--skip-long]

The implied ceiling printed at the end is what the guards allow: the output (cap x rate x 4 bytes) twice
(parts and their concatenation), plus one 4 MiB block, plus for MP3 the one-call read of at most cap x 48 kHz
x 2 channels x 4 bytes.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.fuzz_decode import _float_wav, _wav_header, seeds, write_long

REPO_ROOT = Path(__file__).resolve().parent.parent
RATE = 22050
CAP = 900.0

_CHILD = r"""
import json, resource, sys, time
from core.audio.decode import AudioError, load_audio
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    out = load_audio(sys.argv[1], sample_rate=int(sys.argv[2]))
    result = f"decoded {out.duration:.0f} s" + (" (capped)" if out.truncated else "")
except AudioError as error:
    result = "refused: " + str(error)[:90]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_mb": base / 1024, "peak_mb": peak / 1024, "seconds": time.perf_counter() - start,
                  "result": result}))
"""


def make_cases(folder: Path, *, long: bool) -> dict[str, Path]:
    """Write every case into ``folder``: ``{label: path}``."""
    cases: dict[str, Path] = {}
    pcm = (0.3 * np.sin(np.arange(88200) / 5.0) * 32767).astype("<i2").tobytes()  # 176 KB
    lying = {
        "WAV 176 KB claiming 1 Hz": _wav_header(rate=1, channels=1, data_size=len(pcm)) + pcm,
        "WAV 108 B claiming 4 GB": _wav_header(rate=22050, channels=2, data_size=2**32 - 1) + pcm[:64],
        "WAV 176 KB claiming 1 hour": _wav_header(rate=44100, channels=2, data_size=3600 * 44100 * 4) + pcm,
        "float WAV peak 1e30": _float_wav(np.sin(np.arange(22050) / 5.0).astype(np.float32) * 1e30),
    }
    mp3 = seeds()["x.mp3"]
    lying["MP3 Xing claiming 4e9 frames"] = mp3.replace(b"Xing", b"Xing\x00\x00\x00\x0f\xff\xff\xff\xff", 1)[: len(mp3)]
    lying["MP3 broken first header"] = b"\xff\xfb\xff\xff" + mp3[4:] + struct.pack("<I", 0)
    for label, data in lying.items():
        path = folder / (label.replace(" ", "_") + (".mp3" if "MP3" in label else ".wav"))
        path.write_bytes(data)
        cases[label] = path
    if long:
        for label, name, seconds, rate, kw in (
            ("1-hour WAV 44.1 kHz stereo", "1h.wav", 3600, 44100, {"format": "WAV", "subtype": "PCM_16"}),
            ("1-hour FLAC 44.1 kHz stereo", "1h.flac", 3600, 44100, {"format": "FLAC", "subtype": "PCM_16"}),
            ("20-min MP3 48 kHz stereo", "20m.mp3", 1200, 48000, {"format": "MP3", "subtype": "MPEG_LAYER_III"}),
        ):
            path = folder / name
            if not path.exists():
                started = time.perf_counter()
                write_long(path, seconds=seconds, rate=rate, **kw)
                print(f"  wrote {name} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s",
                      flush=True)
            cases[label] = path
    return cases


def measure(path: Path) -> dict[str, object]:
    """Decode ``path`` in a fresh process: its base and peak RSS in MB, seconds and outcome."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(RATE)], cwd=REPO_ROOT, capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        return {"base_mb": 0.0, "peak_mb": 0.0, "seconds": 0.0, "result": f"child failed: {out.stderr[-200:]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="write (and reuse) the files in this folder")
    parser.add_argument("--skip-long", action="store_true", help="only the small lying-header files")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-decode-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        cases = make_cases(folder, long=not args.skip_long)
        print(f"{'case':34} {'file MB':>8} {'base MB':>8} {'peak MB':>8} {'decode MB':>9} {'s':>6}  result")
        for label, path in cases.items():
            r = measure(path)
            print(f"{label:34} {path.stat().st_size / 1e6:8.1f} {r['base_mb']:8.0f} {r['peak_mb']:8.0f} "
                  f"{r['peak_mb'] - r['base_mb']:9.0f} {r['seconds']:6.1f}  {r['result']}", flush=True)
    output = CAP * RATE * 4 / 2**20
    mp3 = CAP * 48000 * 2 * 4 / 2**20
    print(f"implied ceiling above the imports at a {CAP:.0f} s cap and {RATE} Hz output: {2 * output + 4:.0f} MB "
          f"(output {output:.0f} MB twice + one 4 MB block); MP3 adds up to {mp3:.0f} MB for its one-call read "
          f"(48 kHz stereo), {2 * output + 4 + mp3:.0f} MB in all")


if __name__ == "__main__":
    main()
