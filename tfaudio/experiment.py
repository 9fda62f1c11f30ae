"""Experiment configs: one YAML file per seed experiment in `pipelines/`, with dotted overrides.

    config = load_experiment("pipelines/neuroment_mel.yaml", ["train.epochs=2", "data.root=/data/msdb"])

Unknown keys and bad values raise `ConfigError` naming the dotted key, before any work starts.
"""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from tfaudio.config import AugmentConfig, FeatureConfig, MixConfig, from_dict, to_dict
from tfaudio.errors import ConfigError
from importlib import resources

DATA_FORMATS = ("corpus", "medley_solos_db", "irmas", "nsynth", "folder", "csv")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
MIXINGS = ("pipeline", "device")
STRATEGIES = ("default", "mirrored", "multi_worker")
MONITOR_MODES = ("auto", "min", "max")
# what `tfaudio.training.train.compile_model` logs for each task (each also with "val_" when there is validation data)
TASK_METRICS = {"single_label": ("loss", "accuracy"), "multi_label": ("loss", "binary_accuracy", "auc"),
                "activation": ("loss", "mae")}
# "auto" monitor modes, by name as keras.callbacks.ModelCheckpoint (Keras 2) and KerasTuner infer them:
# accuracy-, AUC-, F-measure-, precision-, recall-, LRAP- and mAP-like metrics are maximised, losses and
# errors minimised
_MAX_NAME = re.compile(r"acc|auc|f1|fmeasure|f_measure|precision|recall|lrap|iou|(^|_)map($|_)|top_k")
_MIN_NAME = re.compile(r"loss|crossentropy|error|(^|_)(mae|mse|mape|msle|rmse|kld|hinge|poisson|logcosh|"
                       r"huber|bce)($|_)|divergence")


def monitor_choices(task: str, validation: bool = True) -> tuple[str, ...]:
    """The names `train.monitor` may take for `task`: its compiled metrics, also with "val_"."""
    known = TASK_METRICS[task]
    return (*known, *(f"val_{m}" for m in known)) if validation else tuple(known)


def monitor_mode(monitor: str, mode: str = "auto") -> str:
    """"min" or "max": `mode` itself, or with "auto" inferred from the metric's name."""
    if mode not in MONITOR_MODES:
        raise ConfigError(f"train.monitor_mode {mode!r} is not one of {MONITOR_MODES}")
    if mode != "auto":
        return mode
    name = monitor.lower().removeprefix("val_")
    if _MAX_NAME.search(name):
        return "max"
    if _MIN_NAME.search(name):
        return "min"
    raise ConfigError(f"train.monitor {monitor!r}: cannot tell whether it is to be minimised or maximised; "
                      "set train.monitor_mode to min or max")


