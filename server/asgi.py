"""ASGI entry point for uvicorn/granian: ``server.asgi:app``."""

from server.app import create_app

app = create_app()
