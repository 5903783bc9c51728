"""Build, publishing and deployment helpers: requirements, S3 publishing, the local API over the built function."""
