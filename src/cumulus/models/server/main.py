"""Process entry point: load the spec, serve with uvicorn, reload on SIGHUP.

A reload (``kill -HUP``) re-reads the spec: new key hashes or limits take effect at once; a new
model, entry script or source folder is imported and ``init()``-ed in a thread while the old
handler keeps answering, then swapped in between two requests, so an update fails no request.
If the new ``init()`` fails, the old handler stays and ``/health`` reports the error.

Example::

    python -m cumulus.models.server --spec /srv/svc/spec.json --fd 3
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import socket
import sys
from typing import Any

from .app import ScoringApp, ServiceState
from .handler import Spec, load_handler

log = logging.getLogger("cumulus.scoring")
EXIT_INIT_FAILED = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cumulus-scoring", description=__doc__.splitlines()[0])
    p.add_argument("--spec", required=True, help="service spec JSON written by the deployer")
    p.add_argument("--overlay", help="JSON merged over the spec (key hashes, revision)")
    p.add_argument("--fd", type=int, help="an inherited listening socket")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5001)
    p.add_argument("--log-level", default="info")
    return p.parse_args(argv)


class Reloader:
    """Loads the spec's handler at start and again on every SIGHUP (coalesced)."""

    def __init__(self, state: ServiceState, args: argparse.Namespace, server: Any) -> None:
        self.state, self.args, self.server = state, args, server
        self.running = False
        self.pending = False

    def request(self) -> None:
        self.pending = True
        if not self.running:
            self.running = True
            asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        try:
            while self.pending:
                self.pending = False
                await self._reload_once()
        finally:
            self.running = False

    async def _reload_once(self) -> None:
        state = self.state
        try:
            spec = Spec.load(self.args.spec, self.args.overlay)
        except Exception as exc:
            return self._failed(None, f"the spec cannot be read: {exc}")
        current = state.handler
        if current is not None and current.identity == spec.code_identity:
            handler = dataclasses.replace(current, revision=spec.revision)
        else:
            loop = asyncio.get_running_loop()
            try:
                handler = await loop.run_in_executor(None, load_handler, spec, current)
            except Exception as exc:
                return self._failed(spec.revision, str(exc), exc)
        state.install(spec, handler)
        state.last_reload = {"revision": spec.revision, "ok": True, "error": None}
        log.info("revision %d is serving (%s)", spec.revision,
                 "first load" if current is None else "reloaded")

    def _failed(self, revision: int | None, message: str,
                exc: BaseException | None = None) -> None:
        state = self.state
        log.error("loading revision %s failed: %s", revision, message,
                  exc_info=exc.__cause__ or exc if exc else None)
        state.last_reload = {"revision": revision, "ok": False, "error": message}
        if state.handler is None:  # nothing to serve: stop, the deployer reports the log
            state.failed = message
            self.server.should_exit = True


def _listen(args: argparse.Namespace) -> socket.socket:
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)  # family, type and proto read from the fd
    else:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so, and without
        # it a response's head and body wait ~40 ms for a delayed ACK (Nagle)
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(2048)
    sock.setblocking(False)
    return sock


async def _serve(args: argparse.Namespace, state: ServiceState) -> int:
    import uvicorn

    config = uvicorn.Config(ScoringApp(state), log_config=None, access_log=False,
                            lifespan="off", log_level=args.log_level,
                            timeout_graceful_shutdown=int(state.limits.scoring_timeout or 30) + 5)
    server = uvicorn.Server(config)
    reloader = Reloader(state, args, server)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, reloader.request)
    sock = _listen(args)
    host, port = sock.getsockname()[:2]
    log.info("service %r listening on http://%s:%d (pid %d)", state.spec.service, host, port,
             os.getpid())
    reloader.request()
    await server.serve(sockets=[sock])
    state.pool.shutdown(wait=False, cancel_futures=True)
    return EXIT_INIT_FAILED if state.failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        spec = Spec.load(args.spec, args.overlay)
        state = ServiceState(spec)
    except Exception as exc:
        log.error("cannot start: the spec %s is invalid: %s", args.spec, exc)
        return 2
    try:
        return asyncio.run(_serve(args, state))
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 2
