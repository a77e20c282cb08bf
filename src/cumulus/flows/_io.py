"""Input and Output: the data a step reads and writes.

``Input`` marks a step parameter as data read from a datastore path or another step's output;
the step receives a local path (``download``, ``mount``) or the URL (``direct``). ``Output``
marks a parameter as a folder the step writes; it is uploaded to a datastore when the step
succeeds (``pipelines/<pipeline run>/<step>/<output>`` on the default datastore unless told
otherwise) and handed to the steps that read it.

Example::

    @step
    def prep(raw: Input, clean: Output, *, scale: float = 1.0):
        ...                                   # raw, clean: local paths (str)

    @pipeline(name="train")
    def train_pipeline():
        clean = prep(raw=ds.path("mnist"))    # an Output handle
        train(data=clean)

    # or name the data first (any order of steps in the body):
    clean = Output("clean")
    prep(raw=ds.path("mnist"), clean=clean)
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from cumulus.errors import PipelineError, allowed_list, did_you_mean

INPUT_MODES = ("download", "mount", "direct")
PATH_FIELDS = ("pipeline", "pipeline_run_id", "step", "output")
DEFAULT_OUTPUT_PATH = "pipelines/{pipeline_run_id}/{step}/{output}"


@dataclass(frozen=True)
class Input:
    """Marks a step parameter as data the step reads.

    Example::

        @step
        def count(raw: Input, stats: Output): ...
        @step
        def peek(raw: Input(mode="mount")): ...
    """

    mode: str = "download"

    def __post_init__(self) -> None:
        if self.mode not in INPUT_MODES:
            raise PipelineError(f"Input mode {self.mode!r} is not supported. Allowed: "
                                f"{allowed_list(INPUT_MODES)}." + did_you_mean(self.mode,
                                                                              INPUT_MODES))


class Output:
    """Data a step writes: a folder on a datastore, uploaded when the step succeeds.

    As an annotation it declares a step output; as an object it names data that one step
    writes and other steps read. ``path`` may use ``{pipeline}``, ``{pipeline_run_id}``,
    ``{step}`` and ``{output}``.

    Example::

        model = Output("model", datastore="blob")
        train(data=clean, model=model)
        evaluate(model=model)
    """

    def __init__(self, name: str | None = None, *, datastore: str | None = None,
                 path: str | None = None) -> None:
        if name is not None and (not isinstance(name, str) or not name
                                 or not name.replace("_", "").replace("-", "").isalnum()):
            raise PipelineError(f"Output name {name!r} is invalid: use letters, digits, '_' "
                                "or '-', e.g. Output('clean').")
        if path is not None:
            check_path_template(path, f"Output({name!r})")
        self.name = name
        self.datastore = datastore
        self.path = path

    def merged(self, declared: Output | None) -> tuple[str | None, str | None]:
        """(datastore, path template): this handle's settings over the declaration's."""
        ds = self.datastore or (declared.datastore if declared else None)
        path = self.path or (declared.path if declared else None)
        return ds, path

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in (("datastore", self.datastore),
                                                     ("path", self.path)) if v)
        return f"Output({self.name!r}{extra})"


def check_path_template(path: str, where: str) -> None:
    """Reject unknown ``{fields}``, absolute paths and ``..`` in an output path template."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(path) if f is not None]
    except ValueError as exc:
        raise PipelineError(f"{where}: path {path!r} is not a valid template ({exc}).") from None
    for f in fields:
        if f not in PATH_FIELDS:
            raise PipelineError(
                f"{where}: path {path!r} uses {{{f}}}; allowed fields: "
                f"{', '.join('{' + x + '}' for x in PATH_FIELDS)}." + did_you_mean(f, PATH_FIELDS))
    if path.startswith("/") or ".." in path.replace("\\", "/").split("/"):
        raise PipelineError(f"{where}: path {path!r} must be relative to the datastore root and "
                            "stay inside it (no leading '/', no '..').")


def render_path(template: str | None, **fields: Any) -> str:
    """The datastore path of an output for one pipeline run and step."""
    return (template or DEFAULT_OUTPUT_PATH).format(**fields).strip("/")


def annotation_role(annotation: Any) -> Input | Output | None:
    """The Input/Output declaration an annotation stands for, or None for a parameter.

    Accepts the classes (``raw: Input``), instances (``raw: Input(mode="mount")``), and
    ``Annotated[str, Input(...)]``.
    """
    import typing

    if annotation is Input:
        return Input()
    if annotation is Output:
        return Output()
    if isinstance(annotation, Input | Output):
        return annotation
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in typing.get_args(annotation)[1:]:
            role = annotation_role(meta)
            if role is not None:
                return role
    if isinstance(annotation, str):  # an annotation that could not be evaluated
        base = annotation.split("(")[0].split(".")[-1].strip()
        if base == "Input" and "(" not in annotation:
            return Input()
        if base == "Output" and "(" not in annotation:
            return Output()
    return None
