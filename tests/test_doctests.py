"""The examples in docstrings run: each is a literal test of a pure function."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["cumulus.compute._policy", "cumulus.compute._config", "cumulus.compute._setup",
           "cumulus.compute._launch", "cumulus.compute._quota", "cumulus.automl._metrics",
           "cumulus.automl._models", "cumulus.automl._ensemble", "cumulus.tasks.distributed",
           "cumulus.flows._kinds", "cumulus.flows._types", "cumulus.flows._schedule",
           "cumulus.flows._serve", "cumulus.flows._prepare", "cumulus.run",
           "cumulus.store.status", "cumulus.specs", "cumulus.sweeps._plan",
           "cumulus.flows._reuse"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name),
                             optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
