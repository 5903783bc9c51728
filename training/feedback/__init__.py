"""The loop from production back to training: read what the classifier captured (capture), choose what a person
should label first (review_queue), and turn reviewed listings into training rows (corrections).

May import: the bottom modules and its own modules; never model, engines, reporting or cli, and no mlflow, dask,
lightgbm or matplotlib (so `make review-queue` loads none of them).
"""
