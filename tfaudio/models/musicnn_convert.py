"""Convert the TF1 checkpoints of the `musicnn` wheel into the weights `tfaudio.models.musicnn` ships.

    pip download musicnn==0.1.0 --no-deps -d /tmp/musicnn
    python -m tfaudio.models.musicnn_convert /tmp/musicnn/musicnn-0.1.0-py3-none-any.whl   # -> models/weights/

The wheel pins numpy < 1.17, so it is downloaded, never installed, and its code is never imported: the
checkpoints are read with TensorFlow's checkpoint reader. Optimizer slots are dropped; weights stay float32.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from tfaudio.io import outputs
from tfaudio.errors import TfaudioError
from tfaudio.models.musicnn import TAGS, WEIGHTS_DIR

log = logging.getLogger(__name__)

# TF1 variable scope -> Keras layer, in the order musicnn's `models.py` creates them.
_MUSICNN_LAYERS = {
    "batch_normalization": "input_bn",
    "conv2d": "timbral_74_conv", "batch_normalization_1": "timbral_74_bn",
    "conv2d_1": "timbral_77_conv", "batch_normalization_2": "timbral_77_bn",
    "conv2d_2": "temporal_128_conv", "batch_normalization_3": "temporal_128_bn",
    "conv2d_3": "temporal_64_conv", "batch_normalization_4": "temporal_64_bn",
    "conv2d_4": "temporal_32_conv", "batch_normalization_5": "temporal_32_bn",
    "conv2d_5": "midend1_conv", "batch_normalization_6": "cnn1",
    "conv2d_6": "midend2_conv", "batch_normalization_7": "midend2_bn",
    "conv2d_7": "midend3_conv", "batch_normalization_8": "midend3_bn",
    "batch_normalization_9": "pool_bn", "dense": "penultimate_dense", "batch_normalization_10": "penultimate",
    "dense_1": "logits",
}
_VGG_LAYERS = {"batch_normalization": "input_bn", "dense": "logits",
               **{f"{i}CNN": f"conv{i}" for i in range(1, 6)},
               **{f"batch_normalization_{i}": f"bn{i}" for i in range(1, 6)}}
_KERAS_ORDER = {"kernel": 0, "bias": 1, "gamma": 0, "beta": 1, "moving_mean": 2, "moving_variance": 3}


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """{TF1 variable name: float32 array} of a musicnn checkpoint, optimizer slots and counters dropped."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(str(prefix))
    return {k: reader.get_tensor(k).astype(np.float32) for k in reader.get_variable_to_shape_map()
            if "/Adam" not in k and not k.startswith("beta") and not k.startswith("global_step")}


def convert(variables: dict[str, np.ndarray], architecture: str) -> dict[str, np.ndarray]:
    """TF1 variables -> {"layer/i": array} in Keras's weight order (the mid-end's 2-D kernels as 1-D)."""
    table = _MUSICNN_LAYERS if architecture == "musicnn" else _VGG_LAYERS
    out = {}
    for key, value in variables.items():
        scope, var = key.rsplit("/", 1)
        layer = table[scope]
        if layer.startswith("midend") and var == "kernel":
            value = value[:, :, 0, :]  # [7, width, 1, filters] over a 1-channel image = Conv1D [7, width, filters]
        out[f"{layer}/{_KERAS_ORDER[var]}"] = value
    if len(out) != len(variables) or len({k.split("/")[0] for k in out}) != len(table):
        raise TfaudioError(f"the checkpoint's variables do not map one-to-one onto {architecture}'s layers")
    return out


def checkpoint_prefix(root: Path, name: str) -> str:
    """The checkpoint prefix of `name` in an unpacked musicnn wheel or package folder (files `.index`, ...):
    the folder itself, as the checkpoint's files have empty stems."""
    for folder in (root / "musicnn" / name, root / name):
        if (folder / ".index").is_file():
            return f"{folder}/"
    raise TfaudioError(f"{root}: no musicnn checkpoint {name!r} (expected musicnn/{name}/.index)")


def write_weights(source: str | Path, out: str | Path = WEIGHTS_DIR, names: Sequence[str] = tuple(TAGS)) -> list[Path]:
    """Convert the checkpoints `names` of a musicnn wheel (or its unpacked folder) into `out/NAME.npz`
    (float32, compressed), and write the wheel's licence notice beside them as `LICENSE.musicnn`."""
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        root = source
        if source.is_file():
            with zipfile.ZipFile(source) as wheel:
                wheel.extractall(tmp, [m for m in wheel.namelist() if m.endswith("LICENSE.md") or
                                       (m.startswith("musicnn/") and m.split("/")[1] in names)])
            root = Path(tmp)
        for name in names:
            architecture = "vgg" if name.endswith("_vgg") else "musicnn"
            weights = convert(read_checkpoint(checkpoint_prefix(root, name)), architecture)
            written.append(outputs.atomic_write(out / f"{name}.npz", lambda p, w=weights: np.savez_compressed(p, **w),
                                                suffix=".npz"))
            log.info("wrote %s (%d arrays, %.1f MB)", written[-1], len(weights), written[-1].stat().st_size / 2**20)
        notice = sorted(root.glob("*.dist-info/LICENSE.md")) + sorted(root.glob("LICENSE*"))
        if notice:
            written.append(outputs.write_bytes(out / "LICENSE.musicnn", notice[0].read_bytes()))
        else:
            log.warning("%s: no LICENSE.md found: keep musicnn's ISC notice beside the weights", source)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfaudio.models.musicnn_convert",
                                     description="Convert the musicnn wheel's TF1 checkpoints to tfaudio's weights. "
                                                 "Get the wheel with `pip download musicnn==0.1.0 --no-deps`.")
    parser.add_argument("source", help="musicnn-0.1.0-py3-none-any.whl, or a folder holding musicnn/NAME/.index")
    parser.add_argument("--out", default=str(WEIGHTS_DIR), help="folder for NAME.npz (default: the package's)")
    parser.add_argument("--name", action="append", choices=list(TAGS), help="checkpoint(s) (default: all four)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_weights(args.source, args.out, args.name or tuple(TAGS))
    return 0



if __name__ == "__main__":
    raise SystemExit(main())
