"""`tfaudio tune`: a KerasTuner search over one experiment's model family.

    result = tune(cfg, "tune-out", tuner="random", max_trials=20)

What `out` holds:

    OUT/search.json         the experiment and the search settings (checked when a search resumes)
    OUT/tuner/              KerasTuner's project: oracle.json, trial_*/ (trial.json, the best epoch's
                            weights, tfaudio_trial.json: who ran it, when, how long, RSS after it)
    OUT/results.csv, .md    one row a trial, best first
    OUT/best.json           the best trial: id, score, hyperparameters
    OUT/best_config.json    the best trial's experiment config (train it longer with `tfaudio train`)
    OUT/best_run/           a tfaudio run folder of the best model (`tfaudio evaluate` reads it)
    OUT/best/               the best model as a SavedModel (`tfaudio.deploy.savedmodel.export_saved_model`)

Running the same command again resumes the search (KerasTuner's `overwrite=False`): finished trials
are kept, a trial cut off by an interruption runs again, and the search goes on to `max_trials`.

Distributed search uses KerasTuner's chief/worker mode: with KERASTUNER_ORACLE_IP,
KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID set, the process whose id contains "chief" serves
the oracle (it trains nothing) and every other process (a worker: "tuner0", "tuner1", ...) asks it
for trials. The chief writes the results and exports the best model when all trials are done; it
reads the trials' weights from OUT/tuner, so point every process at the same (shared) OUT.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import socket
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from tfaudio.config import write_json
from tfaudio.errors import ConfigError, TfaudioError
from tfaudio.experiment import ExperimentConfig
from tuning.hypermodels import TfaudioHyperModel, hypermodel_class
from tuning.results import rows_from_trials, write_tables

log = logging.getLogger(__name__)

TUNERS = ("random", "bayesian", "hyperband")
PROJECT = "tuner"
RECORD = "tfaudio_trial.json"
_ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
_MAX_METRICS = ("acc", "auc", "precision", "recall", "f1")
TASK_METRICS = {"single_label": ("loss", "accuracy"), "multi_label": ("loss", "binary_accuracy", "auc"),
                "activation": ("loss", "mae")}


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """How to search. `tuner`: random, bayesian or hyperband; `max_trials`: trials in all (for
    hyperband a cap on top of its own schedule); `max_epochs`: hyperband's most epochs a trial
    (default: train.epochs); `objective`: the metric to optimise (default: train.monitor);
    `fixed`: hyperparameters held at a value; `strategy`: "default" or "mirrored" (each trial on
    all local GPUs; default: train.strategy); `overwrite`: discard an earlier search in `out`;
    `export`: write OUT/best (SavedModel) and OUT/best_run; `trials_per_process`: run the trials in
    child processes, this many each, so that memory TensorFlow keeps from every traced model (it
    survives `clear_session`) goes back to the OS (default: every trial in this process)."""

    tuner: str = "random"
    max_trials: int = 10
    max_epochs: int | None = None
    objective: str | None = None
    fixed: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    strategy: str | None = None
    overwrite: bool = False
    export: bool = True
    executions_per_trial: int = 1
    trials_per_process: int | None = None

    def __post_init__(self) -> None:
        if self.tuner not in TUNERS:
            raise ConfigError(f"tuner {self.tuner!r} is not one of {TUNERS}")
        if not isinstance(self.max_trials, int) or self.max_trials < 1:
            raise ConfigError(f"max_trials must be a positive integer, got {self.max_trials!r}")
        if self.max_epochs is not None and (not isinstance(self.max_epochs, int) or self.max_epochs < 1):
            raise ConfigError(f"max_epochs must be a positive integer, got {self.max_epochs!r}")
        if self.strategy not in (None, "default", "mirrored", "multi_worker"):
            raise ConfigError(f"strategy {self.strategy!r} is not one of default, mirrored")
        if not isinstance(self.executions_per_trial, int) or self.executions_per_trial < 1:
            raise ConfigError(f"executions_per_trial must be a positive integer, got {self.executions_per_trial!r}")
        if self.trials_per_process is not None and (not isinstance(self.trials_per_process, int)
                                                    or self.trials_per_process < 1):
            raise ConfigError(f"trials_per_process must be a positive integer, got {self.trials_per_process!r}")
        object.__setattr__(self, "fixed", dict(self.fixed or {}))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """What `tune` did. `role`: "single", "chief" or "worker" (a worker writes no results)."""

    out: Path
    role: str
    objective: str = ""
    direction: str = "min"
    rows: tuple[dict[str, Any], ...] = ()
    best_config: ExperimentConfig | None = None
    best_dir: Path | None = None
    done: bool = True  # False: a child process stopped at its trial budget

    @property
    def best(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows and self.rows[0].get("rank") == 1 else None


def role() -> str:
    """This process's part in a KerasTuner search: "single" (no KERASTUNER_ORACLE_IP), "chief"
    (KERASTUNER_TUNER_ID contains "chief") or "worker"."""
    if not os.environ.get("KERASTUNER_ORACLE_IP"):
        return "single"
    missing = [k for k in _ENV if not os.environ.get(k)]
    if missing:
        raise ConfigError(f"distributed tuning: KERASTUNER_ORACLE_IP is set but {missing} are not "
                          "(set all of KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT)")
    port = os.environ["KERASTUNER_ORACLE_PORT"]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"KERASTUNER_ORACLE_PORT must be a port number, got {port!r}")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def wait_for_chief(timeout: float = 3600.0) -> None:
    """Block a worker until the chief's oracle answers at KERASTUNER_ORACLE_IP:PORT.

    The chief serves only after it has checked and claimed `out`, and a worker's KerasTuner tuner creates
    OUT/tuner as soon as it is made: a worker that made its tuner first would leave the chief a foreign,
    non-empty folder. So workers make theirs only once the chief answers (`timeout` in seconds: one hour, as
    KerasTuner's own clients wait for the chief)."""
    import grpc

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    log.info("worker %s: waiting for the chief's oracle at %s", os.environ.get("KERASTUNER_TUNER_ID"), address)
    retry = [("grpc.initial_reconnect_backoff_ms", 500), ("grpc.max_reconnect_backoff_ms", 2000)]  # poll often
    with grpc.insecure_channel(address, options=retry) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise TfaudioError(f"distributed tuning: no chief oracle answered at {address} "
                               f"(start the process whose KERASTUNER_TUNER_ID contains 'chief')") from None


def objective_for(cfg: ExperimentConfig, name: str | None = None, validation: bool = True):
    """`keras_tuner.Objective` of a search: `name` (default train.monitor; without "val_" when there
    is no validation data), maximised for accuracy/AUC-like metrics and minimised otherwise."""
    import keras_tuner as kt

    name = name or cfg.train.monitor
    if not validation:
        name = name.replace("val_", "")
    known = TASK_METRICS[cfg.task]
    allowed = [*known, *(f"val_{m}" for m in known)] if validation else list(known)
    if name not in allowed:
        raise ConfigError(f"objective {name!r} is not a metric of task {cfg.task!r}; one of {allowed}")
    direction = "max" if any(m in name for m in _MAX_METRICS) else "min"
    return kt.Objective(name, direction)


def _trial_hooks():
    """A mixin for KerasTuner tuners: clears the Keras session (and collects garbage) before and after
    every trial, so memory does not grow from trial to trial, and records each run of a trial (which
    tuner, host, pid, outcome, seconds, RSS after it) in trial_ID/tfaudio_trial.json."""
    import keras

    class TrialHooks:
        trial_budget: int | None = None  # stop before the next trial once this process has run this many
        trials_run = 0

        def pre_create_trial(self):
            super().pre_create_trial()
            if self.trial_budget is not None and self.trials_run >= self.trial_budget:
                raise _BudgetReached

        def run_trial(self, trial, *args, **kwargs):
            path = Path(self.get_trial_dir(trial.trial_id)) / RECORD
            record = read_record(path) or {"trial": trial.trial_id, "runs": []}
            run = {"tuner": self.tuner_id, "host": socket.gethostname(), "pid": os.getpid(),
                   "started": time.time(), "outcome": "running"}
            record["runs"].append(run)
            write_json(record, path)
            keras.backend.clear_session()
            t0 = time.perf_counter()
            try:
                result = super().run_trial(trial, *args, **kwargs)
                run["outcome"] = "completed"
                return result
            except Exception as e:
                run["outcome"] = "failed"
                run["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                log.warning("trial %s failed: %s", trial.trial_id, run["error"])
                raise
            except BaseException:
                run["outcome"] = "interrupted"
                raise
            finally:
                self.trials_run += 1
                run["seconds"] = round(time.perf_counter() - t0, 3)
                run["ended"] = time.time()
                keras.backend.clear_session(free_memory=True)
                run["rss_mib"] = rss_mib()
                write_json(record, path)

    return TrialHooks


class _BudgetReached(Exception):
    """This process has run its share of trials (`SearchConfig.trials_per_process`)."""


def rss_mib() -> float | None:
    """This process's resident memory in MiB (Linux), or None."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def read_record(path: str | os.PathLike) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_records(project_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Trial records of a KerasTuner project, by trial id."""
    out = {}
    for path in sorted(Path(project_dir).glob(f"trial_*/{RECORD}")):
        rec = read_record(path)
        if rec and "trial" in rec:
            out[str(rec["trial"])] = rec
    return out


def make_tuner(kind: str, hypermodel: TfaudioHyperModel, objective, max_trials: int, directory: str | os.PathLike,
               *, project_name: str = PROJECT, overwrite: bool = False, seed: int = 0, max_epochs: int = 100,
               distribution_strategy=None, executions_per_trial: int = 1):
    """A KerasTuner tuner of `kind` (random, bayesian, hyperband) with the trial hooks."""
    import keras_tuner as kt

    if kind not in TUNERS:
        raise ConfigError(f"tuner {kind!r} is not one of {TUNERS}")
    base = {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization, "hyperband": kt.Hyperband}[kind]
    cls = type(base.__name__, (_trial_hooks(), base), {"__module__": __name__})
    common = dict(hypermodel=hypermodel, objective=objective, directory=str(directory), project_name=project_name,
                  overwrite=overwrite, seed=seed, distribution_strategy=distribution_strategy,
                  executions_per_trial=executions_per_trial)
    if kind == "hyperband":
        tuner = cls(max_epochs=max_epochs, factor=3, **common)
        if isinstance(tuner.oracle, kt.Oracle):  # the chief (or a single process): cap the trials
            tuner.oracle.max_trials = max_trials
        return tuner
    return cls(max_trials=max_trials, **common)


def _strategy(name: str):
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        raise ConfigError("tune runs each trial in one process: use strategy default or mirrored, and "
                          "KerasTuner's chief/worker mode to spread trials over hosts (docs/scaling.md)")
    return None


def _check_previous(out: Path, cfg: ExperimentConfig, search: SearchConfig) -> None:
    """Refuse to resume a search of another model or tuner in `out`; warn when the config changed."""
    saved = read_record(out / "search.json")
    if saved is None or search.overwrite:
        return
    old_cfg, old_search = saved.get("config", {}), saved.get("search", {})
    if old_cfg.get("model", {}).get("name") != cfg.model_name or old_search.get("tuner") != search.tuner:
        raise TfaudioError(f"{out}: holds a {old_search.get('tuner')} search of model "
                           f"{old_cfg.get('model', {}).get('name')!r}; pass --overwrite to replace it or choose "
                           "another --out")
    if old_cfg != cfg.to_dict():
        log.warning("%s: resuming with a config that differs from the saved one", out)


def _record_search(out: Path, cfg: ExperimentConfig, s: SearchConfig, objective, names: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_json({"config": cfg.to_dict(), "search": s.to_dict(), "objective": objective.name,
                "direction": objective.direction, "hyperparameters": names}, out / "search.json")


def tune(cfg: ExperimentConfig, out: str | os.PathLike, callbacks: Sequence[Any] = (), *,
         _trial_budget: int | None = None, **search: Any) -> TuneResult:
    """Search `cfg`'s model family with KerasTuner into folder `out` (keyword arguments: the
    fields of `SearchConfig`; `callbacks`: more Keras callbacks for every trial, deep-copyable,
    and picklable with `trials_per_process`). Resumes a search already in `out`. Returns what it
    did; a distributed worker returns once the chief has no trials left for it. Settings are
    checked before any data is read."""
    import keras

    from tfaudio.data.datasets import classes_of
    from tfaudio.data.sources import load_splits
    from tfaudio.models.precision import resolve as resolve_precision

    s = recorded = SearchConfig(**search)
    part = role()
    hm_cls = hypermodel_class(cfg.model_name)
    if s.overwrite and part == "worker":
        raise ConfigError("only the chief (or a single process) may overwrite a search")
    # check the fixed hyperparameters and the objective before reading any data (the class names only
    # bound mix_n_max here; the real ones are checked again below)
    probe = hm_cls(cfg, [f"class{i}" for i in range(8)], fixed=s.fixed)
    objective = objective_for(cfg, s.objective, validation=True)
    strategy = _strategy(s.strategy or cfg.train.strategy)
    out = Path(out)
    if part != "worker" and _trial_budget is None:
        from tfaudio.io.outputs import report_dir

        report_dir(out, marker="search.json", what="search folder")  # new, empty or a search: nothing else
        _check_previous(out, cfg, s)
    if s.trials_per_process and _trial_budget is None and part != "chief":  # the chief trains nothing
        if part != "worker":
            _record_search(out, cfg, recorded, objective, probe.hyperparameter_names())
        _tune_in_children(cfg, out, list(callbacks), s)
        if part == "worker":
            return TuneResult(out, part)
        s = dataclasses.replace(s, trials_per_process=None, overwrite=False)  # all trials ran: results, export
    keras.mixed_precision.set_global_policy(resolve_precision(cfg.train.mixed_precision))
    train_recs, val_recs, _ = load_splits(cfg)
    classes = classes_of(train_recs)
    hypermodel = hm_cls(cfg, classes, data=(train_recs, val_recs), fixed=s.fixed)
    objective = objective_for(cfg, s.objective, validation=bool(val_recs))
    t = cfg.train
    if part != "worker" and _trial_budget is None:
        _record_search(out, cfg, recorded, objective, hypermodel.hyperparameter_names())
    if part == "worker":
        wait_for_chief()  # nothing of a worker's is written into `out` before the chief has claimed it
    tuner = make_tuner(s.tuner, hypermodel, objective, s.max_trials, out, overwrite=s.overwrite, seed=t.seed,
                       max_epochs=s.max_epochs or t.epochs, distribution_strategy=strategy,
                       executions_per_trial=s.executions_per_trial)
    tuner.trial_budget = _trial_budget
    steps = t.steps_per_epoch
    if steps is None and cfg.task != "single_label":
        steps = 1680  # as `tfaudio train`: seed 001's epoch of mixes
    monitor = objective.name
    callbacks = [keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=objective.direction, factor=t.lr_factor,
                                                   patience=t.lr_patience, min_lr=t.min_lr),
                 keras.callbacks.TerminateOnNaN(), *callbacks]
    verbose = 1 if t.verbose == "auto" else t.verbose
    log.info("%s search of %s (%s) in %s: up to %d trials, objective %s (%s)", s.tuner, cfg.model_name, part,
             out, s.max_trials, objective.name, objective.direction)
    try:
        tuner.search(epochs=t.epochs, steps_per_epoch=steps,
                     validation_steps=t.validation_steps if val_recs and cfg.task == "single_label" else None,
                     callbacks=callbacks, verbose=verbose)
    except _BudgetReached:
        return TuneResult(out, part, objective.name, objective.direction, done=False)
    except RuntimeError as e:
        if "consecutive failures" in str(e):
            raise TfaudioError(f"{out}: the search stopped after repeated failed trials: "
                               f"{str(e).splitlines()[0]} (see {out / PROJECT}/trial_*/trial.json)") from None
        raise
    if part == "worker" or _trial_budget is not None:
        if part == "worker":
            log.info("worker %s: no trials left", os.environ.get("KERASTUNER_TUNER_ID"))
        return TuneResult(out, part, objective.name, objective.direction)
    rows = rows_from_trials(tuner.oracle.trials.values(), objective.name, objective.direction,
                            records=read_records(Path(tuner.project_dir)))
    title = f"{s.tuner} search of {cfg.name} ({cfg.model_name}), objective {objective.name} ({objective.direction})"
    write_tables(rows, objective.name, out, title=title)
    best_cfg, best_dir = None, None
    best = tuner.oracle.get_best_trials(1)
    if not best:
        log.warning("%s: no trial completed; nothing to export", out)
    else:
        best_cfg = hypermodel.config_for(best[0].hyperparameters.copy())
        write_json({"trial": best[0].trial_id, objective.name: best[0].score,
                    "hyperparameters": best[0].hyperparameters.values}, out / "best.json")
        write_json(best_cfg.to_dict(), out / "best_config.json")
        if s.export:
            best_dir = export_best(tuner, best[0], hypermodel, best_cfg, out)
    keras.backend.clear_session()
    return TuneResult(out, part, objective.name, objective.direction, tuple(rows), best_cfg, best_dir)


def _child(cfg: ExperimentConfig, out: str, callbacks: list, search: dict[str, Any], budget: int) -> None:
    """A child process's share of the trials; exit status 0: the search is over, 3: more to run."""
    import sys

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = tune(cfg, out, callbacks, _trial_budget=budget, **search)
    sys.exit(0 if result.done else 3)


def _tune_in_children(cfg: ExperimentConfig, out: Path, callbacks: list, s: SearchConfig) -> None:
    """Run the trials in fresh processes, `s.trials_per_process` each, until the search is over."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    first = True
    while True:
        search = {**s.to_dict(), "trials_per_process": None, "export": False, "overwrite": s.overwrite and first}
        proc = ctx.Process(target=_child, args=(cfg, str(out), callbacks, search, s.trials_per_process),
                           name="tfaudio-tune-trials")
        proc.start()
        proc.join()
        first = False
        if proc.exitcode == 0:
            return
        if proc.exitcode != 3:
            raise TfaudioError(f"{out}: the trial process ended with exit status {proc.exitcode} (run again to "
                               "resume the search)")
        log.info("%s: %d trial(s) done in a child process; going on in a fresh one", out, s.trials_per_process)


def export_best(tuner, trial, hypermodel: TfaudioHyperModel, best_cfg: ExperimentConfig, out: Path) -> Path | None:
    """The best trial's model (its best epoch's weights) as OUT/best_run (a run folder) and OUT/best (a
    SavedModel, via the export command's `export_saved_model`). None when its weights are not here."""
    from tfaudio.spec import RunSpec
    from tfaudio.run_folder import write_spec
    from tfaudio.training.train import model_input, window_samples

    try:
        model = tuner.load_model(trial)
    except (OSError, FileNotFoundError, ValueError) as e:
        log.warning("%s: cannot load the best trial's weights (%s); were the workers writing elsewhere? "
                    "Nothing exported", out, str(e).splitlines()[0] if str(e) else type(e).__name__)
        return None
    spec = RunSpec(task=best_cfg.task, classes=hypermodel.classes, features=best_cfg.features,
                   window=window_samples(best_cfg), model_input=model_input(model))
    run = out / "best_run"
    (run / "checkpoints").mkdir(parents=True, exist_ok=True)
    write_json(best_cfg.to_dict(), run / "config.json")
    write_spec(spec, run)
    from tfaudio.io import outputs

    outputs.atomic_write(run / "checkpoints" / "best.keras", model.save)
    from tfaudio.deploy.savedmodel import export_saved_model  # the export command's code

    return export_saved_model(model, spec, out / "best")


def parse_fixed(items: Sequence[str]) -> dict[str, Any]:
    """`NAME=VALUE` strings (values read as YAML scalars) -> {name: value}."""
    import yaml

    fixed = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--fix {item!r}: expected NAME=VALUE")
        name, raw = (p.strip() for p in item.split("=", 1))
        if not name:
            raise ConfigError(f"--fix {item!r}: empty name")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        if not isinstance(value, (bool, int, float, str)) or (isinstance(value, float) and math.isnan(value)):
            raise ConfigError(f"--fix {item!r}: the value must be a number, a boolean or a string")
        fixed[name] = value
    return fixed
