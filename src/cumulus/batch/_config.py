"""ParallelRunConfig: how a batch-scoring job splits its input and calls the entry script."""

from __future__ import annotations

import ast
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cumulus.errors import ValidationError

OUTPUT_ACTIONS = ("append_row", "summary_only")


def parse_mini_batch_size(value: Any) -> tuple[str, int]:
    """``("files", n)`` for a count (``10``, ``"10"``) or ``("bytes", n)`` for a size
    (``"1MB"``, ``"512KB"``)."""
    from dask.utils import parse_bytes

    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return "files", value
    text = str(value).strip()
    if text.isdigit() and int(text) > 0:
        return "files", int(text)
    try:
        size = int(parse_bytes(text))
    except (ValueError, TypeError):
        size = 0
    if size <= 0:
        raise ValidationError(f"mini_batch_size {value!r} is neither a number of files (e.g. "
                              "'10') nor a size (e.g. '1MB').")
    return "bytes", size


@dataclass
class ParallelRunConfig:
    """A batch-scoring job: ``entry_script`` defines ``init()`` (once per process) and
    ``run(mini_batch)`` (a list of local file paths; returns a list or a DataFrame, one row
    per input).

    Example::

        prc = ParallelRunConfig(entry_script="batch_score.py", source_directory="src",
                                mini_batch_size="10", error_threshold=5, node_count=2)
        prun = exp.submit(prc, inputs=ds.path("images"), output=ds.path("scores"))
    """

    entry_script: str
    source_directory: str | os.PathLike[str] = "."
    mini_batch_size: str | int = "10"
    error_threshold: int = -1
    output_action: str = "append_row"
    append_row_file_name: str = "parallel_run_step.txt"
    node_count: int = 1
    process_count_per_node: int = 1
    run_invocation_timeout: float = 60
    run_max_try: int = 3
    environment: Any = None
    compute_target: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    #: ``exp.submit(config, priority=N)`` orders waiting runs (higher first)
    accepts_priority: ClassVar[bool] = True

    def __post_init__(self) -> None:
        parse_mini_batch_size(self.mini_batch_size)
        if self.output_action not in OUTPUT_ACTIONS:
            raise ValidationError(f"output_action {self.output_action!r} is not one of "
                                  f"{', '.join(OUTPUT_ACTIONS)}.")
        for name in ("node_count", "process_count_per_node", "run_max_try"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(f"{name} must be an int >= 1, got {value!r}.")
        if isinstance(self.error_threshold, bool) or not isinstance(self.error_threshold, int) \
                or self.error_threshold < -1:
            raise ValidationError(f"error_threshold must be -1 (no limit) or an int >= 0, got "
                                  f"{self.error_threshold!r}.")
        if not self.run_invocation_timeout or self.run_invocation_timeout <= 0:
            raise ValidationError(f"run_invocation_timeout must be > 0 seconds, got "
                                  f"{self.run_invocation_timeout!r}.")
        if "/" in self.append_row_file_name or not self.append_row_file_name:
            raise ValidationError(f"append_row_file_name {self.append_row_file_name!r} must be "
                                  "a file name.")
        if hasattr(self.compute_target, "name"):
            self.compute_target = self.compute_target.name  # type: ignore[union-attr]

    @property
    def workers(self) -> int:
        return self.node_count * self.process_count_per_node

    def validate(self) -> None:
        """The entry script exists and defines ``init`` and ``run``; raises otherwise."""
        root = Path(self.source_directory)
        script = root / self.entry_script
        if not script.is_file():
            raise ValidationError(f"entry_script {self.entry_script!r} not found in "
                                  f"source_directory {str(root)!r}.")
        try:
            tree = ast.parse(script.read_text(), str(script))
        except SyntaxError as exc:
            raise ValidationError(f"entry_script {self.entry_script!r} line {exc.lineno}: "
                                  f"{exc.msg}.") from None
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        missing = [f for f in ("init", "run") if f not in defined]
        if missing:
            raise ValidationError(
                f"entry_script {self.entry_script!r} defines no {' or '.join(missing)}(); a "
                "batch entry script needs init() (load the model once per process) and "
                "run(mini_batch) (score a list of files, return one row per input).")

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["source_directory"] = str(self.source_directory)
        doc.pop("environment")
        return doc


__all__ = ["OUTPUT_ACTIONS", "ParallelRunConfig", "parse_mini_batch_size"]
