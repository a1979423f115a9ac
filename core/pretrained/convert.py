"""Convert the musicnn wheel's TensorFlow checkpoints to safetensors (a maintenance tool; outputs are committed).

``python -m core.pretrained.convert --wheel musicnn-0.1.0-py3-none-any.whl --out models/pretrained`` (or
``python -m core convert-musicnn``) reads ``musicnn/MTT_musicnn`` and ``musicnn/MSD_musicnn`` with
:mod:`core.pretrained.tfcheckpoint` (no TensorFlow), maps every variable onto :class:`~core.pretrained.musicnn.Musicnn`
and writes ``musicnn_mtt.safetensors``, ``musicnn_msd.safetensors``, ``musicnn_tags.json`` (the tag vocabularies,
read from the wheel's ``configuration.py``), ``LICENSE-musicnn.txt`` and ``README.md``. Get the wheel with
``pip download --no-deps musicnn==0.1.0 -d /tmp/musicnn``.

Variable mapping. TF 1 layers are named by creation order (``conv2d``, ``conv2d_1``, …; ``batch_normalization``,
``batch_normalization_1``, …): input batch norm = BN 0; front-end convs 0–4 (timbral 7×38, 7×67; temporal 128, 64, 32)
with BN 1–5; mid-end convs 5–7 with BN 6–8; back-end BN 9, ``dense``, BN 10, ``dense_1``. Conv kernels are HWIO
(height = time, width = mel band) and become OIHW (front-end) or ``(out, in, time)`` Conv1d kernels (mid-end, whose
TF width spans all input channels); dense kernels ``(in, out)`` are transposed. Adam slots and counters are skipped.
"""

from __future__ import annotations

import ast
import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from core.pretrained.musicnn import TAGGERS, Musicnn, load_into
from core.pretrained.tfcheckpoint import parse_index, read_tensors, shard_name

#: Our short names → checkpoint folder and vocabulary variable in the wheel.
CHECKPOINTS: dict[str, tuple[str, str]] = {"mtt": ("MTT_musicnn", "MTT_LABELS"), "msd": ("MSD_musicnn", "MSD_LABELS")}
WHEEL_VERSION = "0.1.0"


def _tf(layer: str, index: int) -> str:
    """TF 1 auto-generated layer name: ``conv2d``, ``conv2d_1``, …"""
    return layer if index == 0 else f"{layer}_{index}"


