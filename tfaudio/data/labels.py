"""Labels: one-hot and multi-hot class encoders, and the activation matrix of seed 001.

Encoders work on Python labels (`encode`, `encode_batch`, `decode`) and, called
on string tensors, inside TensorFlow graphs (`Dataset.map`). An unknown label is
an `UnknownLabelError` that names it (in a graph: an `InvalidArgumentError`
whose message holds the label).

`activations(stems)` turns the scaled solo stems of a mix, `(..., instruments,
samples)`, into the activation matrix `(..., instruments, frames)` in [0, 1]:
each stem's RMS per frame (the features' framing: 2048-sample frames every 1024
samples, centred), in dB relative to a fixed `ref` (full scale), limited to a
`top_db` range and mapped linearly: ``ref`` -> 1, ``top_db`` below -> 0.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence, Union

import numpy as np
import tensorflow as tf

from tfaudio.errors import ConfigError, DatasetError
from tfaudio.features import rms

__all__ = [
    "UnknownLabelError", "OneHotEncoder", "MultiHotEncoder", "one_hot", "multi_hot",
    "activations", "activations_from_rms", "activations_to_db",
]

Label = Union[str, int, np.integer]


class UnknownLabelError(DatasetError, KeyError):
    """A label is not one of the encoder's classes."""

    def __init__(self, label: Any, classes: Sequence[str]):
        self.label = label
        self.classes = tuple(classes)
        shown = ", ".join(repr(c) for c in self.classes[:20]) + (", ..." if len(self.classes) > 20 else "")
        DatasetError.__init__(self, None, f"unknown label {label!r}; the classes are {shown}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.problem


class _Encoder:
    """A fixed, ordered list of class names."""

    def __init__(self, classes: Iterable[str]):
        if isinstance(classes, (str, bytes)):
            raise ConfigError(f"classes must be a list of class names, not the string {classes!r}")
        classes = tuple(classes)
        if not classes:
            raise ConfigError("classes must name at least one class")
        index: dict[str, int] = {}
        for i, c in enumerate(classes):
            if not isinstance(c, str) or not c:
                raise ConfigError(f"class {i} is {c!r}; class names must be non-empty strings")
            if c in index:
                raise ConfigError(f"class {c!r} appears twice in classes")
            index[c] = i
        self.classes: tuple[str, ...] = classes
        self._index = index
        self._table: tf.lookup.StaticHashTable | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self.classes)!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.classes == self.classes  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.classes))

    def get_config(self) -> dict[str, Any]:
        return {"classes": list(self.classes)}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)

    def index(self, label: Label) -> int:
        """The class index of `label`: a class name, or an index in range."""
        if isinstance(label, bytes):
            label = label.decode("utf-8")
        if isinstance(label, str):
            try:
                return self._index[label]
            except KeyError:
                raise UnknownLabelError(label, self.classes) from None
        if isinstance(label, (int, np.integer)) and not isinstance(label, (bool, np.bool_)):
            if 0 <= int(label) < len(self.classes):
                return int(label)
        raise UnknownLabelError(label, self.classes)

    def _indices(self, labels: tf.Tensor) -> tf.Tensor:
        """In-graph class indices of a string or integer tensor; fails naming any unknown label."""
        labels = tf.convert_to_tensor(labels)
        if labels.dtype == tf.string:
            if self._table is None:
                init = tf.lookup.KeyValueTensorInitializer(
                    tf.constant(list(self.classes)), tf.range(len(self.classes), dtype=tf.int64))
                self._table = tf.lookup.StaticHashTable(init, default_value=-1)
            idx = self._table.lookup(labels)
        elif labels.dtype.is_integer:
            idx = tf.cast(labels, tf.int64)
            idx = tf.where((idx >= 0) & (idx < len(self.classes)), idx, tf.constant(-1, tf.int64))
        else:
            raise ConfigError(f"labels must be strings or integers, not {labels.dtype.name}")
        bad = idx < 0
        check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)),
                                    ["tfaudio: unknown label(s):",
                                     tf.boolean_mask(tf.reshape(labels, [-1]), tf.reshape(bad, [-1])),
                                     f"the classes are {list(self.classes)}"], summarize=10)
        with tf.control_dependencies([check]):
            return tf.identity(idx)


class OneHotEncoder(_Encoder):
    """One class per example: `encode("violin")` -> `(num_classes,)` float32."""

    def encode(self, label: Label) -> np.ndarray:
        out = np.zeros(len(self.classes), np.float32)
        out[self.index(label)] = 1.0
        return out

    def encode_batch(self, labels: Iterable[Label]) -> np.ndarray:
        """`(n,)` labels -> `(n, num_classes)`."""
        rows = [self.encode(label) for label in labels]
        return np.stack(rows) if rows else np.zeros((0, len(self.classes)), np.float32)

    def decode(self, y: Any) -> str | list[str]:
        """`(num_classes,)` scores -> the top class; `(n, num_classes)` -> a list of them."""
        y = np.asarray(y)
        self._check_width(y)
        top = np.argmax(y, axis=-1)
        return self.classes[int(top)] if y.ndim == 1 else [self.classes[int(i)] for i in top.reshape(-1)]

    def __call__(self, labels: Any) -> tf.Tensor:
        """In-graph: labels `(...)` (strings or indices) -> `(..., num_classes)` float32."""
        return tf.one_hot(self._indices(labels), len(self.classes), dtype=tf.float32)

    def _check_width(self, y: np.ndarray) -> None:
        if y.ndim < 1 or y.shape[-1] != len(self.classes):
            raise ConfigError(f"scores of shape {y.shape} do not end in num_classes={len(self.classes)}")


