"""What Lambda imports (template.yaml's `Handler`): `handler.main`, with the cyclic garbage collector paused.

A container's initialisation builds objects that live as long as the container (FastAPI's and pydantic's
validators, the onnxruntime session, the app), so the collections Python runs while they are built free next
to nothing and cost about 8 % of a cold start (measured on the built function). Once built, they are frozen out
of every later collection: left where they are, the first request's collection would scan them all instead.
"""

import gc

gc.disable()
try:
    from handler.main import lambda_handler
finally:
    gc.freeze()
    gc.enable()

__all__ = ["lambda_handler"]
