"""The genre model's taggers on ONNX Runtime: the CPU inference path.

:class:`~core.pretrained.musicnn.JointTaggers` (both taggers, one shared front-end convolution) is exported once to
``models/pretrained/musicnn_taggers.onnx`` (``python -m core export-onnx``; committed, 3.3 MB) and run here. On these
2-core machines ONNX Runtime's convolutions (MLAS, blocked NCHWc layout, pooled in that layout: see
:data:`~core.pretrained.musicnn.CHANNEL_BLOCK`) run the same float32 arithmetic at the cores' float32 peak, 1.5x
faster than torch's oneDNN path, with outputs equal to the torch graph within 1e-5 (tests demand 1e-4).
int8 quantisation (static and dynamic) was measured and rejected: slower here and song-level tag probabilities off by
up to 0.16.

Thread policy: the session uses ``torch.get_num_threads()`` intra-op threads (the physical cores), one inter-op
thread, and its workers do not spin while idle, so a Streamlit server keeps its cores for rendering between songs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from core.pretrained.musicnn import N_MELS, PATCH_FRAMES, PRETRAINED_DIR

ONNX_PATH: Path = PRETRAINED_DIR / "musicnn_taggers.onnx"
#: Patches per ONNX Runtime call: 8-16 were fastest on 2 cores (1 was 30 % slower, 4 about 5 %).
CHUNK = 8


def export_taggers(path: Path = ONNX_PATH) -> Path:
    """Export :class:`~core.pretrained.musicnn.JointTaggers` (CPU, float32) to ONNX at ``path``; needs ``onnx``.

    Inputs ``patches (batch, 187, 96)``; outputs ``mtt (batch, 50)``, ``msd (batch, 50)``, ``embeddings (batch, 400)``.
    """
    import torch

    from core.pretrained.musicnn import joint_taggers

    net = joint_taggers("cpu")
    example = torch.zeros(CHUNK, PATCH_FRAMES, N_MELS)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(net, (example,), str(path), input_names=["patches"], output_names=["mtt", "msd", "embeddings"],
                      dynamic_axes={"patches": {0: "batch"}}, opset_version=17, dynamo=False)
    return path


@lru_cache(maxsize=1)
def _session():
    import onnxruntime as ort
    import torch

    if not ONNX_PATH.is_file():
        raise FileNotFoundError(f"{ONNX_PATH} is missing: run `python -m core export-onnx`.")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(ONNX_PATH), options, providers=["CPUExecutionProvider"])


def run_taggers(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both taggers on ``patches (n, 187, 96)`` float32 musicnn log-mel patches, :data:`CHUNK` at a time.

    Returns:
        ``(mtt (n, 50), msd (n, 50), embeddings (n, 400))`` float32.
    """
    session = _session()
    patches = np.ascontiguousarray(patches, dtype=np.float32)
    outs = [session.run(None, {"patches": patches[i: i + CHUNK]}) for i in range(0, len(patches), CHUNK)]
    return tuple(np.concatenate(parts) for parts in zip(*outs))
