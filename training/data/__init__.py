"""The catalogue: where it is read from (sources), loading it (load), the one row cleaning (clean), the split
(split), the data-quality report (report), the synthetic catalogue (synthetic) and the data's digests (digest).

May import: the bottom modules (config, exceptions, columns, text) and its own modules; never model, engines,
reporting or cli, and no mlflow, dask, lightgbm, matplotlib or scikit-learn outside `split` (so
`make check-data` loads none of them).
"""
