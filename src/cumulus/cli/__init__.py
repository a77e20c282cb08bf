"""The ``cumulus`` command: a thin shell over the public API.

Subcommand groups live in their own modules and are imported only when used, so that simple
commands start fast (no prefect or dask import unless needed).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

# command name -> "module:attribute" of a click command or group
COMMANDS: dict[str, str] = {
    "init": "cumulus.cli._core:init",
    "demo": "cumulus.cli._demo:demo",
    "run": "cumulus.cli._core:run",
    "runs": "cumulus.cli._runs:runs",
    "workspace": "cumulus.cli._core:workspace_cmd",
    "compute": "cumulus.cli._compute:compute",
    "datastore": "cumulus.cli._datastore:datastore",
    "sweep": "cumulus.cli._sweep:sweep",
    "pipeline": "cumulus.cli._pipeline:pipeline",
    "schedule": "cumulus.cli._pipeline:schedule",
    "model": "cumulus.cli._model:model",
    "env": "cumulus.cli._env:env",
    "migrate": "cumulus.cli._migrate:migrate",
    "services": "cumulus.cli._services:services",
    "doctor": "cumulus.cli._services:doctor",
    "quota": "cumulus.cli._quota:quota",
    "ui": "cumulus.cli._ui:ui",
    "automl": "cumulus.cli._automl:automl",
    "tensorboard": "cumulus.cli._tensorboard:tensorboard",
}
HELP = {
    "init": "Create a workspace (cumulus.yaml) here.",
    "demo": "Run the end-to-end demo on embedded defaults.",
    "run": "Submit a script as a run.",
    "runs": "List, inspect, follow and cancel runs.",
    "workspace": "Show the workspace.",
    "compute": "Create, inspect, update and delete compute targets.",
    "datastore": "Register datastores and move data.",
    "sweep": "Launch and inspect hyperparameter sweeps.",
    "pipeline": "Run pipelines.",
    "schedule": "Schedule pipelines.",
    "model": "Register, deploy and inspect models.",
    "env": "List and build environments.",
    "migrate": "Rewrite Azure ML SDK v1 imports to cumulus.azureml.",
    "services": "List and stop this workspace's background processes.",
    "doctor": "Restart what died with work in flight.",
    "quota": "Limit concurrent runs, nodes and GPUs.",
    "ui": "Serve the web app and REST API over this workspace.",
    "automl": "Find the best model for a table (automated ML).",
    "tensorboard": "TensorBoard over runs' event files (live while they run).",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("cumulus"):
                return None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(n, HELP.get(n, "")) for n in self.list_commands(ctx)])

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            from cumulus.errors import did_you_mean

            raise click.UsageError(f"No such command {name!r}.{did_you_mean(name, COMMANDS)}")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cumulus-ml")
def cli() -> None:
    """Cumulus: self-hosted ML workflows (runs, compute, data, sweeps, pipelines, models)."""


def main() -> None:
    from cumulus.errors import CumulusError

    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.stderr.write("Aborted.\n")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CumulusError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
