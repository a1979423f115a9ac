"""The command line: ``python -m core <command> ...``.

Every command is a thin wrapper over a function in ``core``. A wrong path or argument prints one line to
stderr and exits with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from core.audio.decode import AudioError
from core.errors import GenreLabError


class CliError(GenreLabError):
    """A user error found by the command line itself: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage + error otherwise)
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _existing(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise argparse.ArgumentTypeError(f"'{path}' does not exist")
    return p


MODEL_HELP = "run id, run folder or 'musicnn' (default: the shipped real-music model transfer-gtzan, else musicnn)"


def _model(a: argparse.Namespace) -> str:
    """The model the command uses: ``--model``, else the default (:func:`core.models.registry.default_model`)."""
    from core.runs.folder import default_model

    return a.model or default_model()


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got '{text}'") from None


def _engine(a: argparse.Namespace) -> dict[str, str | None]:
    """``engine`` and ``address`` of a command with :func:`_engine_options` (``--address`` needs ``--engine ray``)."""
    if a.address and a.engine != "ray":
        raise CliError("--address names a Ray cluster: use it with --engine ray.")
    return {"engine": a.engine, "address": a.address}


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: worker processes here (default); ray: Ray Data, on this machine or a cluster "
                        "(pip install -r requirements-cluster.txt; README: Running on a Ray cluster)")
    p.add_argument("--address", default=None,
                   help="the Ray cluster to join with --engine ray (default $RAY_ADDRESS, else a local Ray)")


# --- command handlers --------------------------------------------------------------------------------------------

def _cmd_synth(a: argparse.Namespace) -> int:
    from core.config import GENRES
    from core.synth import ARTISTS_PER_GENRE, generate_dataset

    summary = generate_dataset(a.out, per_genre=a.per_genre, seconds=a.seconds, seed=a.seed,
                               difficulty=a.difficulty, workers=a.workers)
    total = summary.written + summary.skipped
    print(f"Synthetic genre set in {a.out}: {total} clips ({a.per_genre} per genre x {len(GENRES)} genres, "
          f"{a.seconds:g} s each, {ARTISTS_PER_GENRE} artists per genre), seed {a.seed}, difficulty {a.difficulty:g}.")
    rate = f" in {summary.seconds:.1f} s" if summary.written else ""
    print(f"Wrote {summary.written}{rate}, kept {summary.skipped} already there. Metadata: {summary.metadata}")
    return 0


def _cmd_features(a: argparse.Namespace) -> int:
    from core.audio.features import features_table, label_from_path
    from core.audio.files import find_audio
    from core.config import AUDIO_EXTENSIONS

    paths = find_audio(a.inputs)
    if not paths:
        raise CliError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) under {', '.join(map(str, a.inputs))}.")
    guessed = [label_from_path(p) for p in paths]
    table = features_table(paths, labels=guessed if any(guessed) else None,
                           segment_seconds=3.0 if a.segments else None, workers=a.workers)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(a.out, index=False)
    for error in table.attrs["errors"]:
        print(f"skipped {error}", file=sys.stderr)
    done = len(paths) - len(table.attrs["errors"])
    print(f"Wrote {len(table)} rows x {len(table.columns)} columns from {done}/{len(paths)} files to {a.out}")
    return 1 if table.attrs["errors"] else 0


def _cmd_cache(a: argparse.Namespace) -> int:
    from core.config import AudioConfig
    from core.data.cache import warm_cache
    from core.data.sources import load_source

    paths = load_source(a.source)["path"].dropna().tolist()
    if not paths:
        print(f"{a.source} has no audio files (a feature table?): nothing to cache.")
        return 0
    cfg = AudioConfig()
    report = warm_cache(paths, sample_rate=cfg.sample_rate, max_seconds=cfg.max_seconds, workers=a.workers,
                        **_engine(a))
    print(f"{report.total} files in {report.seconds:.1f} s: {report.decoded} decoded, {report.cached} already "
          f"cached, {len(report.failed)} unreadable. Cache: {report.cache_dir}")
    for path, reason in report.failed:
        print(f"  unreadable: {path}: {reason}")
    return 1 if report.failed else 0


