"""What every repository behind the store shares: its store, and the engine the outage retry
names in its error (see :mod:`cumulus.store._retry`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from cumulus.store._store import Store


class Repository:
    """Base of the store's repositories; subclasses add ``@retry_public_methods``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def engine(self) -> Engine:
        return self.store.engine


__all__ = ["Repository"]
