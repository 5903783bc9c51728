"""What Lambda imports (template.yaml's `Handler`): `handler.main`, with the cyclic garbage collector paused.

A container's initialisation builds objects that live as long as the container (FastAPI's and pydantic's
validators, the onnxruntime session, the app), so the collections Python runs while they are built free next
to nothing: `make benchmark-cold-start` measures the start with and without the pause. With SnapStart this is
the initialisation that runs once per published version, before the snapshot; a restore imports nothing.
Once built, the objects are frozen out of every later collection: left in the young generation, the first
collection after the start (in the first request, restored or not) would scan them all instead.
"""

import gc

collecting = gc.isenabled()
gc.disable()
try:
    from handler.main import lambda_handler
finally:
    gc.freeze()
    if collecting:
        gc.enable()

__all__ = ["lambda_handler"]