def _bn(prefix: str, tf_index: int, w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    name = _tf("batch_normalization", tf_index)
    return {f"{prefix}.weight": w[f"{name}/gamma"], f"{prefix}.bias": w[f"{name}/beta"],
            f"{prefix}.running_mean": w[f"{name}/moving_mean"], f"{prefix}.running_var": w[f"{name}/moving_variance"]}


def state_dict_from_tf(w: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Map a musicnn checkpoint's variables (TF names and layouts) to :class:`Musicnn`'s state dict."""
    out: dict[str, np.ndarray] = _bn("bn_input", 0, w)
    for j in range(5):
        conv = _tf("conv2d", j)
        out[f"frontend.{j}.conv.weight"] = w[f"{conv}/kernel"].transpose(3, 2, 0, 1)  # HWIO → OIHW
        out[f"frontend.{j}.conv.bias"] = w[f"{conv}/bias"]
        out |= _bn(f"frontend.{j}.bn", j + 1, w)
    for j in range(3):
        conv = _tf("conv2d", 5 + j)
        out[f"midend.blocks.{j}.conv.weight"] = w[f"{conv}/kernel"][:, :, 0, :].transpose(2, 1, 0)  # (out, in, t)
        out[f"midend.blocks.{j}.conv.bias"] = w[f"{conv}/bias"]
        out |= _bn(f"midend.blocks.{j}.bn", 6 + j, w)
    out |= _bn("backend.bn_pool", 9, w)
    out["backend.dense.weight"] = w["dense/kernel"].T
    out["backend.dense.bias"] = w["dense/bias"]
    out |= _bn("backend.bn_dense", 10, w)
    out["backend.out.weight"] = w["dense_1/kernel"].T
    out["backend.out.bias"] = w["dense_1/bias"]
    return {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in out.items()}


def _wheel_reader(wheel: Path) -> Callable[[str], bytes]:
    """``read(member)`` for paths like ``musicnn/MTT_musicnn/.index``.

    ``wheel`` is the wheel file, a folder holding it (``pip download -d``), an unpacked wheel or source checkout
    (a folder with ``musicnn/`` inside), or the ``musicnn`` package folder itself.
    """
    if wheel.is_dir():
        wheels = sorted(wheel.glob(f"musicnn-{WHEEL_VERSION}-*.whl"))
        if (wheel / "musicnn" / "configuration.py").is_file():
            root = wheel
        elif (wheel / "configuration.py").is_file():
            root = wheel.parent
        elif wheels:
            return _wheel_reader(wheels[0])
        else:
            raise ValueError(f"{wheel} holds neither a musicnn-{WHEEL_VERSION} wheel nor the musicnn package.")
        return lambda member: (root / member).read_bytes()
    if not zipfile.is_zipfile(wheel):
        raise ValueError(f"{wheel} is not a wheel (zip file).")
    archive = zipfile.ZipFile(wheel)
    return archive.read


def _vocabulary(config_source: str, variable: str) -> list[str]:
    """The list literal assigned to ``variable`` in the wheel's ``musicnn/configuration.py``."""
    for node in ast.parse(config_source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == variable for t in node.targets):
            return [str(tag) for tag in ast.literal_eval(node.value)]
    raise ValueError(f"{variable} not found in musicnn/configuration.py.")


def read_musicnn_checkpoint(read: Callable[[str], bytes], folder: str) -> dict[str, np.ndarray]:
    """Every tensor of checkpoint ``musicnn/<folder>/`` (prefix with an empty base name) via ``read``."""
    prefix = f"musicnn/{folder}/"
    n_shards, entries = parse_index(read(prefix + ".index"))
    return read_tensors(entries, [read(shard_name(prefix, i, n_shards)) for i in range(n_shards)])


def _license_text(read: Callable[[str], bytes]) -> str:
    """The ISC licence shipped with musicnn: in the wheel's dist-info, or at the root of a source checkout."""
    for member in (f"musicnn-{WHEEL_VERSION}.dist-info/LICENSE.md", "LICENSE.md"):
        try:
            return read(member).decode("utf-8").strip() + "\n"
        except (KeyError, FileNotFoundError):
            continue
    raise ValueError("musicnn's LICENSE.md was not found beside the package; the converted weights need it.")


def _readme(sources: dict[str, str]) -> str:
    lines = "\n".join(f"- `musicnn_{name}.safetensors` ← `musicnn/{CHECKPOINTS[name][0]}/` "
                      f"(checkpoint `.data` sha256 `{digest}`)" for name, digest in sources.items())
    return f"""# Pretrained musicnn taggers (converted)

Weights of the MagnaTagATune (`mtt`, 50 tags) and Million Song Dataset (`msd`, 50 tags) musicnn taggers by
Jordi Pons and Xavier Serra (Music Technology Group, Universitat Pompeu Fabra), from the `musicnn` {WHEEL_VERSION}
wheel on PyPI, under the ISC licence in `LICENSE-musicnn.txt`.

> Pons, J. and Serra, X. (2019). musicnn: pre-trained convolutional neural networks for music audio tagging.
> Late-breaking/demo session, ISMIR 2019. https://github.com/jordipons/musicnn

Converted without TensorFlow by `python -m core.pretrained.convert --wheel musicnn-{WHEEL_VERSION}-py3-none-any.whl
--out models/pretrained` (reader: `core/pretrained/tfcheckpoint.py`). Tensors are float32 in PyTorch layouts for
`core.pretrained.musicnn.Musicnn`; `musicnn_tags.json` holds both tag vocabularies in output order.

{lines}
"""


def convert_musicnn(*, wheel: Path, out: Path) -> dict[str, Path]:
    """Convert both taggers from ``wheel`` (file or unpacked folder) into folder ``out``.

    Returns:
        ``{"mtt": path, "msd": path}`` of the written safetensors files.
    """
    read = _wheel_reader(Path(wheel))
    config_source = read("musicnn/configuration.py").decode("utf-8")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vocabularies, written, digests = {}, {}, {}
    for name in TAGGERS:
        folder, variable = CHECKPOINTS[name]
        tags = _vocabulary(config_source, variable)
        state = state_dict_from_tf(read_musicnn_checkpoint(read, folder))
        load_into(Musicnn(n_tags=len(tags)), state)  # validates names and shapes
        written[name] = out / f"musicnn_{name}.safetensors"
        save_file(state, str(written[name]), metadata={"source": f"musicnn {WHEEL_VERSION} {folder}",
                                                       "n_tags": str(len(tags))})
        vocabularies[name] = tags
        digests[name] = hashlib.sha256(read(shard_name(f"musicnn/{folder}/", 0, 1))).hexdigest()
    (out / "musicnn_tags.json").write_text(json.dumps(vocabularies, indent=1) + "\n")
    (out / "LICENSE-musicnn.txt").write_text(_license_text(read))
    (out / "README.md").write_text(_readme(digests))
    return written
