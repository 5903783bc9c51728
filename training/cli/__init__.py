"""The command lines: `make train` (train), `make check-data` (check_data), `make predict` (predict) and
their logging (logging_setup).

May import: any room. Each imports only what its path needs: check_data and predict load no mlflow,
lightgbm or matplotlib (nor distributed, unless predicting on Dask), and train loads Dask only with
ENGINE=dask.
"""
