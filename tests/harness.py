"""Shared assertions for layers and in-graph functions (in the spirit of keras-hub's test_case.py).

- `assert_config_round_trip(layer, x=None)`: from_config(get_config()) gives an equal
  config (and, given `x`, the same outputs); keras' (de)serialization too.
- `assert_saved_model_equal(model_or_layer, x, tmp_path)`: `.keras` save, then
  `keras.models.load_model(..., safe_mode=True)` gives identical outputs; no Lambda
  layers anywhere.
- `assert_dataset_map_equal(fn_or_layer, x)`: a direct call on the batch `x`,
  `Dataset.from_tensor_slices(x).map(fn)` (unbatched) and `.batch(n).map(fn)` give
  the same numbers.
- `assert_mixed_precision_close(make_layer, x)`: under ``mixed_float16`` the layer
  returns float16 close to its float32 result.
- `relative_error`, `assert_relative_close`, `db_error`: agreement numbers.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import keras
import numpy as np
import tensorflow as tf


def to_numpy(x: Any) -> Any:
    """Tensors (and nested lists/tuples/dicts of them) as numpy arrays."""
    return keras.tree.map_structure(lambda t: np.asarray(t.numpy() if hasattr(t, "numpy") else t), x)


def relative_error(actual: Any, desired: Any) -> float:
    """Frobenius ||actual - desired|| / ||desired|| (0 when both are 0)."""
    a = np.asarray(to_numpy(actual), np.float64)
    d = np.asarray(to_numpy(desired), np.float64)
    if a.shape != d.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {d.shape}")
    num, den = np.linalg.norm(a - d), np.linalg.norm(d)
    if den == 0:
        return float(num)
    return float(num / den)


def assert_relative_close(actual: Any, desired: Any, rtol: float, what: str = "") -> float:
    """Frobenius relative error <= rtol; returns it."""
    err = relative_error(actual, desired)
    assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol:g}"
    return err


def db_error(actual_db: Any, desired_db: Any, floor_db: float | None = None) -> tuple[float, float]:
    """(mean, max) |difference| in dB where `desired_db` is above `floor_db` (all values if None)."""
    a = np.asarray(to_numpy(actual_db), np.float64)
    d = np.asarray(to_numpy(desired_db), np.float64)
    if a.shape != d.shape:
        raise AssertionError(f"shapes differ: {a.shape} vs {d.shape}")
    mask = np.ones(d.shape, bool) if floor_db is None else d > floor_db
    if not mask.any():
        return 0.0, 0.0
    diff = np.abs(a - d)[mask]
    return float(diff.mean()), float(diff.max())


def _assert_same(actual: Any, desired: Any, rtol: float, atol: float, what: str) -> None:
    actual, desired = to_numpy(actual), to_numpy(desired)
    keras.tree.assert_same_structure(actual, desired)
    for a, d in zip(keras.tree.flatten(actual), keras.tree.flatten(desired)):
        assert a.shape == d.shape, f"{what}: shape {a.shape} != {d.shape}"
        if rtol == 0 and atol == 0:
            np.testing.assert_array_equal(a, d, err_msg=what)
        else:
            np.testing.assert_allclose(a, d, rtol=rtol, atol=atol, err_msg=what)


def _call(fn: Any, x: Any) -> Any:
    return fn(x, training=False) if isinstance(fn, keras.Model) else fn(x)


def assert_config_round_trip(layer: keras.layers.Layer, x: Any = None, rtol: float = 0.0,
                             atol: float = 0.0) -> keras.layers.Layer:
    """`type(layer).from_config(layer.get_config())` has an equal config (and equal outputs on `x`)."""
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config, f"config changed:\n{config}\n{clone.get_config()}"
    serialized = keras.saving.serialize_keras_object(layer)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(layer), f"deserialized {type(revived).__name__}, not {type(layer).__name__}"
    assert revived.get_config() == config, "keras (de)serialization changed the config"
    if x is not None:
        _assert_same(_call(clone, x), _call(layer, x), rtol, atol, "from_config outputs")
    return clone


def _layers(model: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    yield model
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        yield from flatten(include_self=False, recursive=True)
    else:  # pragma: no cover - older Keras
        for sub in getattr(model, "layers", []):
            yield from _layers(sub)


def assert_no_lambda_layers(model: keras.layers.Layer) -> None:
    for layer in _layers(model):
        assert not isinstance(layer, keras.layers.Lambda), f"Lambda layer {layer.name!r} in {model.name!r}"


def as_model(layer: keras.layers.Layer, x: Any) -> keras.Model:
    """A functional model `Input(x.shape[1:]) -> layer`."""
    x = np.asarray(to_numpy(x))
    inputs = keras.Input(shape=x.shape[1:], dtype=str(x.dtype) if x.dtype != np.float64 else "float32")
    return keras.Model(inputs, layer(inputs), name=f"{layer.name}_model")


def assert_saved_model_equal(model: keras.layers.Layer, x: Any, tmp_path: str | Path, rtol: float = 0.0,
                             atol: float = 0.0) -> keras.Model:
    """Save as `.keras`, load with safe_mode=True: identical outputs on `x`; no Lambda layers.

    A bare layer is wrapped in a functional model first. Returns the loaded model.
    """
    if not isinstance(model, keras.Model):
        model = as_model(model, x)
    assert_no_lambda_layers(model)
    path = Path(tmp_path) / f"{model.name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert_no_lambda_layers(loaded)
    _assert_same(_call(loaded, x), _call(model, x), rtol, atol, "outputs after .keras save and load")
    return loaded


def assert_dataset_map_equal(fn: Callable[[Any], Any], x: Any, batch_size: int = 2, rtol: float = 1e-5,
                             atol: float | None = None) -> Any:
    """fn(x) == Dataset.from_tensor_slices(x).map(fn) (stacked) == .batch(batch_size).map(fn) (concatenated).

    `x` is a batch, `(n, ...)`. `atol` defaults to 1e-6 of the largest |output|.
    Returns the direct output as numpy.
    """
    x = np.asarray(to_numpy(x))
    direct = to_numpy(_call(fn, tf.constant(x)))
    if atol is None:
        atol = 1e-6 * max(1.0, float(np.max(np.abs(direct[np.isfinite(direct)]), initial=0.0)))
    ds = tf.data.Dataset.from_tensor_slices(x)
    unbatched = [to_numpy(e) for e in ds.map(lambda e: _call(fn, e))]
    assert len(unbatched) == len(x)
    _assert_same(np.stack(unbatched), direct, rtol, atol, "unbatched Dataset.map")
    batched = [to_numpy(e) for e in ds.batch(batch_size).map(lambda e: _call(fn, e))]
    _assert_same(np.concatenate(batched), direct, rtol, atol, "batched Dataset.map")
    return direct


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Temporarily set the global Keras dtype policy."""
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)


def assert_mixed_precision_close(make_layer: Callable[[], keras.layers.Layer], x: Any, rtol: float = 1e-2,
                                 atol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A layer made under ``mixed_float16`` outputs float16, close to the same layer made under float32.

    Both run inside functional models. Returns (float16 output, float32 output).
    """
    with dtype_policy("mixed_float16"):
        layer16 = make_layer()
        model16 = as_model(layer16, x)
        assert layer16.compute_dtype == "float16", layer16.compute_dtype
    out16 = to_numpy(model16(tf.constant(x)))
    out32 = to_numpy(as_model(make_layer(), x)(tf.constant(x)))
    assert out16.dtype == np.float16, f"mixed_float16 output is {out16.dtype}"
    assert out32.dtype == np.float32, f"float32 output is {out32.dtype}"
    assert np.all(np.isfinite(out16) == np.isfinite(out32)), "mixed precision changed which values are finite"
    np.testing.assert_allclose(out16.astype(np.float32), out32, rtol=rtol, atol=atol,
                               err_msg="mixed_float16 vs float32")
    return out16, out32
