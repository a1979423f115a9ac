"""A study's search on Ray Tune: the trials' configurations run with an ASHA scheduler that stops weak ones early.

The configurations are drawn by :func:`core.cluster.study.trials` (seeded, so a rerun draws the same ones); Tune
runs each as a function trainable that trains with :func:`core.training.train.train` and reports every epoch's
validation song accuracy (``val_acc``) to the scheduler. ASHA (asynchronous successive halving) lets every trial
train ``grace_epochs`` epochs, then at each rung keeps the best 1/``reduction`` of the trials that reached it.
A stopped trial leaves no run folder (and is listed as ``stopped``); a finished one writes its run folder as a grid
trial does. On a rerun, complete trials are not trained again: they replay their stored history to the scheduler,
so its rungs see every trial. The search is ranked on validation songs, never on the test part.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from core.analysis.compare import params_label
from core.runs.folder import Run

if TYPE_CHECKING:
    from core.cluster.study import StudySpec, Trial, TrialEvent

#: What the scheduler ranks: the validation song accuracy of the epoch (higher is better).
METRIC = "val_acc"


def _tune_trial(config: dict, *, trials: dict[str, Trial], records: dict[str, dict], root: str,
                skip: frozenset[str]) -> None:
    """Tune's function trainable: replay a complete trial's history, else train it and report each epoch."""
    from dataclasses import replace

    from ray import tune

    from core.training.train import train

    trial = trials[config["trial"]]
    if trial.trial_id in skip:
        for row in Run(Path(root) / str(trial.settings.run_id)).history.to_dict("records"):
            tune.report({METRIC: float(row["val_acc"]), "epoch": int(row["epoch"])})
        return

    def report(row: dict[str, float]) -> None:
        tune.report({METRIC: float(row["val_acc"]), "epoch": int(row["epoch"])})

    train(replace(trial.settings, workers=1), root=Path(root), progress=False, on_epoch=report,
          extra={"study": records[trial.trial_id]})


def run_search(spec: StudySpec, planned: list[Trial], *, root: Path, address: str | None, workers: int | None,
               on_event: Callable[[TrialEvent], None], skip: set[str], grace_epochs: int,
               reduction: int) -> float:
    """Run the search's trials on Ray Tune with ASHA; ``on_event`` gets each trial not in ``skip``.

    Returns:
        The seconds Ray took to start or join.
    """
    from functools import partial

    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    from core.cluster.session import ray_session
    from core.cluster.study import TrialEvent, describe_error, study_record

    max_epochs = max(int(t.settings.hyper.epochs) for t in planned)
    scheduler = ASHAScheduler(metric=METRIC, mode="max", max_t=max_epochs, grace_period=min(grace_epochs, max_epochs),
                              reduction_factor=reduction, stop_last_trials=False)
    trainable = partial(_tune_trial, trials={t.trial_id: t for t in planned}, root=str(root), skip=frozenset(skip),
                        records={t.trial_id: study_record(spec, t) for t in planned})
    # Tune's newer console output ignores ``verbose=0``; its classic reporter honours it (core never prints)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    begun = time.perf_counter()
    with ray_session(address=address, num_cpus=workers) as _:
        start_seconds = time.perf_counter() - begun
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space={"trial": tune.grid_search([t.trial_id for t in planned])},
            tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=workers or 0),
            run_config=tune.RunConfig(name=spec.name, storage_path=str(root / ".studies" / "tune"), verbose=0),
        )
        results = tuner.fit()
    rows = []
    by_id = {t.trial_id: t for t in planned}
    for result in results:
        trial_id, metrics = result.config["trial"], result.metrics or {}
        run_id = f"{spec.name}-{trial_id}"
        seconds, epochs = float(metrics.get("time_total_s", 0.0)), int(metrics.get("epoch", 0))
        if trial_id in skip:
            status = "done"
        elif result.error is not None:
            status = "failed"
            on_event(TrialEvent(trial_id, run_id, status, seconds,
                                message=describe_error(getattr(result.error, "cause", None) or result.error)))
        elif (root / run_id / "run.json").is_file():
            status = "done"
            on_event(TrialEvent(trial_id, run_id, status, seconds,
                                float(Run(root / run_id).metrics["song"]["accuracy"])))
        else:
            status = "stopped"
            on_event(TrialEvent(trial_id, run_id, status, seconds,
                                message=f"stopped by ASHA after {epochs} epochs (validation song accuracy "
                                        f"{float(metrics.get(METRIC, float('nan'))):.3f})"))
        rows.append({"trial": trial_id, "status": status, "epochs": epochs, "val_acc": metrics.get(METRIC),
                     "params": params_label(by_id[trial_id].params)})
    path = trials_file(root, spec.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return start_seconds


def trials_file(root: Path, study: str) -> Path:
    """The search's trials, stopped ones included (``trial, status, epochs, val_acc, params``: the last reported
    epoch and its validation song accuracy), for the Compare page."""
    return root / ".studies" / f"{study}-search.csv"
