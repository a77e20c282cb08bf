"""The store boundary: no module outside ``cumulus.store`` opens a session or a transaction;
they call repositories (``store.models``, ``store.services``, ``store.sweep_states``,
``store.environments``, ...) that hand back plain records."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "cumulus"
OPENS = re.compile(r"\.(session|reading)\(\)")


def test_no_module_outside_the_store_opens_a_session() -> None:
    offenders = [f"{path.relative_to(SRC)}:{n}: {line.strip()}"
                 for path in sorted(SRC.rglob("*.py")) if "store" not in path.parts[-2:-1]
                 for n, line in enumerate(path.read_text().splitlines(), start=1)
                 if OPENS.search(line)]
    assert offenders == [], "\n".join(offenders)
