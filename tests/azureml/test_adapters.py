"""The SDK v1 adapters' mappings, on literals (no services)."""

from __future__ import annotations

import pytest

from cumulus.azureml._compat import UnsupportedError
from cumulus.azureml.core import CondaDependencies, Environment
from cumulus.azureml.core.compute import AmlCompute, node_for_vm_size
from cumulus.azureml.core.conda_dependencies import conda_to_pip
from cumulus.azureml.core.webservice import AciWebservice, AksWebservice, LocalWebservice
from cumulus.azureml.pipeline.core import ScheduleRecurrence
from cumulus.azureml.train.hyperdrive import (
    HyperDriveConfig,
    PrimaryMetricGoal,
    RandomParameterSampling,
    choice,
)
from cumulus.errors import CumulusError, ValidationError


@pytest.mark.parametrize(("conda", "pip"), [
    ("numpy=1.21", "numpy==1.21"), ("conda-forge::lightgbm", "lightgbm"),
    ("pytorch", "torch"), ("py-xgboost>=1.5", "xgboost>=1.5"), ("python=3.8", None),
    ("pip", None), ("scikit-learn", "scikit-learn")])
def test_conda_packages_become_pypi_requirements(conda: str, pip: str | None) -> None:
    assert conda_to_pip(conda) == pip


def test_conda_dependencies_drop_the_sdk_and_keep_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cd = CondaDependencies.create(pip_packages=["azureml-defaults", "scikit-learn==1.5.2",
                                                "azureml-sdk[notebooks]"],
                                  conda_packages=["numpy", "python=3.8"])
    assert cd.requirements() == ["numpy", "scikit-learn==1.5.2"]
    spec = tmp_path / "env.yml"
    spec.write_text("name: x\ndependencies:\n  - python=3.8\n  - pandas\n"
                    "  - pip:\n      - azureml-core\n      - six==1.16.0\n")
    env = Environment.from_conda_specification("from-yaml", str(spec))
    assert env.requirements() == ["pandas", "six==1.16.0"]
    assert env.python.conda_dependencies.python_version == "3.8"


def test_environment_needs_nothing_built_when_the_worker_has_it() -> None:
    env = Environment("sk")
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=["scikit-learn"])
    assert env.to_native().is_default            # satisfied by this interpreter
    env.python.conda_dependencies.add_pip_package("six==1.15.0")   # not what is installed
    native = env.to_native()
    assert native.kind == "virtualenv" and "six==1.15.0" in native.pip
    curated = Environment("AzureML-sklearn-1.0-ubuntu20.04-py38-cpu")
    curated.python.user_managed_dependencies = True
    assert curated.to_native().is_default


def test_microsoft_base_images_are_not_pulled_other_images_are() -> None:
    env = Environment("img")
    assert not env.to_native().is_container     # default mcr.microsoft.com/azureml image
    env.docker.base_image = "python:3.11-slim"
    assert env.to_native().image == "python:3.11-slim"


def test_provisioning_configuration_accepts_string_numbers_and_azure_settings() -> None:
    cfg = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", min_nodes="1",
                                                max_nodes="3",
                                                idle_seconds_before_scaledown="300",
                                                vnet_name="corp", subnet_name="ml")
    assert (cfg.min_nodes, cfg.max_nodes, cfg.idle_seconds_before_scaledown) == (1, 3, 300)
    with pytest.raises(ValidationError, match="whole number"):
        AmlCompute.provisioning_configuration(max_nodes="four")


def test_vm_sizes_never_promise_more_than_the_machine() -> None:
    import os

    node = node_for_vm_size("STANDARD_NC24")
    assert node.cpus <= (os.cpu_count() or 1) and node.gpus <= 4
    assert node_for_vm_size("Standard_D1_v2").cpus == 1
    assert node_for_vm_size("NOT_A_SIZE").cpus == 1


@pytest.mark.parametrize(("kwargs", "trigger"), [
    ({"frequency": "Minute", "interval": 15}, {"interval": 900}),
    ({"frequency": "Hour", "interval": 2}, {"interval": 7200}),
    ({"frequency": "Day", "interval": 1, "hours": [2], "minutes": [30]}, {"cron": "30 2 */1 * *"}),
    ({"frequency": "Week", "interval": 1, "week_days": ["Monday", "Friday"],
      "time_of_day": "06:15"}, {"cron": "15 6 * * 1,5"}),
])
def test_recurrences_become_intervals_or_cron(kwargs: dict, trigger: dict) -> None:  # type: ignore[type-arg]
    assert ScheduleRecurrence(**kwargs).trigger() == trigger


def test_web_services() -> None:
    assert LocalWebservice.deploy_configuration(port=6789).auth_enabled is False
    assert AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1).host == "127.0.0.1"
    with pytest.raises(UnsupportedError, match="LocalWebservice") as err:
        AksWebservice.deploy_configuration(autoscale_enabled=True)
    assert isinstance(err.value, CumulusError)


def test_hyperdrive_config_builds_a_native_sweep(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cumulus.azureml.core import ScriptRunConfig

    (tmp_path / "train.py").write_text("print(1)\n")
    src = ScriptRunConfig(source_directory=str(tmp_path), script="train.py")
    sweep = HyperDriveConfig(run_config=src,
                             hyperparameter_sampling=RandomParameterSampling(
                                 {"--lr": choice(0.1, 0.2)}),
                             primary_metric_name="acc",
                             primary_metric_goal=PrimaryMetricGoal.MINIMIZE,
                             max_total_runs=4).to_native()
    assert sweep.primary_metric_goal == "minimize" and sweep.max_total_runs == 4
    with pytest.raises(CumulusError, match="run_config"):
        HyperDriveConfig(hyperparameter_sampling=None, primary_metric_name="a",
                         primary_metric_goal="maximize", max_total_runs=1)
