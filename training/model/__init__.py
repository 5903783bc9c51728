"""The model: feature transformers (features) and their ONNX converters (onnx_ops), the pipeline (pipeline)
and its out-of-fold stacking (stacking), the export to one ONNX graph (export), the metadata embedded in it,
the contract with serving (metadata), and the parity gate with the golden examples (parity).

May import: the bottom modules (config, exceptions, columns, text) and its own modules; never data,
engines, reporting or cli, and no mlflow, dask, distributed or matplotlib.
"""
