"""The scoring server: a FastAPI + uvicorn app around an entry script's ``init()``/``run()``.

This subpackage is self-contained (standard library, FastAPI and uvicorn only, relative imports)
so that image builds copy it into a container as the package ``cumulus_scoring``. It runs as::

    python -m cumulus.models.server --spec SPEC.json [--fd N | --host H --port P]

HTTP API: ``POST /score`` (key auth), ``GET /health``, ``GET /swagger.json`` (OpenAPI).
"""
