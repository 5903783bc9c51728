"""What a run records about its model: test metrics (evaluate), plots (plots), the model card (model_card),
the MLflow run and registration (tracking), and the files of the output folder (artifacts).

May import: model, data, the bottom modules and its own modules; never engines or cli.
"""
