"""Numeric precision: which Keras policy to train and predict with on this machine.

bfloat16 pays off on CPUs with AMX or AVX512-BF16 (oneDNN runs bf16 matmuls and convolutions on them),
and on GPUs float16. `cpu_has_bf16` reads the CPU's flags as the kernel reports them (Linux), and needs
oneDNN to be on (TensorFlow's default on x86; `TF_ENABLE_ONEDNN_OPTS=0` turns it off).
"""
from __future__ import annotations

import functools
import os

BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 natively (AMX or AVX512-BF16) and oneDNN is on."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip() in ("0", "false", "False"):
        return False
    return any(f in cpu_flags() for f in BF16_FLAGS)


def resolve(name: str) -> str:
    """A precision setting as a Keras policy name: "auto" is mixed_float16 on a GPU, mixed_bfloat16 on a
    CPU with native bfloat16, else float32; anything else is returned as it is."""
    if name != "auto":
        return name
    import tensorflow as tf  # lazy: this module stays free of TensorFlow (light to import)

    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bf16() else "float32"


def policy_of(model) -> str:
    """The compute policy of a Keras model's layers ("mixed" when they differ)."""
    names = {layer.dtype_policy.name for layer in model.layers
             if layer.__class__.__name__ != "InputLayer" and layer.name != "float32_output"}
    return names.pop() if len(names) == 1 else "mixed"


def with_policy(model, policy: str):
    """`model` computing under Keras dtype policy `policy` ("auto" resolved): a clone with the same
    weights (float32 variables), or `model` itself when it already does. Outputs are cast to float32."""
    import keras  # lazy: this module stays free of TensorFlow (light to import)

    policy = resolve(policy)
    if policy_of(model) == policy:
        return model

    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": policy})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    if copy.output.dtype != "float32":
        out = keras.layers.Activation("linear", dtype="float32", name="float32_output")(copy.output)
        copy = keras.Model(copy.inputs, out, name=model.name)
    return copy
