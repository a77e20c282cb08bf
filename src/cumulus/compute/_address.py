"""Backend ``address``: an existing Dask scheduler whose scaling someone else owns.

Cumulus installs its scheduler plugin there (run placement, lost-run recording; it needs
``cumulus-ml`` importable by the scheduler, as the workers need it to run runs) and never
starts or stops nodes. ``min_nodes``/``max_nodes`` are not applied.

Example::

    cfg = ClusterConfig(backend="address", address="tcp://10.0.0.5:8786")
    ComputeTarget.create(ws, "shared", cfg)
"""

from __future__ import annotations

import os
import threading
from typing import Any

from cumulus.compute._base import ComputeBackend
from cumulus.compute._client import drop_client, get_client, remember_target
from cumulus.compute._resources import check_fits
from cumulus.compute._status import ClusterStatus
from cumulus.errors import ComputeError, ResourceUnavailableError

_registered: set[tuple[int, str]] = set()
_lock = threading.Lock()


class AddressBackend(ComputeBackend):
    """Attach to the scheduler at ``config.address``."""

    manages_scaling = False

    @property
    def address(self) -> str:
        return str(self.config.address)

    def _timeout(self) -> float:
        return float(self.config.options.get("timeout", 10))

    def _security(self) -> Any:
        """For a ``tls://`` scheduler: ``options['tls']`` names the CA, certificate and key
        files (paths; the files stay where the cluster's owner put them)."""
        tls = self.config.options.get("tls")
        if not tls:
            return None
        from distributed.security import Security

        return Security(tls_ca_file=tls["ca"], tls_client_cert=tls["cert"],
                        tls_client_key=tls["key"], require_encryption=True)

    def client(self) -> Any:
        try:
            client = get_client(self.address, timeout=self._timeout(),
                                security=self._security())
        except (OSError, TimeoutError) as exc:
            drop_client(self.address)
            raise ComputeError(
                f"Cannot reach the Dask scheduler of compute target {self.name!r} at "
                f"{self.address}: {exc}. Check that it is running and reachable, or update "
                "the target's address.") from exc
        self._install_plugin(client)
        remember_target(self.ws.store_url, self.name, self.address)
        return client

    def _install_plugin(self, client: Any) -> None:
        from cumulus.compute._plugin import CumulusPlugin

        key = (os.getpid(), self.address)
        with _lock:
            if key in _registered:
                return
            try:
                client.register_plugin(CumulusPlugin(idle_seconds=None))
            except Exception as exc:
                raise ComputeError(
                    f"Cannot install the cumulus scheduler plugin on {self.address}: "
                    f"{type(exc).__name__}: {exc}. Install cumulus-ml where the scheduler "
                    "runs (its workers need it too).") from exc
            _registered.add(key)

    def start(self) -> None:
        """Nothing to provision: the cluster exists already."""

    def ensure_running(self) -> str:
        self.client()
        return self.address

    def node_shape(self, client: Any) -> dict[str, float] | None:
        return self._smallest_worker(client)

    @staticmethod
    def _smallest_worker(client: Any) -> dict[str, float] | None:
        """The smallest worker's shape: a node task asks for all of it, so no two node tasks
        of a run share a worker (on a uniform cluster: one per worker)."""
        workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
        shapes = [{"cpus": float(w.get("nthreads", 1)), **(w.get("resources") or {})}
                  for w in workers]
        return min(shapes, key=lambda s: s["cpus"]) if shapes else None

    def node_resources(self) -> dict[str, float] | None:
        return None     # nodes come and go as their owner scales them

    def check_request(self, request: dict[str, float], distribution: Any = None) -> None:
        """Refuse a request that none of the scheduler's current workers could hold."""
        client = self.client()
        workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
        shapes = [{"cpus": float(w.get("nthreads", 1)), **(w.get("resources") or {})}
                  for w in workers]
        if not shapes:
            return
        errors: list[str] = []
        for shape in shapes:
            try:
                check_fits(self.name, shape, request)
                return
            except ResourceUnavailableError as exc:
                errors.append(str(exc))
        raise ResourceUnavailableError(
            f"No worker of the scheduler at {self.address} can run this request "
            f"{request}: {errors[0]}")

    def status(self) -> ClusterStatus:
        from cumulus.compute._policy import node_state_counts, view_from_dict

        base: dict[str, Any] = {"name": self.name, "backend": "address", "address": self.address,
                "scale_settings": {"owned_by": "the scheduler's owner"}}
        try:
            client = self.client()
            raw = client.sync(client.scheduler.cumulus_view)
        except Exception as exc:
            return ClusterStatus(provisioning_state="Unreachable", errors=[str(exc)], **base)
        view = view_from_dict(raw)
        counts = node_state_counts(view)
        return ClusterStatus(provisioning_state="Succeeded", current_node_count=len(view.nodes),
                             target_node_count=len(view.nodes), allocation_state="Steady",
                             node_state_counts=counts, queued_runs=len(view.pending),
                             running_runs=int(raw.get("running_runs", 0)), **base)

    def stop(self) -> None:
        """Detach only: the scheduler and its workers belong to someone else."""
        drop_client(self.address)
        with _lock:
            _registered.discard((os.getpid(), self.address))
