"""Studies: many trainings described once, each trial an ordinary run folder in one study group.

A :class:`StudySpec` names the data, the model kinds and the dimensions to vary: hyperparameter values (``grid``),
songs per genre, genre subsets and seeds (a grid is their product), or ``samples`` random draws from a search
``space``. Every trial is trained by :func:`core.training.train.train` into ``<runs root>/<study>-<trial>/``, whose
``run.json`` has a ``study`` record (name, trial, mode, params) and whose ``group`` joins the seeds of one setting,
so the runs table, ``python -m core runs`` and the Compare page treat it as any run.

Songs per genre and genre subsets narrow the learning songs only (:mod:`core.data.splits`): every trial of a study
is measured on the same test songs (with a grouped split the test part moves with the seed, as in any run).

A study is resumable: a trial whose run folder is complete is skipped (after checking that it belongs to the same
setting), so a rerun of the same command only trains what is missing. Trials run on Ray (a local Ray on this
machine by default, a cluster by ``address`` or ``$RAY_ADDRESS``; one CPU per trial) or in this process
(``engine="local"``); a search runs on Ray Tune with an ASHA scheduler (:mod:`core.cluster.search`). Ray is
imported only inside the functions that use it.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

import numpy as np

from core.errors import GenreLabError, InputError
from core.models.registry import model_kind
from core.runs.folder import RUN_FILES, runs_root
from core.training.settings import TrainSettings

Engine = Literal["ray", "local"]
#: Options that a study sets itself (per trial); a grid or ``fixed`` must not name them.
STUDY_OWNED = ("seed", "songs_per_genre", "genres", "run_id", "group")


@dataclass(frozen=True)
class Distribution:
    """One dimension of a search space: ``log`` (log-uniform between two bounds), ``uniform`` or ``choice``."""

    kind: Literal["log", "uniform", "choice"]
    values: tuple[object, ...]

    @classmethod
    def parse(cls, text: str, *, convert: Callable[[str], object]) -> Distribution:
        """From ``log:1e-4:1e-2``, ``uniform:0.1:0.5`` or ``choice:adamw:sgd`` (values converted by ``convert``).

        Raises:
            InputError: an unknown kind, or bounds that are not two increasing positive numbers (``log``).
        """
        kind, _, rest = text.partition(":")
        parts = [p for p in rest.split(":") if p]
        if kind == "choice" and parts:
            return cls("choice", tuple(convert(p) for p in parts))
        if kind in ("log", "uniform") and len(parts) == 2:
            low, high = (float(p) for p in parts)
            if not low < high or (kind == "log" and low <= 0):
                raise InputError(f"'{text}': the bounds must increase (and be positive for log).")
            return cls(kind, (low, high))  # type: ignore[arg-type]
        raise InputError(f"'{text}' is not a search dimension: use log:LOW:HIGH, uniform:LOW:HIGH or choice:A:B:...")

    def draw(self, rng: np.random.Generator) -> object:
        """One value drawn with ``rng``."""
        if self.kind == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        low, high = (float(v) for v in self.values)  # type: ignore[arg-type]
        value = np.exp(rng.uniform(np.log(low), np.log(high))) if self.kind == "log" else rng.uniform(low, high)
        return float(f"{value:.3g}")


@dataclass(frozen=True)
class StudySpec:
    """What a study trains.

    Attributes:
        name: The study's name; its run folders are ``<name>-<trial>``.
        data: Data source (as ``train --data``).
        models: Model kinds (``cnn``, ``transfer`` …).
        seeds: One trial per seed for every setting (mean ± std over seeds).
        songs_per_genre: Sizes of the learning part per genre (None: all songs).
        genre_subsets: Genre subsets (None: all genres).
        grid: Hyperparameter → values; a grid trains their product.
        fixed: Options for every trial (``split``, ``epochs`` …, as ``train`` takes them).
        space: A search space (hyperparameter → :class:`Distribution`); with ``samples`` > 0 the study is a search.
        samples: Configurations drawn from ``space`` (seeded by ``sample_seed``: a rerun draws the same ones).
    """

    name: str
    data: str
    models: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    songs_per_genre: tuple[int | None, ...] = (None,)
    genre_subsets: tuple[tuple[str, ...] | None, ...] = (None,)
    grid: Mapping[str, tuple[object, ...]] = field(default_factory=dict)
    fixed: Mapping[str, object] = field(default_factory=dict)
    space: Mapping[str, Distribution] = field(default_factory=dict)
    samples: int = 0
    sample_seed: int = 0

    @property
    def mode(self) -> Literal["grid", "search"]:
        return "search" if self.samples > 0 else "grid"


@dataclass(frozen=True)
class Trial:
    """One training of a study.

    Attributes:
        trial_id: Names the run folder (``<study>-<trial_id>``), e.g. ``transfer-n5-s0``.
        setting: ``trial_id`` without the seed: the group whose seeds give mean ± std.
        params: What varies (model, songs per genre, genres, seed, grid or sampled hyperparameters), as JSON.
        settings: The full training settings.
    """

    trial_id: str
    setting: str
    params: Mapping[str, object]
    settings: TrainSettings


@dataclass(frozen=True)
class TrialEvent:
    """What happened to a trial: ``status`` is ``skipped`` (complete before), ``done``, ``stopped`` (by the
    search scheduler, no run folder) or ``failed`` (``message`` says why); ``seconds`` of this attempt."""

    trial_id: str
    run_id: str
    status: Literal["skipped", "done", "stopped", "failed"]
    seconds: float = 0.0
    song_accuracy: float | None = None
    message: str = ""


@dataclass
class StudyReport:
    """A study's outcome: one event per trial (in the study's order), the wall time and the time Ray took to start
    or join (0 for the local engine), in seconds."""

    name: str
    root: Path
    events: list[TrialEvent]
    seconds: float
    start_seconds: float

    def count(self, status: str) -> int:
        return sum(e.status == status for e in self.events)


def _token(name: str, value: object) -> str:
    """A short, folder-safe piece of a trial id for one value."""
    if isinstance(value, bool):
        return f"{name}-{'on' if value else 'off'}"
    if isinstance(value, (list, tuple)):
        return name + "-".join(map(str, value))
    return f"{name}{value:g}" if isinstance(value, float) else f"{name}{value}"


def _genre_tokens(subsets: Sequence[tuple[str, ...] | None]) -> list[str]:
    """``g<k>`` per subset (k genres), with ``a``, ``b`` … when two subsets have the same size."""
    sizes = [len(s) if s else 0 for s in subsets]
    tokens = []
    for i, subset in enumerate(subsets):
        same = [j for j, n in enumerate(sizes) if n == sizes[i]]
        suffix = "" if len(same) == 1 else "abcdefghijklmnopqrstuvwxyz"[same.index(i)]
        tokens.append(f"g{len(subset)}{suffix}" if subset else f"gall{suffix}")
    return tokens


def _check_options(spec: StudySpec) -> None:
    owned = sorted(set(STUDY_OWNED) & (set(spec.grid) | set(spec.fixed) | set(spec.space)))
    if owned:
        raise InputError(f"{', '.join(owned)} is set by the study itself (--seeds, --songs-per-genre, --genres).")
    both = sorted((set(spec.grid) | set(spec.fixed)) & set(spec.space))
    if both:
        raise InputError(f"{', '.join(both)} is both searched and fixed.")
    if spec.samples and not all(model_kind(m).epochs for m in spec.models):
        raise InputError("A search needs a validation score per epoch (cnn, crnn); other kinds are fitted in one "
                         "step: study them with a grid.")
    if not spec.models or not spec.seeds:
        raise InputError("A study needs at least one model and one seed.")


def trials(spec: StudySpec) -> list[Trial]:
    """Every trial of ``spec``, in a fixed order (models, then grid or samples, songs, genres, seeds).

    Raises:
        InputError: an option that does not apply to one of the models, or one the study sets itself.
    """
    from core.training.train import make_settings

    _check_options(spec)
    rng = np.random.default_rng(spec.sample_seed)
    if spec.mode == "search":
        draws = [{name: dist.draw(rng) for name, dist in spec.space.items()} for _ in range(spec.samples)]
        configs = [(f"t{i:02d}", values) for i, values in enumerate(draws)]
    else:
        names = list(spec.grid)
        configs = [("_".join(_token(n, v) for n, v in zip(names, combo)), dict(zip(names, combo)))
                   for combo in itertools.product(*(spec.grid[n] for n in names))]
    songs = [("" if spec.songs_per_genre == (None,) else f"n{n if n else 'all'}", n) for n in spec.songs_per_genre]
    genre_tokens = [""] * len(spec.genre_subsets) if spec.genre_subsets == (None,) else _genre_tokens(
        spec.genre_subsets)
    out = []
    for model in spec.models:
        for (config_id, values), (songs_id, n), (genre_id, subset) in itertools.product(
                configs, songs, zip(genre_tokens, spec.genre_subsets)):
            setting = "-".join(p for p in (model, config_id, songs_id, genre_id) if p)
            for seed in spec.seeds:
                trial_id = f"{setting}-s{seed}"
                options = {**spec.fixed, **values}
                settings = make_settings(model, spec.data, **options, seed=seed, songs_per_genre=n,
                                         genres=tuple(subset) if subset else None,
                                         run_id=f"{spec.name}-{trial_id}", group=f"{spec.name}-{setting}")
                params = {"model": model, **values, "songs_per_genre": n,
                          "genres": list(subset) if subset else None, "seed": seed}
                out.append(Trial(trial_id=trial_id, setting=setting, params=params, settings=settings))
    ids = [t.trial_id for t in out]
    if len(set(ids)) != len(ids):
        raise InputError("Two trials of the study would share a name: give each grid value once.")
    return out


def nested_genre_subsets(counts: Sequence[int], *, order: Sequence[str] | None = None,
                         ) -> tuple[tuple[str, ...], ...]:
    """The first k genres of ``order`` (default :data:`core.config.GENRES`) for each k: binary → 3 → 5 …, each
    subset inside the next.

    Raises:
        InputError: a count below 2 or above the genres in ``order``.
    """
    from core.config import GENRES

    order = tuple(order or GENRES)
    if any(k < 2 or k > len(order) for k in counts):
        raise InputError(f"Genre counts must be between 2 and {len(order)}, got {', '.join(map(str, counts))}.")
    return tuple(order[:k] for k in counts)


def study_record(spec: StudySpec, trial: Trial) -> dict[str, object]:
    """The ``run.json["study"]`` record of a trial."""
    return {"name": spec.name, "trial": trial.trial_id, "setting": trial.setting, "mode": spec.mode,
            "params": dict(trial.params)}


def completed(trial: Trial, spec: StudySpec, *, root: Path) -> bool:
    """Whether ``trial``'s run folder is complete under ``root``.

    Raises:
        InputError: a run folder of that name exists but was trained with another setting or on other data.
    """
    folder = root / str(trial.settings.run_id)
    if not all((folder / name).is_file() for name in RUN_FILES):
        return False
    from core.config import repo_relative

    info = json.loads((folder / "run.json").read_text())
    stored = info.get("study", {})
    same = (stored.get("params") == json.loads(json.dumps(dict(trial.params)))
            and info.get("dataset", {}).get("source") == repo_relative(spec.data)
            and info.get("hyperparameters") == trial.settings.hyperparameters())
    if not same:
        raise InputError(f"Run folder '{folder.name}' exists but was trained with another setting or data; give the "
                         "study another name or remove that folder.")
    return True


def run_trial(settings: TrainSettings, *, root: str, record: dict[str, object]) -> tuple[str, float]:
    """Train one trial into ``root`` (the function a Ray worker runs); returns ``(run folder, song accuracy)``."""
    from core.runs.folder import Run
    from core.training.train import train

    path = train(settings, root=Path(root), progress=False, extra={"study": record})
    return str(path), float(Run(path).metrics["song"]["accuracy"])


def run_study(spec: StudySpec, *, root: Path | None = None, engine: Engine = "ray", address: str | None = None,
              workers: int | None = None, on_event: Callable[[TrialEvent], None] = lambda event: None,
              grace_epochs: int = 2, reduction: int = 3) -> StudyReport:
    """Train every trial of ``spec`` that has no complete run folder yet.

    Args:
        root: Runs folder (default :func:`core.runs.folder.runs_root`); on a cluster every node must see it at the
            same path, and the data too.
        engine: ``ray`` (each trial a Ray task with one CPU) or ``local`` (one trial after another here). A search
            always runs on Ray Tune.
        address: A Ray cluster (default ``$RAY_ADDRESS``, else a local Ray).
        workers: Trials at once (a local Ray gets this many CPUs; default: all cores, or what the cluster has).
        on_event: Receives each trial's :class:`TrialEvent` as it happens.
        grace_epochs, reduction: ASHA's grace period (epochs every trial gets) and reduction factor (search only).

    Raises:
        InputError: a wrong study, or a run folder of the study trained with another setting.
        core.cluster.session.RayUnavailableError: Ray cannot start or reach the cluster.
    """
    root = (root or runs_root()).resolve()
    started = time.perf_counter()
    planned = trials(spec)
    events: dict[str, TrialEvent] = {}
    todo = []
    for trial in planned:
        if completed(trial, spec, root=root):
            events[trial.trial_id] = TrialEvent(trial.trial_id, str(trial.settings.run_id), "skipped")
            on_event(events[trial.trial_id])
        else:
            todo.append(trial)

    def record(event: TrialEvent) -> None:
        events[event.trial_id] = event
        on_event(event)

    start_seconds = 0.0
    if spec.mode == "search":
        from core.cluster.search import run_search

        start_seconds = run_search(spec, planned, root=root, address=address, workers=workers, on_event=record,
                                   skip=set(events), grace_epochs=grace_epochs, reduction=reduction)
    elif todo and engine == "local":
        for trial in todo:
            record(_run_here(spec, trial, root=root))
    elif todo:
        start_seconds = _run_on_ray(spec, todo, root=root, address=address, workers=workers, on_event=record)
    ordered = [events[t.trial_id] for t in planned]
    return StudyReport(spec.name, root, ordered, time.perf_counter() - started, start_seconds)


def describe_error(error: BaseException) -> str:
    """One line for a failed trial: the sentence of a :class:`GenreLabError`, else the type and message (a bug)."""
    text = str(error).strip().splitlines()[-1] if str(error).strip() else ""
    return text if isinstance(error, GenreLabError) else f"{type(error).__name__}: {text}"


def _run_here(spec: StudySpec, trial: Trial, *, root: Path) -> TrialEvent:
    begun = time.perf_counter()
    try:
        _, accuracy = run_trial(trial.settings, root=str(root), record=study_record(spec, trial))
    except Exception as error:  # noqa: BLE001 - one failed trial is reported and the study goes on, as on Ray
        return TrialEvent(trial.trial_id, str(trial.settings.run_id), "failed", time.perf_counter() - begun,
                          message=describe_error(error))
    return TrialEvent(trial.trial_id, str(trial.settings.run_id), "done", time.perf_counter() - begun, accuracy)


def _run_on_ray(spec: StudySpec, todo: list[Trial], *, root: Path, address: str | None, workers: int | None,
                on_event: Callable[[TrialEvent], None]) -> float:
    """Run ``todo`` as Ray tasks (at most ``workers`` at once); returns the seconds Ray took to start."""
    from core.cluster.session import ray_session

    begun = time.perf_counter()
    with ray_session(address=address, num_cpus=workers) as ray:
        start_seconds = time.perf_counter() - begun
        task = ray.remote(num_cpus=1, max_retries=0)(run_trial)
        queue, pending = list(todo), {}
        limit = workers or len(todo)
        while queue or pending:
            while queue and len(pending) < limit:
                trial = queue.pop(0)
                # one decoding process per trial: the trials themselves are the parallelism
                settings = replace(trial.settings, workers=1)
                ref = task.remote(settings, root=str(root), record=study_record(spec, trial))
                pending[ref] = (trial, time.perf_counter())
            ready, _ = ray.wait(list(pending), num_returns=1)
            trial, since = pending.pop(ready[0])
            run_id = str(trial.settings.run_id)
            try:
                _, accuracy = ray.get(ready[0])
            except Exception as error:  # noqa: BLE001 - Ray wraps the trial's own error; reported, never fatal
                on_event(TrialEvent(trial.trial_id, run_id, "failed", time.perf_counter() - since,
                                    message=describe_error(getattr(error, "cause", None) or error)))
                continue
            on_event(TrialEvent(trial.trial_id, run_id, "done", time.perf_counter() - since, accuracy))
    return start_seconds


def option_converter(models: Sequence[str], name: str) -> Callable[[str], object]:
    """How to read option ``name`` of ``models`` from text (its settings field's type: int, float, bool, a choice,
    a tuple written with ``-`` such as ``16-32-32-32``).

    Raises:
        InputError: no model of the study has that option.
    """
    candidates = [f for f in fields(TrainSettings) if "help" in f.metadata]
    for model in models:
        family = model_kind(model).settings
        candidates += list(fields(family)) if family else []
    found = next((f for f in candidates if f.name == name), None)
    if found is None:
        raise InputError(f"'{name}' is not an option of {', '.join(models)} (see `python -m core train --help`).")
    annotation = str(found.type)
    choices = found.metadata.get("choices")

    def convert(text: str) -> object:
        try:
            if annotation.startswith("tuple[int"):
                return tuple(int(v) for v in text.split("-") if v)
            if annotation == "bool":
                if text.lower() not in ("true", "false", "on", "off", "yes", "no", "1", "0"):
                    raise ValueError(text)
                return text.lower() in ("true", "on", "yes", "1")
            for prefix, kind in (("int", int), ("float", float)):
                if annotation.split(" ")[0] == prefix:
                    return kind(text)
        except ValueError:
            raise InputError(f"'{text}' is not a valid value of {name} ({annotation}).") from None
        if choices and text not in choices:
            raise InputError(f"{name} must be one of {', '.join(choices)}, not '{text}'.")
        return text

    return convert
