"""Registering datastores: the registry, credentials by reference, and clear errors."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from azurite import AZ_ENV
from cumulus.datastores import Datastore
from cumulus.errors import (
    DatastoreError,
    DatastoreNotFoundError,
    MissingDependencyError,
    ValidationError,
)


def _store_bytes(ws) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(p.read_bytes() for p in Path(ws.state_dir).glob("store.db*"))


def test_register_get_list_default_and_unregister(fresh_workspace, tmp_path):
    ws = fresh_workspace
    ds = Datastore.register(ws, "raw", (tmp_path / "raw").as_uri())
    assert (tmp_path / "raw").is_dir()  # access check created it
    assert Datastore.get(ws, "raw") == ds
    assert set(Datastore.list(ws)) == {"workspacestore", "raw"}
    assert ws.get_default_datastore().name == "workspacestore"
    with pytest.raises(DatastoreError, match="built in"):
        Datastore.get(ws, "workspacestore").unregister()
    ds.set_as_default()
    assert ws.get_default_datastore().name == "raw"
    with pytest.raises(DatastoreError, match="is the workspace's default"):
        ds.unregister()
    Datastore.get(ws, "workspacestore").set_as_default()
    ds.unregister()
    with pytest.raises(DatastoreNotFoundError, match="'raw' does not exist"):
        Datastore.get(ws, "raw")


def test_unknown_protocol_names_it_and_suggests(fresh_workspace):
    with pytest.raises(ValidationError, match="Unknown datastore protocol 'azz'") as err:
        Datastore.register(fresh_workspace, "x", "azz://container/p")
    assert "Did you mean 'az'?" in str(err.value)


def test_protocol_without_its_package_gives_install_hint(fresh_workspace):
    with pytest.raises(MissingDependencyError) as err:
        Datastore.register(fresh_workspace, "s3", "s3://bucket/prefix")
    assert "s3fs" in str(err.value) and "cumulus-ml[s3]" in str(err.value)
    assert fresh_workspace.store.datastores.get("s3") is None


def test_azure_registration_checks_access_and_stores_no_secret(fresh_workspace, container,
                                                               account_key):
    ws = fresh_workspace
    ds = Datastore.register(ws, "blob", f"az://{container}/p", credential_env=AZ_ENV)
    record = ws.store.datastores.get("blob")
    assert record["definition"] == {"credential_env": AZ_ENV}
    assert account_key.encode() not in _store_bytes(ws)
    assert account_key not in repr(ds) + str(ds.to_dict()) + ds.credential_description()


def test_bad_credential_is_a_clear_error_without_the_secret(fresh_workspace, container, azurite,
                                                            monkeypatch):
    wrong = "A" * 86 + "=="
    monkeypatch.setenv("BAD_AZ", azurite.connection_string.replace(azurite.key, wrong))
    with pytest.raises(DatastoreError) as err:
        Datastore.register(fresh_workspace, "bad", f"az://{container}", credential_env="BAD_AZ")
    text = str(err.value)
    assert "rejected the credential" in text and "403" in text
    assert wrong not in text and azurite.key not in text
    assert fresh_workspace.store.datastores.get("bad") is None


def test_missing_container_is_a_clear_error(fresh_workspace, azurite):
    with pytest.raises(DatastoreError, match="container 'nosuchcontainer' does not exist"):
        Datastore.register(fresh_workspace, "nc", "az://nosuchcontainer/x", credential_env=AZ_ENV)


def test_invalid_container_name_is_rejected_before_any_call(fresh_workspace):
    with pytest.raises(ValidationError, match="container name 'c1' .* is invalid"):
        Datastore.register(fresh_workspace, "c", "az://c1/x", credential_env=AZ_ENV)


def test_unset_credential_variable_is_named(fresh_workspace, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(DatastoreError, match="'NOT_SET_ANYWHERE', which is not set"):
        Datastore.register(fresh_workspace, "x", "az://somecontainer",
                           credential_env="NOT_SET_ANYWHERE")


def test_secrets_passed_by_value_are_refused_and_not_echoed(fresh_workspace, azurite):
    ws = fresh_workspace
    with pytest.raises(ValidationError, match="NAME of an environment variable") as err:
        Datastore.register(ws, "x", "az://somecontainer", credential_env=azurite.connection_string)
    assert azurite.key not in str(err.value)
    with pytest.raises(ValidationError, match="storage_options\\['account_key'\\]") as err:
        Datastore.register(ws, "x", "az://somecontainer",
                           storage_options={"account_key": azurite.key})
    assert azurite.key not in str(err.value)
    with pytest.raises(ValidationError, match="embeds a credential"):
        Datastore.register(ws, "x", "https://host/data?sig=abcdef")
    assert ws.store.datastores.get("x") is None


def test_credential_kinds_are_validated(fresh_workspace):
    ws = fresh_workspace
    with pytest.raises(ValidationError, match="credential 'defualt' .* unknown.*'default'"):
        Datastore.register(ws, "x", "az://somecontainer", credential="defualt")
    with pytest.raises(ValidationError, match="needs account_name"):
        Datastore.register(ws, "x", "az://somecontainer", credential="default")
    with pytest.raises(ValidationError, match="pass credential_env"):
        Datastore.register(ws, "x", "az://somecontainer", credential="sas_token",
                           account_name="acct")
    with pytest.raises(ValidationError, match="works with az"):
        Datastore.register(ws, "x", "memory://m", credential="connection_string",
                           credential_env="X")


def test_providers_map_the_variable_to_storage_options(monkeypatch):
    monkeypatch.setenv("K", "secret-key")
    monkeypatch.setenv("J", '{"key": "id", "secret": "s"}')
    cases = {
        ("account_key", "K"): {"account_name": "acct", "account_key": "secret-key"},
        ("sas_token", "K"): {"account_name": "acct", "sas_token": "secret-key"},
        (None, "K"): {"account_name": "acct", "account_key": "secret-key"},
        ("json", "J"): {"account_name": "acct", "key": "id", "secret": "s"},
        ("anonymous", None): {"account_name": "acct", "anon": True},
    }
    for (kind, env), expected in cases.items():
        definition = {"credential": kind, "credential_env": env, "account_name": "acct"}
        ds = Datastore(None, "d", "az://c0ntainer", definition)
        assert ds.storage_options() == expected, kind
    assert Datastore(None, "d", "s3://b", {"credential_env": "K"}).storage_options() == {
        "token": "secret-key"}


def test_sas_connection_string_reads_but_cannot_write(fresh_workspace, container, azurite,
                                                      tmp_path, monkeypatch):
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    writer = Datastore.register(fresh_workspace, "w", f"az://{container}", credential_env=AZ_ENV)
    (tmp_path / "f.txt").write_text("data")
    writer.upload_files([tmp_path / "f.txt"], target_path="in", show_progress=False)
    sas = generate_container_sas("devstoreaccount1", container, account_key=azurite.key,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(timezone.utc) + timedelta(hours=1))
    monkeypatch.setenv("SAS_CONN", f"BlobEndpoint={azurite.endpoint};SharedAccessSignature={sas}")
    reader = Datastore.register(fresh_workspace, "r", f"az://{container}",
                                credential_env="SAS_CONN")
    reader.download(tmp_path / "o", prefix="in", show_progress=False)
    assert (tmp_path / "o" / "in" / "f.txt").read_text() == "data"
    with pytest.raises(DatastoreError, match="failed to upload .*403") as err:
        reader.upload_files([tmp_path / "f.txt"], target_path="again", show_progress=False)
    assert sas.split("sig=")[1][:10] not in str(err.value)


def test_skip_validation_registers_unreachable_stores(fresh_workspace):
    ds = Datastore.register(fresh_workspace, "later", "az://futurecontainer/x",
                            credential_env="NOT_SET_YET_VAR", skip_validation=True)
    assert Datastore.get(fresh_workspace, "later").url == ds.url
    assert "NOT_SET_YET_VAR" not in os.environ
