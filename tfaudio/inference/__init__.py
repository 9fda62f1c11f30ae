"""Inference on audio of any length: sliding windows, overlap-add (activations) or aggregation (clips).

One plan, shared by `tfaudio predict` (in memory, streamed from a file, or live from stdin) and by the
exported SavedModel (`tfaudio.deploy.export`), so all give the same numbers. The modules, by concern:

* `plan`: the window plan (`WindowPlan`, `window_plan`), cutting (`plan_windows`, `WindowCutter`) and
  overlap-add (`ola_weights`, `overlap_add`); its doc states the plan.
* `predict`: model checks, the graph core (`predict_waveform_graph`), `Predictor`, `Prediction`, `predict_audio`.
* `stream`: `Stream` (chunks in, final rows out), raw PCM in / CSV out (`stream_pcm`).
* `files`: `predict_file` (a file of any length, rate and channel count, streamed in blocks).
* `writers`: `write_prediction` (`.npy` + `.csv`, or `.json`; `.png`).

The streaming resampler is `tfaudio.io.resample.StreamResampler`.
"""
from tfaudio.inference.files import DEFAULT_BLOCK_SECONDS, predict_file
from tfaudio.inference.plan import WindowCutter, WindowPlan, ola_weights, overlap_add, plan_windows, window_plan
from tfaudio.inference.predict import (DEFAULT_BATCH_WINDOWS, Prediction, Predictor, check_model, input_kind,
                                       model_inputs, predict_audio, predict_waveform_graph, predict_windows_graph,
                                       predictor)
from tfaudio.inference.stream import SAMPLE_FORMATS, Stream, StreamOutput, decode_pcm, stream_pcm
from tfaudio.inference.writers import prediction_files, write_prediction

__all__ = ["WindowPlan", "window_plan", "ola_weights", "plan_windows", "overlap_add", "WindowCutter",
           "check_model", "input_kind", "model_inputs", "predict_windows_graph", "predict_waveform_graph",
           "Predictor", "predictor", "Prediction", "predict_audio", "DEFAULT_BATCH_WINDOWS",
           "predict_file", "DEFAULT_BLOCK_SECONDS", "prediction_files", "write_prediction",
           "Stream", "StreamOutput", "SAMPLE_FORMATS", "decode_pcm", "stream_pcm"]
