"""Input and output: audio decoding and resampling, the audio file check, the one writer of outputs, plots.

Imports: errors, _checks only.
"""
