"""The Lambda function: serves the exported ONNX model with onnxruntime behind FastAPI and Mangum."""
