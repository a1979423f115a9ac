"""Split rules as data: a :class:`SplitSpec` says how a manifest is split, is saved in every run and reloads.

A run records the *resolved* rule (never ``auto``), so re-evaluating it on the same data rebuilds exactly the
same train/valid/test tracks, and evaluating it on other data uses all of it or a rule the user names.

Rules (the CLI's ``--split`` text):

- ``auto``: the source's own ``split`` column when every row has one, else ``grouped``.
- ``grouped``: seeded split stratified by genre and grouped by artist when known, else by track
  (``valid`` and ``test`` fractions, ``seed``).
- ``column``: the source's ``split`` column.
- ``files:DIR``: split lists ``DIR/{train,valid,test}*.txt`` such as GTZAN's fault-filtered ones (unlisted tracks
  are dropped).
- ``all``: every track is a test track (evaluation of a trained model on another dataset).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import pandas as pd

from core.config import from_repo, repo_relative
from core.errors import InputError

SplitKind = Literal["auto", "grouped", "column", "files", "all"]
SPLIT_NAMES = ("train", "valid", "test")


@dataclass(frozen=True)
class SplitSpec:
    """How a manifest is divided into train / valid / test.

    Attributes:
        kind: See the module docstring.
        valid: Fraction of tracks for validation (``grouped`` only).
        test: Fraction of tracks for the test (``grouped`` only).
        seed: Seed of the grouped split (same seed, same manifest, same split).
        folder: Folder of split lists (``files`` only).
    """

    kind: SplitKind = "auto"
    valid: float = 0.15
    test: float = 0.15
    seed: int = 0
    folder: str | None = None

    @classmethod
    def parse(cls, text: str, *, valid: float = 0.15, test: float = 0.15, seed: int = 0) -> "SplitSpec":
        """From the CLI's ``--split`` text (``auto``, ``grouped``, ``column``, ``files:DIR``, ``all``)."""
        if text.startswith("files:"):  # stored relative to the repository, so the run reloads from anywhere
            return cls(kind="files", folder=repo_relative(text.split(":", 1)[1]), valid=valid, test=test, seed=seed)
        if text not in ("auto", "grouped", "column", "all"):
            raise InputError(f"Unknown split '{text}': use auto, grouped, column, files:DIR or all.")
        return cls(kind=text, valid=valid, test=test, seed=seed)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """Plain JSON (saved as ``run.json["split"]["spec"]``)."""
        return asdict(self)

    @classmethod
    def from_run_info(cls, split_info: dict) -> "SplitSpec":
        """The spec a run recorded; runs written before specs were saved are read from their description."""
        if "spec" in split_info:
            return cls(**split_info["spec"])
        kind = str(split_info.get("kind", ""))
        if kind == "files":
            return cls(kind="files", folder=str(split_info["folder"]))
        if kind == "column":
            return cls(kind="column")
        if kind.endswith("-grouped"):
            return cls(kind="grouped", valid=float(split_info["valid"]), test=float(split_info["test"]),
                       seed=int(split_info["seed"]))
        raise InputError(f"The run's split '{kind}' cannot be rebuilt; name a split with --split.")


def apply_split(manifest: pd.DataFrame, spec: SplitSpec) -> tuple[pd.DataFrame, dict[str, object]]:
    """Split ``manifest`` by ``spec``.

    Returns:
        The manifest with a ``split`` column (tracks dropped by split lists removed) and a description for
        ``run.json``: ``kind``, ``counts`` per split, ``spec`` (the resolved, reloadable rule) and details.
    """
    from core.data.sources import read_split_files, split_manifest

    kind = spec.kind
    if kind == "auto":
        has_column = "split" in manifest and manifest["split"].notna().all()
        kind = "column" if has_column else "grouped"
    resolved = SplitSpec(kind=kind, valid=spec.valid, test=spec.test, seed=spec.seed, folder=spec.folder)
    info: dict[str, object]
    if kind == "files":
        applied = read_split_files(manifest, from_repo(str(spec.folder)))
        manifest = applied.manifest
        info = {"kind": "files", "folder": spec.folder, "dropped": int(applied.dropped)}
        if not (manifest["split"] == "test").any() and (manifest["split"] == "valid").any():
            manifest = _valid_as_test(manifest, spec)
            info.update(test_part="the lists' valid tracks (none of their test tracks is in the data)",
                        validation=f"{spec.valid:.0%} of the train list's tracks, grouped, seed {spec.seed}")
    elif kind == "column":
        if "split" not in manifest or manifest["split"].isna().any():
            raise InputError("The data has no complete 'split' column; use --split grouped or files:DIR.")
        info = {"kind": "column"}
    elif kind == "all":
        manifest = manifest.assign(split="test")
        info = {"kind": "all"}
    else:
        group = "artist" if "artist" in manifest and manifest["artist"].notna().all() else "track"
        manifest = split_manifest(manifest, valid=spec.valid, test=spec.test, seed=spec.seed)
        info = {"kind": f"{group}-grouped", "valid": spec.valid, "test": spec.test, "seed": spec.seed}
    info["counts"] = {s: int((manifest["split"] == s).sum()) for s in SPLIT_NAMES}
    info["spec"] = resolved.to_dict()
    return manifest, info


def _valid_as_test(manifest: pd.DataFrame, spec: SplitSpec) -> pd.DataFrame:
    """Split lists whose test part is held back (e.g. ``../shared/data/gtzan_ff``): their valid tracks become the
    test part, and a grouped ``spec.valid`` share of their train tracks becomes the validation part (early
    stopping), so the reported figures are measured on tracks no decision was taken on."""
    from core.data.sources import split_manifest

    out = manifest.copy()
    listed_valid = out["split"] == "valid"
    out.loc[listed_valid, "split"] = "test"
    train = out[out["split"] == "train"]
    if spec.valid > 0:
        carved = split_manifest(train.drop(columns="split"), valid=spec.valid, test=0.0, seed=spec.seed)
        out.loc[train.index, "split"] = carved["split"].to_numpy()
    return out
