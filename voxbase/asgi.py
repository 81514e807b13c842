"""ASGI entry point for uvicorn and other servers: `voxbase.asgi:app`.

The OpenAPI document is built here, before the server takes a request: building it takes
seconds of CPU (FastAPI walks every route's models) on the event loop, so the first request
that needed it (`GET /openapi.json`, `/docs`, or any 405, whose `Allow` comes from it) used to
stall every other request of the process meanwhile.
"""

from voxbase.app import create_app

app = create_app()
app.openapi()