def _settings(a: argparse.Namespace):
    from core.training.train import make_settings

    options = {k: v for k, v in vars(a).items() if k not in ("command", "handler", "model", "data", "seeds")}
    return make_settings(a.model, a.data, **options)


def _cmd_train(a: argparse.Namespace) -> int:
    from core.runs.folder import Run, runs_table, seed_summary
    from core.training.train import train, train_seeds

    settings = _settings(a)
    seeds = getattr(a, "seeds", None)
    paths = train_seeds(settings, seeds) if seeds else [train(settings)]
    table = runs_table([Run(p) for p in paths])
    cols = ["run_id", "model", "split", "seed", "segment_accuracy", "song_accuracy", "song_macro_f1"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if len(paths) > 1:
        s = seed_summary(table).iloc[0]
        print(f"\n{len(paths)} seeds: song accuracy {s.song_accuracy_mean:.3f} ± {s.song_accuracy_std:.3f}, "
              f"macro-F1 {s.song_macro_f1_mean:.3f} ± {s.song_macro_f1_std:.3f}")
    return 0


def _cmd_evaluate(a: argparse.Namespace) -> int:
    from core.runs.evaluate import evaluate_run

    folder = evaluate_run(a.run, data=a.data, split=a.split, rule=a.split_rule, out=a.out)
    print(f"Evaluation written to {folder}")
    return 0


def _cmd_runs(a: argparse.Namespace) -> int:
    from core.runs.folder import list_runs, runs_table

    table = runs_table(list_runs())
    if a.json:
        print(table.to_json(orient="records", indent=2))
    elif table.empty:
        print("No runs yet: train one with `python -m core train --model cnn --data data/synth`.")
    else:
        cols = ["run_id", "model", "dataset", "split", "seed", "song_accuracy", "song_macro_f1", "hyperparameters"]
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}", na_rep="–"))
    return 0


def _cmd_predict(a: argparse.Namespace) -> int:
    from core.analysis.predict import predict_song
    from core.runs.folder import load_model

    model = load_model(_model(a))
    results = {}
    for path in a.files:
        try:
            pred = predict_song(path, model=model)
        except AudioError as error:
            print(f"{path}: {error}", file=sys.stderr)
            results[str(path)] = {"error": str(error)}
            continue
        if a.json:
            results[str(path)] = pred.to_json()
            continue
        print(f"{path}  ({pred.duration:.1f} s, {len(pred.bounds)} segments)")
        for note in pred.notices:
            print(f"  note: {note}")
        top = ", ".join(f"{g} {p:.2f}" for g, p in pred.top(3))
        print(f"  genre: {pred.genre}{'  (between genres)' if pred.ambiguous else ''}   top: {top}")
        print("  spectrum:")
        for genre, p in sorted(zip(pred.classes, pred.spectrum), key=lambda t: -t[1]):
            print(f"    {genre:<10} {p:6.3f} {'#' * int(round(p * 40))}")
        print("  timeline:")
        for (start, end), row in zip(pred.bounds, pred.segment_probs):
            i = int(row.argmax())
            print(f"    {start:7.1f}-{end:7.1f} s  {pred.classes[i]:<10} {row[i]:.2f}")
    if a.json:
        print(json.dumps(results if len(a.files) > 1 else next(iter(results.values())), indent=2))
    return 0 if all("error" not in r for r in results.values()) else 1


def _cmd_top_tags(a: argparse.Namespace) -> int:
    from core.pretrained.musicnn import top_tags

    for tag in top_tags(a.file, model=a.model, top=a.top):
        print(tag)
    return 0


def _cmd_catalog(a: argparse.Namespace) -> int:
    from core.library.catalog import build_catalog, catalog_model

    model = a.model or catalog_model(a.name, out=a.out) or _model(a)  # an existing catalog keeps its model
    report = build_catalog(a.folder, name=a.name, out=a.out, model=model, workers=a.workers, **_engine(a))
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"Catalog '{a.name or report.folder.name}': {report.added} added, {report.skipped} unchanged, "
          f"{len(report.failed)} failed, {report.total} songs in {report.folder}.")
    for path, error in report.failed:
        print(f"  failed: {path}: {error}")
    return 0


