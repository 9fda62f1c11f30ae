"""Deployment: the saved forms of a model (SavedModel, TFLite, ONNX, .keras), written and read.

Reading is apart from writing: `loading` (`open_model`, `LoadedModel`) opens any form through `runners`
(the three exported forms) and `metadata` (what travels inside each), and never imports a writer.
Writing: `export` (the entry), `savedmodel`, `tflite`, `onnx`, sharing `writing`; `package` makes a run a
shipped pretrained model; `trust` vets a SavedModel before it is loaded.

Imports: everything below it (spec, io, features, data, models, inference); nothing above (evaluation,
training, cli).

    path = export_saved_model(model, spec, "exported/neuroment")
    path = export_tflite(model, spec, "neuroment.tflite", quantize="float16")
    path = export_onnx(model, spec, "neuroment.onnx")
    tfaudio export RUN --format {savedmodel,tflite,onnx,keras} --out PATH [--quantize none|float16|dynamic|int8]

**SavedModel** signatures (both compute the features in the graph and run `tfaudio.inference`'s sliding
windows with overlap-add or clip aggregation, so they give `tfaudio predict`'s numbers):

* ``serving_default(waveform: float32 [batch, samples])`` — mono audio at the model's rate
  (`metadata.json`'s "sr"); any length ≥ 1, all rows of a batch equally long.
* ``serve_wav(wav: string [batch])`` — WAV file bytes (PCM 8/16/24/32-bit or float), decoded with
  `tfaudio.io.audio.decode_wav`, downmixed (channel mean) and resampled to the model's rate in the graph.
  Items may differ in length and rate: each is processed on its own (`tf.map_fn`) and activations are
  zero-padded to the longest item; "n_frames" gives each item's frame count.

Outputs: activation models {"activations": float32 (batch, instruments, frames), "frame_times": float32
(frames,) seconds} (+ "n_frames" int32 (batch,) for serve_wav); clip models {"scores": float32 (batch,
classes) (mean of window probabilities), "label": string (batch,) (the top class)}. The restored object
also has ``windows(window: float32 [batch, window])``: the model's outputs per window (no stitching).

Assets: `assets/classes.txt` (one class per line; the "label" output looks the same names up in a table of
constants) and `assets/metadata.json` (see `metadata`). The graph runs no file, network or Python op: what
`tfaudio.deploy.trust` allows before any SavedModel is loaded.

**TFLite and ONNX** models take one window, ``window: float32 [1, window]`` at the model's rate, and give
that window's ``activations`` `(1, instruments, frames)` or ``scores`` `(1, classes)`: the host slides the
windows and stitches them (`tfaudio.inference.Stream` and `predict_file` do; the rule is in the
metadata's "aggregation"). The features are computed inside: TFLite with builtin ops only (RFFT2D, REAL,
IMAG, ...; when the converter needs select TF ops, the metadata says so in "select_tf_ops" and the model
runs only with TensorFlow's own interpreter); ONNX with the |STFT| as tf2onnx converts it (a DFT matrix
product), squared for mel power. Where a front end does not convert (CQT to ONNX), the network alone is
exported: input ``features`` `(1, frames, bins)` and "front_end": "outside" in the metadata.

**Metadata** travels inside every form: `assets/metadata.json` (SavedModel), a "tfaudio" metadata buffer
(TFLite), a "tfaudio" metadata_props entry (ONNX), a `tfaudio.json` entry of the zip (.keras). Each is the
JSON of `metadata`: classes, sample rate, window, hop, features, task, thresholds, tfaudio version, the
run spec, the training data summary and the resolved experiment config. `read_metadata(path)` reads it
from any of them; `tfaudio info MODEL` prints it.

Every file goes through `tfaudio.io.outputs` (temporary name, rename); a SavedModel is built in a temporary
sibling folder and renamed into place, so a failed export leaves nothing half-written. An existing output
is replaced only when it is an export of the same format (else refused).
"""