class MultiHotEncoder(_Encoder):
    """Any number of classes per example: `encode(["piano", "violin"])` -> `(num_classes,)` float32."""

    def encode(self, labels: Iterable[Label]) -> np.ndarray:
        if isinstance(labels, (str, bytes)):
            labels = [labels]
        out = np.zeros(len(self.classes), np.float32)
        for label in labels:
            out[self.index(label)] = 1.0
        return out

    def encode_batch(self, examples: Iterable[Iterable[Label]]) -> np.ndarray:
        """n label sets -> `(n, num_classes)`."""
        rows = [self.encode(e) for e in examples]
        return np.stack(rows) if rows else np.zeros((0, len(self.classes)), np.float32)

    def decode(self, y: Any, threshold: float = 0.5) -> list[str] | list[list[str]]:
        """Classes scoring >= threshold: a list for `(num_classes,)`, a list of lists for `(n, num_classes)`."""
        y = np.asarray(y)
        if y.ndim < 1 or y.shape[-1] != len(self.classes):
            raise ConfigError(f"scores of shape {y.shape} do not end in num_classes={len(self.classes)}")
        if y.ndim == 1:
            return [c for c, v in zip(self.classes, y) if v >= threshold]
        return [self.decode(row, threshold) for row in y.reshape(-1, y.shape[-1])]  # type: ignore[misc]

    def __call__(self, labels: Any) -> tf.Tensor:
        """In-graph: a label set `(n,)` -> `(num_classes,)`; a ragged batch `(batch, None)` -> `(batch, num_classes)`.

        Strings or indices; an empty set gives zeros.
        """
        if isinstance(labels, tf.RaggedTensor):
            if labels.ragged_rank != 1:
                raise ConfigError("a ragged batch of label sets must have shape (batch, None)")
            hot = tf.one_hot(self._indices(labels.flat_values), len(self.classes), dtype=tf.float32)
            rows = tf.math.unsorted_segment_max(hot, labels.value_rowids(), labels.nrows())
            return tf.math.maximum(rows, 0.0)  # empty rows come back as the lowest float
        labels = tf.convert_to_tensor(labels)
        hot = tf.one_hot(self._indices(labels), len(self.classes), dtype=tf.float32)
        return tf.math.maximum(tf.reduce_max(hot, axis=-2), 0.0)  # an empty set's max is the lowest float


def one_hot(labels: Label | Iterable[Label], classes: Sequence[str]) -> np.ndarray:
    """One label -> `(C,)`; a sequence of labels -> `(n, C)`."""
    enc = OneHotEncoder(classes)
    if isinstance(labels, (str, bytes, int, np.integer)):
        return enc.encode(labels)
    return enc.encode_batch(labels)


def multi_hot(labels: Iterable[Label], classes: Sequence[str]) -> np.ndarray:
    """One label set -> `(C,)`."""
    return MultiHotEncoder(classes).encode(labels)


def activations(stems: Any, frame_length: int = 2048, hop_length: int = 1024, center: bool = True,
                ref: float = 1.0, top_db: float = 60.0, gains: Any = None) -> tf.Tensor:
    """The activation matrix of seed 001: `(..., instruments, samples)` -> `(..., instruments, frames)`.

    Per instrument and frame: RMS of its (scaled) stem, ``20 log10(rms / ref)``
    clipped to ``[-top_db, 0]`` and mapped to [0, 1]. `ref` is fixed (default 1.0:
    full scale), so levels compare across mixes; a silent stem gives 0. `gains`,
    broadcastable to `(..., instruments)`, scales the stems first (the mix levels).
    Frames are the features' (``1 + samples // hop_length``, centred).
    """
    if not np.isfinite(top_db) or top_db <= 0:
        raise ConfigError(f"top_db={top_db!r} must be a positive number")
    if not np.isfinite(ref) or ref <= 0:
        raise ConfigError(f"ref={ref!r} must be a positive number")
    stems = tf.convert_to_tensor(stems)
    stems = tf.cast(stems, tf.float32)
    if stems.shape.rank is None or stems.shape.rank < 2:
        raise ConfigError(f"stems must have shape (..., instruments, samples), not {stems.shape}")
    if gains is not None:
        stems = stems * tf.cast(gains, tf.float32)[..., tf.newaxis]
    level = rms(stems, frame_length=frame_length, hop_length=hop_length, center=center)[..., 0]
    return activations_from_rms(level, ref, top_db)


def activations_from_rms(level: Any, ref: float = 1.0, top_db: float = 60.0) -> tf.Tensor:
    """`activations`' map of a framed RMS `(..., frames)` to [0, 1]: ``20 log10(rms / ref)`` clipped to
    ``[-top_db, 0]``, shifted and scaled."""
    level = tf.convert_to_tensor(level, tf.float32)
    floor = float(ref) * 10.0 ** (-float(top_db) / 20.0)
    db = 20.0 * tf.math.log(tf.math.maximum(level, floor * 1e-3) / float(ref)) / np.log(10.0)
    return tf.clip_by_value(db / float(top_db) + 1.0, 0.0, 1.0)


def activations_to_db(a: Any, top_db: float = 60.0) -> tf.Tensor:
    """Inverse map of `activations`: [0, 1] -> dB re `ref` (0 -> -top_db)."""
    return (tf.cast(a, tf.float32) - 1.0) * float(top_db)
