"""The model: feature transformers (features) and their ONNX converters (onnx_ops), the pipeline (pipeline), its
out-of-fold stacking (stacking) and classifiers (margin, reranker, title_tree, calibration), the export to one ONNX
graph (export, path_graph), the contract with serving embedded in it (metadata), and the parity gate with the
golden examples (parity). Only the export's modules (export, onnx_ops, path_graph) and the parity gate import the
ONNX libraries: a fitted pipeline loads without them.

May import: the bottom modules (config, exceptions, columns, text) and its own modules; never data,
engines, reporting or cli, and no mlflow, dask, distributed or matplotlib.
"""
