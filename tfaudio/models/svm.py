"""Seed 004's SVM baseline (scikit-learn) with a Keras-like fit/evaluate/predict interface.

Saved with `skops.io` (never pickle): a zip of JSON and `.npy` arrays. Loading first lists every type
the file names (its ``schema.json``, read as JSON, nothing constructed) and refuses the file unless all
of them are in `TRUSTED_TYPES` — exactly the types of our pipeline (StandardScaler -> SVC) and of the
containers and arrays around it — then `skops.io.loads(..., trusted=TRUSTED_TYPES)` audits it again.
(skops trusts every scikit-learn estimator by default; our own check keeps the file to ours.)
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from tfaudio.config import from_dict, to_dict
from tfaudio.errors import ConfigError, TfaudioError
from tfaudio.models.configs import SVMConfig
from tfaudio.io import outputs
from tfaudio.io.outputs import problem

#: The file format written by `SVMBaseline.save` (the ``format`` entry of the saved dict).
FORMAT = "tfaudio-svm"
FORMAT_VERSION = 1
#: Every type a saved `SVMBaseline` holds ("module.Class"): the skops ``trusted`` list, and the allowlist
#: a file must keep to before skops constructs anything.
TRUSTED_TYPES = (
    "builtins.dict", "builtins.list", "builtins.str", "builtins.tuple",
    "numpy.ndarray", "numpy.float64",
    "sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler", "sklearn.svm._classes.SVC",
)


@dataclasses.dataclass(frozen=True)
class TensorShape:
    """What inference reads of a Keras input/output: its `shape` (batch first, None = any)."""

    shape: tuple


def _schema_types(node: Any, found: set[str]) -> set[str]:
    if isinstance(node, dict):
        if "__module__" in node or "__class__" in node:
            found.add(f"{node.get('__module__')}.{node.get('__class__')}")
        for v in node.values():
            _schema_types(v, found)
    elif isinstance(node, list):
        for v in node:
            _schema_types(v, found)
    return found


def skops_types(data: bytes, source: str | os.PathLike = "<bytes>") -> set[str]:
    """Every type ("module.Class") a skops file names, read from its ``schema.json`` (as JSON: nothing is
    imported or constructed). Raises `TfaudioError` when `data` is not a skops file."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            schema = json.loads(z.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise TfaudioError(f"{os.fspath(source)}: not a skops file ({why})") from None
    return _schema_types(schema, set())


def _is_pickle(data: bytes) -> bool:
    """Pickle protocol 2+ starts with PROTO (0x80) and the protocol number; 0/1 with an opcode such as '(' or '}'."""
    return (len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5) or data[:1] in (b"(", b"}", b"]", b"c")


