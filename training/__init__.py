"""Offline training: load a catalogue, fit the feature pipeline and LightGBM, export one ONNX graph."""