def _cmd_catalog_search(a: argparse.Namespace) -> int:
    from core.library.catalog import Catalog, search

    cat = Catalog.load(a.catalog)
    found = search(cat, style=a.style, genre=a.genre, text=a.text)
    if a.json:
        cols = [c for c in ("title", "artist", "album", "genre", "tag_genre", "styles", "path") if c in found]
        print(found[cols].to_json(orient="records", indent=2))
        return 0
    for row in found.itertuples(index=False):
        tagged = f", tagged {row.tag_genre}" if getattr(row, "tag_genre", "") else ""
        print(f"{row.title} — {row.artist or 'unknown artist'} [{row.genre}{tagged}]  styles: "
              f"{getattr(row, 'styles', '') or '–'}\n      {row.path}")
    print(f"{len(found)} of {len(cat.tracks)} songs match.")
    return 0


def _cmd_recommend(a: argparse.Namespace) -> int:
    from core.analysis.predict import predict_song
    from core.audio.files import content_hash
    from core.library.catalog import Catalog
    from core.library.recommend import recommend
    from core.runs.folder import load_model

    cat = Catalog.load(a.catalog)
    for note in cat.notes:
        print(f"note: {note}", file=sys.stderr)
    if a.model and a.model != cat.info["model"]:
        print(f"note: catalog '{cat.name}' was built with '{cat.info['model']}'; using that model.", file=sys.stderr)
    query = predict_song(a.file, model=load_model(cat.info["model"]))
    table = recommend(query, catalog=cat, k=a.k, same_genre=a.same_genre, exclude_hash=content_hash(a.file))
    if a.json:
        print(json.dumps({"query": {"path": str(a.file), "genre": query.genre, "top": query.top(3)},
                          "results": table.drop(columns=["hash"]).to_dict(orient="records")}, indent=2))
        return 0
    print(f"{a.file}: {query.genre} ({', '.join(f'{g} {p:.2f}' for g, p in query.top(3))})")
    if table.empty:
        print("No similar songs found" + (" of the same genre." if a.same_genre else "."))
    for n, row in enumerate(table.itertuples(index=False), 1):
        who = row.artist or "unknown artist"
        print(f"{n:2d}. {row.similarity:.3f} ({row.match})  {row.title} — {who} [{row.genre}]  {row.reason}\n"
              f"      {row.path}")
    return 0


def _cmd_tag(a: argparse.Namespace) -> int:
    from core.analysis.predict import predict_song
    from core.library.tags import describe, tag_files
    from core.runs.folder import load_model

    model = load_model(_model(a))

    def genres(path: Path) -> list[str]:
        pred = predict_song(path, model=model)
        return [g for g, _ in pred.top(2 if pred.ambiguous else 1)]

    changes = tag_files(a.inputs, genres, write=a.write, mode=a.mode, report_csv=a.report, force=a.force,
                        on_change=lambda change: print(describe(change)),
                        on_cleanup=lambda path: print(f"removed a leftover temporary copy: {path}"))
    errors = sum(c.error is not None for c in changes)
    if a.write:
        summary = f"{sum(c.written for c in changes)} rewritten"
    else:
        summary = f"{sum(c.changed for c in changes)} would change (dry run: no file was modified)"
    print(f"{len(changes)} files: {summary}, {errors} with errors.")
    return 1 if errors else 0


def _cmd_demo(a: argparse.Namespace) -> int:
    from core.training.demo import build_demo

    build_demo(runs=not a.skip_runs, catalog=not a.skip_catalog, workers=a.workers, say=print)
    return 0


def _cmd_convert(a: argparse.Namespace) -> int:
    from core.pretrained.convert import convert_musicnn

    for name, path in convert_musicnn(wheel=a.wheel, out=a.out).items():
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"tags, licence and README in {a.out}")
    return 0


def _cmd_export_onnx(a: argparse.Namespace) -> int:
    from core.pretrained.runtime import export_taggers

    path = export_taggers(a.out)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def _pairs(items: list[str] | None, flag: str) -> list[tuple[str, str]]:
    """``NAME=VALUE`` texts of a repeated option as ``(name, value)`` (dashes in names become underscores)."""
    out = []
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise CliError(f"{flag} takes NAME=VALUE, got '{item}'.")
        out.append((name.strip().replace("-", "_"), value.strip()))
    return out