class SVMBaseline:
    """MFCC matrices `(batch, frames, n_mfcc)` (or `(batch, samples)` audio with `input="audio"`)
    -> summary vectors (mean and std a coefficient, or the flattened matrix) -> StandardScaler ->
    SVC (linear kernel, C=1).

    `fit(x, y)`, `evaluate(x, y, return_dict=False)` (`[loss, accuracy]`, loss the cross-entropy of
    `predict`), `predict(x)` (`(batch, n_classes)` scores: softmax of the SVM's one-vs-rest
    decision values), `save(path)` / `SVMBaseline.load(path)` (skops, see the module doc). Labels: class
    indices or one-hot. Inference and evaluation use it where a Keras model goes: `inputs` / `outputs`
    shapes and a call on feature batches (`runs_in_graph = False`: called eagerly).
    """

    def __init__(self, config: SVMConfig = SVMConfig()):
        from sklearn.pipeline import make_pipeline  # lazy: scikit-learn loads only where it runs (~0.5 s)
        from sklearn.preprocessing import StandardScaler  # lazy: scikit-learn loads only where it runs (~0.5 s)
        from sklearn.svm import SVC  # lazy: scikit-learn loads only where it runs (~0.5 s)

        self.config = config
        self.name = "svm"
        self.pipeline = make_pipeline(StandardScaler(), SVC(kernel=config.kernel, C=config.C,
                                                           decision_function_shape="ovr"))

    def get_config(self) -> dict:
        return to_dict(self.config)

    # -- what `tfaudio.inference` and `tfaudio.evaluation` read of a Keras model
    #: Not a Keras model: inference calls it eagerly on numpy features, outside any tf.function graph
    #: (and `tfaudio export` refuses it: a SavedModel needs a Keras model).
    runs_in_graph = False

    @property
    def inputs(self) -> list[TensorShape]:
        """`(batch, frames, bins)` features (frames free with "stats" pooling), or `(batch, samples)` audio."""
        cfg = self.config
        if cfg.input == "audio":
            return [TensorShape((None, cfg.n_samples))]
        return [TensorShape((None, cfg.n_frames if cfg.pooling == "flatten" else None, cfg.n_bins))]

    @property
    def outputs(self) -> list[TensorShape]:
        return [TensorShape((None, self.config.n_classes))]

    def __call__(self, x, training: bool = False) -> np.ndarray:
        """`predict` (a Keras model's call): float32 class scores `(batch, n_classes)`."""
        return self.predict(np.asarray(x))

    # -- features
    def summarise(self, x) -> np.ndarray:
        """`(batch, frames, bins)` features (or audio) -> `(batch, dims)` vectors."""
        cfg = self.config
        if cfg.input == "audio":
            x = cfg.features.compute(np.asarray(x, np.float32))
        x = np.asarray(x, np.float64)
        if x.ndim != 3 or x.shape[-1] != cfg.n_bins:
            raise ConfigError(f"SVMBaseline: expected (batch, frames, {cfg.n_bins}) features, got {x.shape}")
        if cfg.pooling == "stats":
            return np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1)
        t = cfg.n_frames
        x = x[:, :t]
        x = np.pad(x, [(0, 0), (0, t - x.shape[1]), (0, 0)])
        return x.reshape(len(x), -1)

    @staticmethod
    def _labels(y) -> np.ndarray:
        y = np.asarray(y)
        return y.argmax(-1) if y.ndim == 2 else y.astype(np.int64)

    # -- Keras-like interface
    def fit(self, x, y, **_ignored) -> "SVMBaseline":
        self.pipeline.fit(self.summarise(x), self._labels(y))
        return self

    def predict(self, x, **_ignored) -> np.ndarray:
        d = self.pipeline.decision_function(self.summarise(x))
        classes = self.pipeline.classes_
        if d.ndim == 1:  # two classes present: one decision value
            d = np.stack([-d, d], axis=1)
        scores = np.full((len(d), self.config.n_classes), -np.inf)
        scores[:, classes] = d
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        return (scores / scores.sum(axis=1, keepdims=True)).astype(np.float32)

    def evaluate(self, x, y, return_dict: bool = False, **_ignored):
        y = self._labels(y)
        p = self.predict(x)
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1.0))))
        acc = float(np.mean(p.argmax(axis=1) == y))
        return {"loss": loss, "accuracy": acc} if return_dict else [loss, acc]

    def count_params(self) -> int:
        """Support vectors × dims + intercepts once fitted, 0 before."""
        svc = self.pipeline[-1]
        if not hasattr(svc, "support_vectors_"):
            return 0
        return int(svc.support_vectors_.size + svc.intercept_.size + svc.dual_coef_.size)

    # -- persistence
    def to_bytes(self) -> bytes:
        """The skops file's bytes: {"format", "version", "config" (JSON text), "pipeline"}."""
        import skops.io as sio  # lazy: SVM runs only

        state = {"format": FORMAT, "version": str(FORMAT_VERSION), "config": json.dumps(to_dict(self.config)),
                 "pipeline": self.pipeline}
        return sio.dumps(state)

    def save(self, path) -> Path:
        """Write the model to `path` (skops; ``.skops`` by convention) via a temporary name, fsync, rename."""
        return outputs.write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path) -> "SVMBaseline":
        """Read a model `save` wrote. Raises `TfaudioError` in one line for a missing file, an old pickle
        file (never unpickled), a file that is not ours, or one naming a type outside `TRUSTED_TYPES`."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise TfaudioError(f"{path}: cannot read the SVM ({problem(e)})") from None
        return cls.from_bytes(data, path)

    @classmethod
    def from_bytes(cls, data: bytes, source: str | os.PathLike = "<bytes>") -> "SVMBaseline":
        import skops.io as sio  # lazy: SVM runs only
        from sklearn.pipeline import Pipeline  # lazy: scikit-learn loads only where it runs (~0.5 s)

        where = os.fspath(source)
        if not zipfile.is_zipfile(io.BytesIO(data)):
            if _is_pickle(data) or Path(where).suffix == ".svm":
                raise TfaudioError(f"{where}: saved with pickle by an older tfaudio, which is not loaded (unsafe); "
                                   "retrain the run (tfaudio train) to save it as .skops")
            raise TfaudioError(f"{where}: not a tfaudio SVM file (a .skops zip)")
        untrusted = sorted(skops_types(data, where) - set(TRUSTED_TYPES))
        if untrusted:
            raise TfaudioError(f"{where}: refused: holds type(s) a tfaudio SVM never saves: {', '.join(untrusted)}")
        try:
            state = sio.loads(data, trusted=list(TRUSTED_TYPES))
        except Exception as e:  # noqa: BLE001 - a damaged file is one line
            first = str(e).splitlines()[0] if str(e) else ""
            raise TfaudioError(f"{where}: cannot load the SVM ({type(e).__name__}: {first})") from None
        if not (isinstance(state, dict) and state.get("format") == FORMAT
                and isinstance(state.get("pipeline"), Pipeline)):
            raise TfaudioError(f"{where}: not a tfaudio SVM file (no {FORMAT!r} model in it)")
        if state.get("version") != str(FORMAT_VERSION):
            raise TfaudioError(f"{where}: SVM file version {state.get('version')!r}; "
                               f"this tfaudio reads version {FORMAT_VERSION}")
        try:
            config = from_dict(SVMConfig, json.loads(state["config"]))
        except (KeyError, TypeError, ValueError) as e:
            raise TfaudioError(f"{where}: malformed SVM config ({e})") from None
        model = cls(config)
        model.pipeline = state["pipeline"]
        return model

def svm(cfg: SVMConfig) -> SVMBaseline:
    """Seed 004's SVM baseline (not a Keras model): see `SVMBaseline`."""
    return SVMBaseline(cfg)
