"""Where the model is fitted: `local` (this process) or `dask` (a cluster, stage by stage). Both return a
`FittedModel` (fitted), which `make train` then evaluates, exports, gates and records the same way.

May import: model, data, the bottom modules and its own modules; never reporting or cli.
"""
