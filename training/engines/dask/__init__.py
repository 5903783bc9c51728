"""The Dask engine (`ENGINE=dask`), a module per stage: the catalogue's partitions (catalogue), 1 read/split
(prepare), 2 linear sample fits (title_models), 3 featurize (featurize, with the FEATURES folder in
features_dir), 4 LightGBM (boosting), 5 evaluation and the stages in order (train); the cluster (cluster).

May import: model, data, the bottom modules and the engines' own modules. `cluster` imports distributed only
when a client is opened, so `make predict` can use it without loading the training engine.
"""
