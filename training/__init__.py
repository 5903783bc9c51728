"""Offline training: load a catalogue, fit the feature pipeline and LightGBM, export one ONNX graph.

Rooms, top to bottom; a module imports its own room and rooms below it, never a room beside it
(tests/training/test_layout.py holds this):

    cli/        the command lines: make train, make check-data, make predict
    engines/    where the model is fitted: local (this process) or dask (a cluster)
    reporting/  what a run records: metrics, plots, model card, MLflow, the output folder
    model/      the pipeline and its one ONNX graph: features, converters, export, metadata, parity
    data/       the catalogue: sources, load, clean, split, report, synthetic data, digests
    config.py, exceptions.py, columns.py, text.py, environment.py   the bottom, shared by every room

engines and reporting sit side by side, as do model and data. The handler never imports this package: the
`.onnx` file and the metadata embedded in it are the only contract with serving.
"""
