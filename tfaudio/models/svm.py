"""Seed 004's SVM baseline (scikit-learn) with a Keras-like fit/evaluate/predict interface."""
from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np

from tfaudio.config import to_dict
from tfaudio.errors import ConfigError
from tfaudio.models.configs import SVMConfig


class SVMBaseline:
    """MFCC matrices `(batch, frames, n_mfcc)` (or `(batch, samples)` audio with `input="audio"`)
    -> summary vectors (mean and std a coefficient, or the flattened matrix) -> StandardScaler ->
    SVC (linear kernel, C=1).

    `fit(x, y)`, `evaluate(x, y, return_dict=False)` (`[loss, accuracy]`, loss the cross-entropy of
    `predict`), `predict(x)` (`(batch, n_classes)` scores: softmax of the SVM's one-vs-rest
    decision values), `save(path)` / `SVMBaseline.load(path)`. Labels: class indices or one-hot.
    """

    def __init__(self, config: SVMConfig = SVMConfig()):
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        self.config = config
        self.name = "svm"
        self.pipeline = make_pipeline(StandardScaler(), SVC(kernel=config.kernel, C=config.C,
                                                           decision_function_shape="ovr"))

    def get_config(self) -> dict:
        return to_dict(self.config)

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
    def save(self, path) -> Path:
        path = Path(path)
        with open(path, "wb") as f:
            pickle.dump({"config": dataclasses.asdict(self.config), "pipeline": self.pipeline}, f)
        return path

    @classmethod
    def load(cls, path) -> "SVMBaseline":
        from tfaudio.config import from_dict

        with open(path, "rb") as f:
            state = pickle.load(f)
        model = cls(from_dict(SVMConfig, state["config"]))
        model.pipeline = state["pipeline"]
        return model


def svm(cfg: SVMConfig) -> SVMBaseline:
    """Seed 004's SVM baseline (not a Keras model): see `SVMBaseline`."""
    return SVMBaseline(cfg)