def _study_spec(a: argparse.Namespace):
    from core.cluster.study import Distribution, StudySpec, nested_genre_subsets, option_converter

    models = tuple(a.model)
    grid = {n: tuple(option_converter(models, n)(v) for v in values.split(",")) for n, values in _pairs(a.grid, "--grid")}
    fixed = {n: option_converter(models, n)(v) for n, v in _pairs(a.set, "--set")}
    space = {n: Distribution.parse(v, convert=option_converter(models, n)) for n, v in _pairs(a.space, "--space")}
    if bool(space) != bool(a.search):
        raise CliError("a search needs both --search N and at least one --space NAME=DISTRIBUTION.")
    try:
        songs = tuple(None if v.strip() == "all" else int(v) for v in a.songs_per_genre.split(","))
    except ValueError:
        raise CliError(f"--songs-per-genre takes numbers or 'all', got '{a.songs_per_genre}'.") from None
    if a.genres:
        subsets = tuple(tuple(g.strip() for g in part.split(",") if g.strip()) for part in a.genres.split(";"))
    elif a.genre_counts:
        subsets = nested_genre_subsets(a.genre_counts, order=a.genre_order)
    else:
        subsets = (None,)
    return StudySpec(name=a.name, data=a.data, models=models, seeds=tuple(a.seeds), songs_per_genre=songs,
                     genre_subsets=subsets, grid=grid, fixed={"split": a.split, **fixed}, space=space,
                     samples=a.search or 0, sample_seed=a.sample_seed)


def _cmd_study(a: argparse.Namespace) -> int:
    from core.analysis.compare import study_curve, study_table
    from core.cluster.study import run_study, trials
    from core.runs.folder import list_runs, runs_root

    if a.address and a.engine != "ray":
        raise CliError("--address names a Ray cluster: use it with --engine ray.")
    spec = _study_spec(a)
    root = a.runs_root or runs_root()
    total, seen = len(trials(spec)), []

    def show(event) -> None:
        seen.append(event)
        acc = f"  song acc. {event.song_accuracy:.3f}" if event.song_accuracy is not None else ""
        took = f"  ({event.seconds:.0f} s)" if event.status != "skipped" else ""
        note = f"  {event.message}" if event.message else ""
        print(f"[{len(seen)}/{total}] {event.status:<7} {event.run_id}{acc}{took}{note}", flush=True)

    report = run_study(spec, root=root, engine=a.engine, address=a.address, workers=a.workers, on_event=show,
                       grace_epochs=a.grace_epochs, reduction=a.reduction)
    done = report.count("done")
    rate = f", {done / report.seconds * 3600:.0f} trials/hour" if done else ""
    start = f", Ray started in {report.start_seconds:.1f} s" if report.start_seconds else ""
    print(f"Study '{spec.name}' ({spec.mode}) in {report.root}: {done} trained, {report.count('skipped')} already "
          f"there, {report.count('stopped')} stopped early, {report.count('failed')} failed; "
          f"{report.seconds:.0f} s{rate}{start}.")
    table = study_table(list_runs(report.root))
    for x, varied in (("songs_per_genre", len(spec.songs_per_genre) > 1), ("n_genres", len(spec.genre_subsets) > 1)):
        curve = study_curve(table, study=spec.name, x=x) if varied else None
        if curve is None or curve.empty:
            continue
        print(f"\nsong accuracy by {'songs per genre' if x == 'songs_per_genre' else 'genres'} (mean ± std over seeds):")
        wide = (curve["line"].str.len().max(), curve["x_label"].str.len().max())
        for row in curve.itertuples(index=False):
            spread = f" ± {row.std:.3f}" if row.n_seeds > 1 else ""
            print(f"  {row.line:<{wide[0]}}  {row.x_label:<{wide[1]}}  {row.mean:.3f}{spread}  ({row.n_seeds} seeds)")
    return 1 if report.count("failed") else 0


