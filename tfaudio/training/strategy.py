"""tf.distribute strategies by name (default, mirrored, multi_worker) and whether this process is the chief."""
from __future__ import annotations

import json
import os

from tfaudio.errors import ConfigError



def make_strategy(name: str):
    """tf.distribute strategy: "default" (one device), "mirrored" (all local GPUs) or
    "multi_worker" (MultiWorkerMirroredStrategy, configured by TF_CONFIG)."""
    import tensorflow as tf  # lazy: this module stays free of TensorFlow (light to import)

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError("train.strategy multi_worker needs TF_CONFIG (cluster and task) in the environment")
        return _multi_worker_strategy()
    return tf.distribute.get_strategy()


def _multi_worker_strategy():
    """MultiWorkerMirroredStrategy whose `reduce` takes what Keras 3's `fit` gives it in multi-worker
    mode (keras-team/keras#20585): a nested batch (before the first step) and scalar logs with `axis=0`.
    Each tensor is reduced on its own, scalars across replicas (axis None)."""
    import tensorflow as tf  # lazy: this module stays free of TensorFlow (light to import)

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis=None):
            def one(v):
                a = None if axis is not None and len(getattr(v, "shape", ())) == 0 else axis
                return super(MultiWorkerMirroredStrategy, self).reduce(reduce_op, v, a)

            return tf.nest.map_structure(one, value)

    return MultiWorkerMirroredStrategy()


def is_chief() -> bool:
    """Whether this process writes the run folder (single process, or the multi-worker chief)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task") or {}
    cluster = tf_config.get("cluster") or {}
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and task.get("index", 0) == 0 and "chief" not in cluster
