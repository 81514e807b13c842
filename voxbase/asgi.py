"""ASGI entry point for uvicorn and other servers: `voxbase.asgi:app`."""

from voxbase.app import create_app

app = create_app()
