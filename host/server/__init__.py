"""The HTTP server: Golem's REST shapes over the agent service (FastAPI + uvicorn)."""

from host.server.app import create_app

__all__ = ["create_app"]
