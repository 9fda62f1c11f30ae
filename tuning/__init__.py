"""KerasTuner hypermodels and searches built on tfaudio."""
