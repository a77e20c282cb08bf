"""Code written for the Azure ML SDK v1 runs on Cumulus: ``azureml.X`` is ``cumulus.azureml.X``.

Each module mirrors the SDK module of the same path and maps its names onto Cumulus's native
API (``cumulus``, ``cumulus.sweeps``, ``cumulus.flows``, ``cumulus.models``); behaviour lives in
the native code, so both APIs get every fix. Arguments that only mean something on Azure
(subscriptions, VM sizes, vnets, authentication) are accepted, kept on the object and reported
once; calls that cannot exist off Azure (AKS, ACI) raise a CumulusError naming the local
alternative. ``cumulus migrate PATH...`` rewrites a project's imports.
"""

from __future__ import annotations

__all__: list[str] = []
