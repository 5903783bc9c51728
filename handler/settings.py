"""Serving settings, read once from the environment (set in template.yaml) with the defaults below."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_MODEL = Path(__file__).resolve().parent / "model.onnx"


class Settings(BaseSettings):
    """Environment variables of the function; an explicit constructor argument beats the variable."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, protected_namespaces=())

    model_path: Path = Field(BUNDLED_MODEL, description="ONNX file bundled with the function (MODEL_PATH).")
    model_s3_uri: str | None = Field(None, description="s3://bucket/key of a published model; wins over MODEL_PATH.")
    model_sha256: str | None = Field(None, description="Expected sha256 of the S3 model; else its published metadata.")
    model_cache_dir: Path = Field(Path("/tmp"), description="Where an S3 model is downloaded to, once per container.")
    intra_op_threads: int = Field(1, ge=1, le=16, description="onnxruntime threads; Lambda gives 1 vCPU per 1,769 MB.")
    max_batch: int = Field(1000, ge=1, le=10_000, description="Most items one /predict/batch request may carry.")
    max_text_length: int = Field(2000, ge=1, description="Longest string accepted in any field.")
    max_top_k: int = Field(10, ge=1, description="Cap of the top_k query parameter.")
    low_confidence: float = Field(0.5, ge=0, le=1, description="Predictions below this confidence are counted.")
    inference_chunk: int = Field(64, ge=1, description="Rows per onnxruntime call; bounds padding and memory.")
