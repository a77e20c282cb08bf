"""Cumulus studio: a REST API (``/api/v1``, OpenAPI at ``/api/v1/openapi.json``) and a web app
over a workspace's store, served by one process (``cumulus ui``).

Example::

    from cumulus.ui import create_app
    app = create_app(ws)          # a FastAPI app; `cumulus ui` serves it with uvicorn
"""

from __future__ import annotations

from cumulus.ui._api import create_app

__all__ = ["create_app"]
