"""The management REST API under /api/v1 (FastAPI), used by the CLI and the web UI."""