def _cmd_ensemble(a: argparse.Namespace) -> int:
    from core.models.ensemble import ensemble_settings
    from core.runs.folder import Run
    from core.training.train import train

    run = Run(train(ensemble_settings(tuple(a.members), run_id=a.name, device=a.device)))
    best = max((Run(m) for m in sorted((run.path / "members").iterdir())),
               key=lambda m: m.metrics["song"]["balanced_accuracy"])
    for label, r in (("ensemble", run), ("best member", best)):
        song = r.metrics["song"]
        print(f"{label:<12} {r.run_id:<24} song acc. {song['accuracy']:.3f}  balanced {song['balanced_accuracy']:.3f}"
              f"  macro-F1 {song['macro_f1']:.3f}")
    gain = run.metrics["song"]["balanced_accuracy"] - best.metrics["song"]["balanced_accuracy"]
    print(f"Gain over the best member (song balanced accuracy): {gain:+.3f}. Run folder: {run.path}")
    return 0


# --- parser ------------------------------------------------------------------------------------------------------

def _option_type(annotation: str) -> Callable[[str], object]:
    """argparse ``type`` for a settings field annotation (``int``, ``float | None``, ``tuple[int, ...]`` …)."""
    if annotation.startswith("tuple[int"):
        return lambda text: tuple(int(v) for v in text.split(",") if v.strip())
    if annotation.startswith("tuple[str"):
        return lambda text: tuple(v.strip() for v in text.split(",") if v.strip())
    for name, kind in (("int", int), ("float", float)):
        if annotation.split(" ")[0] == name:
            return kind
    return str


def _train_options(p: argparse.ArgumentParser) -> None:
    """``train``'s options, generated from the settings dataclasses (:mod:`core.training.settings`).

    Options not given stay out of the namespace, so a family's option given for another kind is refused by
    :func:`core.training.settings.make_settings` instead of being silently ignored.
    """
    from dataclasses import MISSING, fields

    from core.models.registry import KINDS, TRAINABLE
    from core.training.settings import COMMON_OPTIONS

    p.add_argument("--model", choices=TRAINABLE, required=True)
    p.add_argument("--data", required=True, help="dataset folder, CSV manifest, FMA folder or GTZAN features CSV")
    p.add_argument("--seeds", type=_seeds, default=argparse.SUPPRESS,
                   help="e.g. 0,1,2: one run per seed, mean ± std")
    families: dict[type, list[str]] = {}
    for kind in KINDS.values():
        if kind.settings is not None:
            families.setdefault(kind.settings, []).append(kind.name)
    seen: set[str] = set()
    for family, names in [(None, []), *families.items()]:
        for f in COMMON_OPTIONS if family is None else fields(family):
            if f.name in seen:
                continue
            seen.add(f.name)
            default = None if f.default is MISSING else f.default
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            where = f" [{', '.join(names)}]" if names else ""
            help_text = f"{f.metadata['help']}{where}" + (f" (default {shown})" if shown is not None else "")
            flag = "--" + f.name.replace("_", "-")
            if isinstance(default, bool):
                p.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                               help=help_text)
            else:
                p.add_argument(flag, type=_option_type(str(f.type)), choices=f.metadata.get("choices"),
                               default=argparse.SUPPRESS, help=help_text)