CORPUS_CLASSES = ("msdb", "irmas")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the audio comes from. format "corpus" (default) renders the built-in corpus into a cache
    folder (or `root`); the others read a data set at `root` in that layout."""

    format: str = "corpus"
    root: str | None = None
    train_split: str | None = "training"
    val_split: str | None = "validation"
    test_split: str | None = "test"
    val_fraction: float = 0.1  # held out of the training records when there is no validation split
    per_class: int = 20  # built-in corpus: clips per class
    corpus_seed: int = 0
    balance: bool = True  # seed 001 §4.1.2
    max_oversample: float = 2.0
    clip_seconds: float = 3.0  # classification window length
    clip_hop_seconds: float | None = None  # hop between classification windows (default: the length)
    min_rms_db: float | None = -60.0
    cache: str | None = "memory"  # decoded audio: "memory", a file prefix, or None
    strict: bool = False
    verify: str = "header"
    # built-in corpus: the instrument classes ("msdb": Medley-Solos-DB's 8; "irmas": IRMAS's 11, by code)
    classes: str = "msdb"
    # built-in corpus: SoundFonts to render (names of tfaudio.data.corpus.SOUNDFONTS or paths; empty: timgm6mb)
    soundfonts: tuple[str, ...] = ()
    # cross-SoundFont splits (any data whose records carry a "soundfont"): every clip of these SoundFonts
    # is validation (model selection) or test data, and none of them is trained on
    val_soundfonts: tuple[str, ...] = ()
    test_soundfonts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.classes not in CORPUS_CLASSES:
            raise ConfigError(f"data.classes {self.classes!r} is not one of {CORPUS_CLASSES}")
        shared = set(self.val_soundfonts) & set(self.test_soundfonts)
        if shared:
            raise ConfigError(f"data.val_soundfonts and data.test_soundfonts share {sorted(shared)}")
        if self.soundfonts and set(self.val_soundfonts) | set(self.test_soundfonts) >= set(self.soundfonts):
            raise ConfigError("data.soundfonts leaves no SoundFont to train on after data.val_soundfonts and "
                              "data.test_soundfonts")
        if self.format not in DATA_FORMATS:
            raise ConfigError(f"data.format {self.format!r} is not one of {DATA_FORMATS}")
        if self.format not in ("corpus",) and not self.root:
            raise ConfigError(f"data.format {self.format!r} needs data.root")
        if not 0 <= self.val_fraction < 1 or self.per_class < 3 or self.clip_seconds <= 0:
            raise ConfigError("data.val_fraction must be in [0, 1), data.per_class >= 3, data.clip_seconds > 0")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation, as seed 001 §4.4: AdamW (1e-3, weight decay 1e-3), batch 32, ReduceLROnPlateau
    (÷5 after 8 stagnant epochs, minimum 1e-5), 150 epochs."""

    epochs: int = 150
    steps_per_epoch: int | None = None  # None: one pass over the data (mixes: 1680 batches, seed 001)
    validation_steps: int | None = None
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 1e-3
    lr_factor: float = 0.2
    lr_patience: int = 8
    min_lr: float = 1e-5
    monitor: str = "val_loss"  # a metric of the task (see TASK_METRICS), with or without "val_"
    monitor_mode: str = "auto"  # "min", "max", or "auto": inferred from the monitor's name
    mixed_precision: str = "auto"  # auto: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with bf16/AMX, else float32
    mixing: str = "pipeline"  # mixes made by tf.data ("pipeline") or inside the training step ("device")
    strategy: str = "default"
    seed: int = 0
    shuffle_buffer: int = 2048
    verbose: str | int = "auto"
    # warm start: a .keras file (or run folder) whose layers initialise the model's layers of the same name and
    # shape, e.g. a frozen-backbone run before fine-tuning its upper layers at a small learning rate
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError(f"train.epochs and train.batch_size must be >= 1, got {self.epochs}, {self.batch_size}")
        for name in ("steps_per_epoch", "validation_steps"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ConfigError(f"train.{name} must be >= 1 or null, got {v}")
        if self.learning_rate <= 0 or self.weight_decay < 0 or not 0 < self.lr_factor < 1 or self.min_lr < 0:
            raise ConfigError("train.learning_rate > 0, weight_decay >= 0, 0 < lr_factor < 1, min_lr >= 0")
        if self.mixed_precision not in PRECISIONS:
            raise ConfigError(f"train.mixed_precision {self.mixed_precision!r} is not one of {PRECISIONS}")
        if self.mixing not in MIXINGS:
            raise ConfigError(f"train.mixing {self.mixing!r} is not one of {MIXINGS}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"train.strategy {self.strategy!r} is not one of {STRATEGIES}")
        if self.monitor_mode not in MONITOR_MODES:
            raise ConfigError(f"train.monitor_mode {self.monitor_mode!r} is not one of {MONITOR_MODES}")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: task, data, features, mixing, augmentation, model and training."""

    name: str
    task: str
    model: Mapping[str, Any]
    data: DataConfig = DataConfig()
    features: FeatureConfig = FeatureConfig()
    mix: MixConfig = MixConfig()
    augment: AugmentConfig = AugmentConfig()
    train: TrainConfig = TrainConfig()
    description: str = ""

    def __post_init__(self) -> None:
        from tfaudio.spec import TASKS  # lazy: this module stays free of TensorFlow (light to import)

        if self.task not in TASKS:
            raise ConfigError(f"task {self.task!r} is not one of {TASKS}")
        choices = monitor_choices(self.task)
        if self.train.monitor not in choices:
            raise ConfigError(f"train.monitor {self.train.monitor!r} is not a metric of task {self.task!r}; "
                              f"one of {list(choices)}")
        monitor_mode(self.train.monitor, self.train.monitor_mode)  # "auto" must be able to tell
        if "name" not in self.model:
            raise ConfigError("model.name is required")
        from tfaudio import models  # lazy: this module stays free of TensorFlow (light to import)

        if self.model["name"] not in models.available():
            raise ConfigError(f"model.name {self.model['name']!r} is not one of {models.available()}")
        # model keys are checked by the model's own config class
        models.model_config(self.model["name"], **{k: v for k, v in self.model.items() if k != "name"})

    @property
    def model_name(self) -> str:
        return self.model["name"]

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def experiment_from_dict(data: Mapping[str, Any]) -> ExperimentConfig:
    """Validate a plain mapping (parsed YAML) into an `ExperimentConfig`, each section by `config.from_dict`."""
    if not isinstance(data, Mapping):
        raise ConfigError("an experiment config must be a mapping")
    known = {f.name for f in dataclasses.fields(ExperimentConfig)}
    unknown = sorted(set(data) - known, key=str)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; known: {sorted(known)}")
    for required in ("name", "task", "model"):
        if required not in data:
            raise ConfigError(f"missing top-level key {required!r}")
    if not isinstance(data["model"], Mapping):
        raise ConfigError("model: expected a mapping with at least 'name'")
    sections = {"data": DataConfig, "features": FeatureConfig, "mix": MixConfig, "augment": AugmentConfig,
                "train": TrainConfig}
    kwargs = {s: from_dict(cls, {} if data.get(s) is None else data[s], s) for s, cls in sections.items()}
    try:
        return ExperimentConfig(name=str(data["name"]), task=data["task"], model=dict(data["model"]),
                                description=str(data.get("description", "")), **kwargs)
    except (TypeError, ValueError) as e:  # a ConfigError too: one line as it is
        raise ConfigError(str(e)) from None


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply `key.sub=value` overrides (values parsed as YAML scalars) to a nested mapping."""
    import yaml  # lazy: YAML is read only here

    data = _deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        if not all(parts):
            raise ConfigError(f"--set {item!r}: bad key {key!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {p!r} is not a section")
        node[parts[-1]] = value
    return data


def _deepcopy(d: Any) -> Any:
    if isinstance(d, Mapping):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


#: Bounds on an experiment YAML (the shipped ones have < 100 values, 3 levels): its size in bytes, and the
#: values and nesting depth it expands to (YAML aliases can make a 1-kB file expand a billion-fold).
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_VALUES = 10_000
MAX_CONFIG_DEPTH = 32


def _check_expansion(data: Any, path: Path) -> None:
    """ConfigError unless `data` expands to at most MAX_CONFIG_VALUES values, MAX_CONFIG_DEPTH deep (an
    alias counts each time it is used, so a recursive alias or a "billion laughs" file is refused)."""
    stack, count = [(data, 0)], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES or depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{path}: the config expands to more than {MAX_CONFIG_VALUES} values or "
                              f"{MAX_CONFIG_DEPTH} levels (YAML aliases?); refused")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for kv in node.items() for v in kv)
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """The top-level mapping of an experiment YAML; ConfigError naming the file for anything else (not
    found, not UTF-8, not YAML, too large, aliases that expand without bound, nested too deeply)."""
    import yaml  # lazy: YAML is read only here

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: config file is larger than {MAX_CONFIG_BYTES >> 20} MB")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start})") from None
    except RecursionError:
        raise ConfigError(f"{path}: the config is nested too deeply") from None
    except ValueError as e:  # e.g. an integer of more than 4300 digits
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config ({(e.strerror or str(e)).lower()})") from None
    _check_expansion(data, path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def load_experiment(path: str | os.PathLike, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read a YAML experiment, apply dotted overrides, validate. ConfigError names the file or key."""
    data = apply_overrides(read_yaml(path), overrides)
    try:
        return experiment_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def pipeline_dirs() -> list[Path]:
    """Where the shipped experiment YAMLs are: the installed package data `tfaudio/pipelines/` (a wheel or
    a non-editable install, via importlib.resources), then `pipelines/` of the checkout tfaudio runs from
    (an editable install)."""
    found = []
    try:
        packaged = resources.files("tfaudio") / "pipelines"
        if isinstance(packaged, Path) and packaged.is_dir():
            found.append(packaged)
    except (ModuleNotFoundError, TypeError, OSError):
        pass
    checkout = Path(__file__).resolve().parent.parent / "pipelines"
    if checkout.is_dir() and checkout not in found:
        found.append(checkout)
    return found


def pipelines() -> dict[str, Path]:
    """The shipped experiments by name (the first of `pipeline_dirs` that has a name wins)."""
    named: dict[str, Path] = {}
    for folder in pipeline_dirs():
        for q in sorted(folder.glob("*.yaml")):
            named.setdefault(q.stem, q)
    return dict(sorted(named.items()))


def find_config(name: str) -> Path:
    """A config path as given, or a shipped experiment by name (`pipelines`, with or without ``.yaml``)."""
    p = Path(name)
    if p.is_file():
        return p
    known = pipelines()
    stem = name[:-5] if name.endswith(".yaml") else name
    if "/" not in stem and stem in known:
        return known[stem]

    raise ConfigError(f"{name}: config file not found" + (f"; shipped experiments: {sorted(known)} "
                                                         "(tfaudio train --list)" if known else ""))
