"""Pipeline data of the SDK (PipelineData, OutputFileDatasetConfig) and how steps use it."""

from __future__ import annotations

from typing import Any

from cumulus.azureml._compat import azure_only
from cumulus.errors import PipelineError


class PipelineData:
    """Data one step writes and later steps read (``PipelineData('prepped', datastore=ds)``)."""

    def __init__(self, name: str, datastore: Any = None, output_name: str | None = None,
                 output_mode: str = "mount", output_path_on_compute: str | None = None,
                 output_overwrite: bool | None = None, data_type: str | None = None,
                 is_directory: bool | None = None, pipeline_output_name: str | None = None,
                 training_output: Any = None) -> None:
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise PipelineError(f"PipelineData name {name!r} is invalid: use letters, digits, "
                                "'_' or '-'.")
        self.name = name
        self.datastore = datastore
        self.destination: str | None = None
        self._producer: Any = None
        self._mode = "download"
        azure_only("output_path_on_compute", output_path_on_compute,
                   "outputs are written to a folder the step receives as its argument")

    @property
    def datastore_name(self) -> str | None:
        ds = self.datastore
        return ds if isinstance(ds, str) or ds is None else str(ds.name)

    def as_dataset(self) -> PipelineData:
        return self

    def as_download(self, input_name: str | None = None, path_on_compute: str | None = None,
                    overwrite: bool | None = None) -> PipelineData:
        return self

    def as_mount(self, input_name: str | None = None) -> PipelineData:
        return self

    def as_input(self, name: str | None = None) -> InputRef:
        return InputRef(self)

    def parse_delimited_files(self, *_: Any, **__: Any) -> PipelineData:
        return self

    read_delimited_files = parse_delimited_files

    def parse_parquet_files(self, *_: Any, **__: Any) -> PipelineData:
        return self

    read_parquet_files = parse_parquet_files

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class OutputFileDatasetConfig(PipelineData):
    """A step output uploaded to ``destination=(datastore, 'path/{run-id}')`` (the SDK's
    placeholders ``{run-id}`` and ``{output-name}`` are filled in)."""

    def __init__(self, name: str | None = None, destination: Any = None, source: Any = None,
                 partition_format: str | None = None) -> None:
        super().__init__(name or "output")
        if destination is not None:
            store, path = destination
            self.datastore = store
            self.destination = str(path).replace("{run-id}", "{pipeline_run_id}").replace(
                "{output-name}", "{output}")
        azure_only("source", source, "the step writes into the folder it receives")

    def as_upload(self, overwrite: bool = False, source_globs: Any = None,
                  ) -> OutputFileDatasetConfig:
        return self

    def register_on_complete(self, name: str, description: str | None = None,
                             tags: Any = None) -> OutputFileDatasetConfig:
        azure_only("register_on_complete", name, "read it from the step run's outputs")
        return self


class InputRef:
    """A step's read of data another step writes (``output.as_input()``)."""

    def __init__(self, data: PipelineData) -> None:
        self.data = data

    def as_mount(self, *_: Any, **__: Any) -> InputRef:
        return self

    def as_download(self, *_: Any, **__: Any) -> InputRef:
        return self

    def parse_delimited_files(self, *_: Any, **__: Any) -> InputRef:
        return self

    read_delimited_files = parse_delimited_files


def data_of(value: Any) -> PipelineData | None:
    """The pipeline data a step argument or input refers to, if any."""
    if isinstance(value, InputRef):
        return value.data
    return value if isinstance(value, PipelineData) else None


def output_of(data: PipelineData, outputs: dict[int, Any]) -> Any:
    """The native Output standing for ``data`` in the pipeline being built."""
    from cumulus.flows import Output

    found = outputs.get(id(data))
    if found is None:
        found = outputs[id(data)] = Output(data.name, datastore=data.datastore_name,
                                           path=data.destination)
    return found


__all__ = ["InputRef", "OutputFileDatasetConfig", "PipelineData", "data_of", "output_of"]