# --- parser ------------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The full ``python -m core`` parser."""
    parser = _Parser(prog="python -m core", description="Music genre lab: data, training, analysis, catalogs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser, required=True)

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    p = add("synth", _cmd_synth, "Generate the deterministic synthetic genre set (a GTZAN-like tree).")
    p.add_argument("--out", type=Path, default=Path("data/synth"), help="output folder (default data/synth)")
    p.add_argument("--per-genre", type=int, default=40, help="clips per genre (default 40)")
    p.add_argument("--seconds", type=float, default=30.0, help="clip length in seconds (default 30)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same bytes (default 0)")
    p.add_argument("--difficulty", type=float, default=0.5, help="0 distinct genres … 1 overlapping (default 0.5)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")

    p = add("features", _cmd_features, "Write the 57 GTZAN-table features of audio files to a CSV.")
    p.add_argument("inputs", nargs="+", type=_existing, metavar="FILE_OR_DIR")
    p.add_argument("--out", type=Path, required=True, help="CSV to write")
    p.add_argument("--segments", action="store_true", help="one row per 3-second segment (default: per clip)")
    p.add_argument("--workers", type=int, default=None)

    p = add("cache", _cmd_cache, "Decode a data source once into the on-disk waveform cache (resumable).")
    p.add_argument("source", help="dataset folder or CSV manifest")
    p.add_argument("--workers", type=int, default=None, help="processes, or Ray tasks (default: all cores)")
    _engine_options(p)

    p = add("train", _cmd_train, "Train a model and write a run folder under models/runs/.")
    _train_options(p)

    p = add("study", _cmd_study, "Train a grid or a search of runs (a study) on Ray; resumable.")
    p.add_argument("name", help="study name: its runs are NAME-<trial> in the runs folder")
    p.add_argument("--data", required=True, help="data source, as for train")
    p.add_argument("--model", type=lambda t: [m.strip() for m in t.split(",") if m.strip()], required=True,
                   help="model kinds, e.g. transfer or cnn,crnn")
    p.add_argument("--split", default="auto", help="split rule, as for train (default auto)")
    p.add_argument("--seeds", type=_seeds, default=[0], help="one trial per seed for each setting (default 0)")
    p.add_argument("--songs-per-genre", default="all",
                   help="learning songs per genre, e.g. 5,10,20,all (test part untouched; default all)")
    genres = p.add_mutually_exclusive_group()
    genres.add_argument("--genres", default=None, help="genre subsets separated by ';', e.g. "
                                                       "'blues,classical;blues,classical,metal'")
    genres.add_argument("--genre-counts", type=_seeds, default=None,
                        help="nested subsets of the first N genres of --genre-order, e.g. 2,3,5,8,10")
    p.add_argument("--genre-order", type=lambda t: tuple(g.strip() for g in t.split(",") if g.strip()),
                   default=None, help="the order --genre-counts takes genres in (default: the GTZAN order)")
    p.add_argument("--grid", action="append", metavar="NAME=V1,V2",
                   help="a hyperparameter and its values (repeatable; tuples written 16-32-32-32)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a training option for every trial (repeatable), e.g. epochs=20, valid=0.2")
    p.add_argument("--search", type=int, default=None, metavar="N",
                   help="a search: N configurations drawn from --space, run on Ray Tune with ASHA (cnn, crnn)")
    p.add_argument("--space", action="append", metavar="NAME=DIST",
                   help="a searched hyperparameter: log:LOW:HIGH, uniform:LOW:HIGH or choice:A:B (repeatable)")
    p.add_argument("--sample-seed", type=int, default=0, help="seed of the search's draws (default 0)")
    p.add_argument("--grace-epochs", type=int, default=2, help="ASHA: epochs every trial gets (default 2)")
    p.add_argument("--reduction", type=int, default=3, help="ASHA: keep the best 1/N at each rung (default 3)")
    p.add_argument("--engine", choices=["ray", "local"], default="ray",
                   help="ray: each trial a Ray task (default); local: one after another in this process")
    p.add_argument("--address", default=None,
                   help="the Ray cluster to join (default $RAY_ADDRESS, else a local Ray on this machine)")
    p.add_argument("--workers", type=int, default=None, help="trials at once (default: one per CPU of Ray)")
    p.add_argument("--runs-root", type=Path, default=None, help="runs folder (default $GENRE_LAB_RUNS or models/runs)")

    p = add("ensemble", _cmd_ensemble, "Average several runs' probabilities into an ensemble run, evaluated on "
                                       "their test part.")
    p.add_argument("members", nargs="+", help="run ids or folders, trained on the same data and split")
    p.add_argument("--name", required=True, help="run id of the ensemble")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")

    p = add("evaluate", _cmd_evaluate, "Re-evaluate a run on another dataset or split into a new folder.")
    p.add_argument("run", help="run folder or run id")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test", help="which part to evaluate: train, valid, test or all")
    p.add_argument("--split-rule", default=None,
                   help="how to split DATA (auto, grouped, column, files:DIR, all); default: the run's own rule on "
                        "the data it was trained on, else all of DATA")
    p.add_argument("--out", type=Path, default=None)

    p = add("runs", _cmd_runs, "List training runs.")
    p.add_argument("--json", action="store_true")

    p = add("predict", _cmd_predict, "Genre spectrum and timeline of audio files.")
    p.add_argument("files", nargs="+", type=_existing, metavar="FILE")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--json", action="store_true")

    p = add("top-tags", _cmd_top_tags, "Top tags of the pretrained musicnn tagger, one per line.")
    p.add_argument("file", type=_existing)
    p.add_argument("--model", choices=["mtt", "msd"], default="mtt")
    p.add_argument("--top", type=int, default=10)

    p = add("catalog", _cmd_catalog, "Build or update a catalog of songs for recommendations.")
    csub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True)
    b = csub.add_parser("build", help="scan a music folder (incremental, resumable)",
                        description="Scan a music folder into a catalog. Work is committed every 32 songs: a build "
                                    "that was stopped or killed resumes where it stopped; a bad file is reported "
                                    "and skipped.")
    b.set_defaults(handler=_cmd_catalog)
    b.add_argument("folder", type=_existing)
    where = b.add_mutually_exclusive_group(required=True)
    where.add_argument("--name", help="catalog name: one folder name, kept in data/catalogs/NAME (no '/', no "
                                      "leading '.')")
    where.add_argument("--out", type=Path, default=None,
                       help="an explicit catalog folder anywhere, instead of --name (load it by its path)")
    b.add_argument("--model", default=None, help=MODEL_HELP)
    b.add_argument("--workers", type=int, default=None,
                   help="processes (default: all cores, at most 4), or Ray actors (default: one per CPU of Ray)")
    _engine_options(b)

    s = csub.add_parser("search", help="find catalog songs by style, genre or text",
                        description="Songs of a catalog with a style among their strongest, a predicted or tagged "
                                    "genre, and/or text in title, artist or album.")
    s.set_defaults(handler=_cmd_catalog_search)
    s.add_argument("catalog", help="catalog name or folder")
    s.add_argument("--style", default=None, help="e.g. electronic, 'r&b / soul', jazz (see README: styles)")
    s.add_argument("--genre", default=None)
    s.add_argument("--text", default=None)
    s.add_argument("--json", action="store_true")

    p = add("recommend", _cmd_recommend, "Songs from a catalog that sound like FILE.")
    p.add_argument("file", type=_existing)
    p.add_argument("--catalog", default="demo")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--same-genre", action="store_true")
    p.add_argument("--model", default=None, help="default: the catalog's model")
    p.add_argument("--json", action="store_true")

    p = add("tag", _cmd_tag, "Write predicted genres into files' metadata tags (dry run unless --write).")
    p.add_argument("inputs", nargs="+", type=_existing, metavar="FILE_OR_DIR")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--write", action="store_true")
    p.add_argument("--mode", choices=["replace", "append", "keep"], default="replace")
    p.add_argument("--report", type=Path, default=None, help="CSV report of old and new genres")
    p.add_argument("--force", action="store_true",
                   help="also rewrite read-only files (they stay read-only) and hard-linked files (this name gets "
                        "the tagged copy, the other names keep the old data); refused without it")

    p = add("demo", _cmd_demo, "Rebuild what the repo ships: synthetic set, the three demo runs, the demo catalog.")
    p.add_argument("--skip-runs", action="store_true", help="only the demo catalog")
    p.add_argument("--skip-catalog", action="store_true", help="only the synthetic set and the runs")
    p.add_argument("--workers", type=int, default=None)

    p = add("convert-musicnn", _cmd_convert, "Convert musicnn's TensorFlow checkpoints to safetensors.")
    p.add_argument("--wheel", type=_existing, required=True, help="musicnn-0.1.0 wheel or unpacked folder")
    p.add_argument("--out", type=Path, default=Path("models/pretrained"))

    p = add("export-onnx", _cmd_export_onnx, "Export both musicnn taggers to the ONNX graph the CPU path runs.")
    p.add_argument("--out", type=Path, default=Path("models/pretrained/musicnn_taggers.onnx"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; user errors print one line and return 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (GenreLabError, FileNotFoundError, FileExistsError, PermissionError, IsADirectoryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was kept.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (``| head``): not an error of ours
        sys.stderr.close()
        return 0
    except Exception:  # noqa: BLE001 - not caused by the input: a bug, shown as one
        import traceback

        traceback.print_exc()
        print("This is a bug in Genre Lab, not a problem with your input: please report it with the command "
              "you ran and the lines above.", file=sys.stderr)
        return 70
