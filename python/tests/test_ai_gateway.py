"""MLflow 3's AI gateway configuration through the stock client's own store
calls (the REST store's gateway methods, which the MLflow UI's gateway
pages use too): secrets, model definitions, endpoints with their model
mappings, tags and bindings. Each test runs against tandem and the stock
server alike."""

import base64
import json
import os
import urllib.error
import urllib.request

import pytest

from helpers import unique

# tandem seals gateway secrets with the workspace key; the conformance
# server gets one (the stock server uses its own default passphrase).
os.environ.setdefault("TANDEM_SECRETS_KEY", base64.b64encode(b"tandem-conformance-secrets-key!!").decode())


def _store():
    import mlflow

    return mlflow.MlflowClient()._tracking_client.store


def _error_code(excinfo):
    return excinfo.value.error_code


def _raw(server, path):
    req = urllib.request.Request(server.url + path, headers=server.headers)
    with urllib.request.urlopen(req) as r:
        return r.read().decode()


def _call(server, method, path, body):
    """One request; its HTTP status and JSON body."""
    req = urllib.request.Request(server.url + path, method=method, data=json.dumps(body).encode(),
                                 headers={**server.headers, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_gateway_secrets(server):
    """A secret's values are shown masked, never returned; names are unique;
    rotation changes the mask; keys that steer where requests go are
    refused; a provider filter lists only its secrets."""
    from mlflow.exceptions import MlflowException

    store = _store()
    name = unique("key")
    value = "sk-" + "q" * 20 + "WXYZ"
    sec = store.create_gateway_secret(secret_name=name, secret_value={"api_key": value}, provider="openai",
                                      auth_config={"region": "eu"}, created_by="ann")
    assert sec.secret_id.startswith("s-") and sec.secret_name == name
    assert sec.masked_values == {"api_key": "sk-...WXYZ"}
    assert sec.auth_config == {"region": "eu"} and sec.created_by == "ann" and sec.provider == "openai"
    got = store.get_secret_info(secret_id=sec.secret_id)
    assert got.masked_values == sec.masked_values and got.created_at == sec.created_at

    # The value is in no response, raw.
    listing = _raw(server, "/api/3.0/mlflow/gateway/secrets/list")
    assert name in listing and value not in listing and "q" * 20 not in listing

    with pytest.raises(MlflowException) as e:
        store.create_gateway_secret(secret_name=name, secret_value={"api_key": "other-value"})
    assert _error_code(e) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as e:
        store.create_gateway_secret(secret_name=unique("key"), secret_value={"api_key": "x", "base_url": "https://evil"})
    assert _error_code(e) == "INVALID_PARAMETER_VALUE" and "base_url" in e.value.message
    with pytest.raises(MlflowException) as e:
        store.create_gateway_secret(secret_name=unique("key"), secret_value={"api_key": "x"},
                                    auth_config={"custom_llm_provider": "x"})
    assert _error_code(e) == "INVALID_PARAMETER_VALUE"

    rot = store.update_gateway_secret(secret_id=sec.secret_id, secret_value={"api_key": "short"}, updated_by="bob")
    assert rot.masked_values == {"api_key": "***"} and rot.last_updated_by == "bob"
    assert rot.auth_config == {"region": "eu"}, "an update without auth_config keeps it"
    assert rot.last_updated_at >= sec.last_updated_at

    other = store.create_gateway_secret(secret_name=unique("key"), secret_value={"api_key": "abcdefghijkl"},
                                        provider="anthropic")
    assert other.secret_id in {s.secret_id for s in store.list_secret_infos(provider="anthropic")}
    assert sec.secret_id not in {s.secret_id for s in store.list_secret_infos(provider="anthropic")}

    store.delete_gateway_secret(other.secret_id)
    with pytest.raises(MlflowException) as e:
        store.get_secret_info(secret_id=other.secret_id)
    assert _error_code(e) == "RESOURCE_DOES_NOT_EXIST"


def test_gateway_endpoints(server, client):
    """Model definitions on a secret, an endpoint routing to them (with its
    usage experiment made and tagged), fallbacks attached and detached,
    tags, bindings, and MLflow's refusals: a definition in use cannot be
    deleted, a deleted secret orphans its definitions."""
    from mlflow.entities import (
        FallbackConfig,
        FallbackStrategy,
        GatewayEndpointModelConfig,
        GatewayEndpointTag,
        GatewayModelLinkageType,
        GatewayResourceType,
        RoutingStrategy,
    )
    from mlflow.exceptions import MlflowException

    store = _store()
    sec = store.create_gateway_secret(secret_name=unique("key"), secret_value={"api_key": "sk-abcdefghijkl"},
                                      provider="openai")
    d1 = store.create_gateway_model_definition(name=unique("gpt"), secret_id=sec.secret_id, provider="openai",
                                               model_name="gpt-4o", created_by="ann")
    assert d1.model_definition_id.startswith("d-") and d1.secret_name == sec.secret_name
    sec2 = store.create_gateway_secret(secret_name=unique("key"), secret_value={"api_key": "ak-abcdefghijkl"},
                                       provider="anthropic")
    d2 = store.create_gateway_model_definition(name=unique("claude"), secret_id=sec2.secret_id, provider="anthropic",
                                               model_name="claude-sonnet")
    with pytest.raises(MlflowException) as e:
        store.create_gateway_model_definition(name=d1.name, secret_id=sec.secret_id, provider="openai", model_name="x")
    assert _error_code(e) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as e:
        store.create_gateway_model_definition(name=unique("x"), secret_id="s-nope", provider="openai", model_name="x")
    assert _error_code(e) == "RESOURCE_DOES_NOT_EXIST"

    name = unique("chat")
    primary = GatewayEndpointModelConfig(model_definition_id=d1.model_definition_id,
                                         linkage_type=GatewayModelLinkageType.PRIMARY, weight=1.0)
    ep = store.create_gateway_endpoint(name=name, model_configs=[primary])
    assert ep.endpoint_id.startswith("e-") and ep.usage_tracking
    assert [m.model_definition.name for m in ep.model_mappings] == [d1.name]
    exp = client.get_experiment(ep.experiment_id)
    assert exp.name == f"gateway/{name}"
    assert exp.tags["mlflow.experiment.sourceType"] == "GATEWAY" and exp.tags["mlflow.experiment.sourceId"] == ep.endpoint_id

    fb = GatewayEndpointModelConfig(model_definition_id=d2.model_definition_id,
                                    linkage_type=GatewayModelLinkageType.FALLBACK, weight=1.0, fallback_order=1)
    mapping = store.attach_model_to_endpoint(endpoint_id=ep.endpoint_id, model_config=fb, created_by="bob")
    assert mapping.linkage_type == GatewayModelLinkageType.FALLBACK and mapping.fallback_order == 1
    with pytest.raises(MlflowException) as e:
        store.attach_model_to_endpoint(endpoint_id=ep.endpoint_id, model_config=fb)
    assert _error_code(e) == "RESOURCE_ALREADY_EXISTS"

    up = store.update_gateway_endpoint(endpoint_id=ep.endpoint_id, updated_by="cy",
                                       routing_strategy=RoutingStrategy.REQUEST_BASED_TRAFFIC_SPLIT,
                                       fallback_config=FallbackConfig(strategy=FallbackStrategy.SEQUENTIAL, max_attempts=2))
    assert up.routing_strategy == RoutingStrategy.REQUEST_BASED_TRAFFIC_SPLIT
    assert up.fallback_config.max_attempts == 2 and up.last_updated_by == "cy" and len(up.model_mappings) == 2

    store.set_gateway_endpoint_tag(ep.endpoint_id, GatewayEndpointTag("team", "search"))
    got = store.get_gateway_endpoint(name=name)
    assert got.endpoint_id == ep.endpoint_id and {t.key: t.value for t in got.tags} == {"team": "search"}
    store.delete_gateway_endpoint_tag(ep.endpoint_id, "team")
    assert not store.get_gateway_endpoint(endpoint_id=ep.endpoint_id).tags

    assert ep.endpoint_id in {x.endpoint_id for x in store.list_gateway_endpoints(provider="anthropic")}
    store.detach_model_from_endpoint(endpoint_id=ep.endpoint_id, model_definition_id=d2.model_definition_id)
    assert ep.endpoint_id not in {x.endpoint_id for x in store.list_gateway_endpoints(provider="anthropic")}
    with pytest.raises(MlflowException) as e:
        store.detach_model_from_endpoint(endpoint_id=ep.endpoint_id, model_definition_id=d2.model_definition_id)
    assert _error_code(e) == "RESOURCE_DOES_NOT_EXIST"

    scorer = unique("judge")
    b = store.create_endpoint_binding(endpoint_id=ep.endpoint_id, resource_type=GatewayResourceType.SCORER,
                                      resource_id=scorer)
    assert b.resource_id == scorer
    assert [x.resource_id for x in store.list_endpoint_bindings(endpoint_id=ep.endpoint_id)] == [scorer]
    store.delete_endpoint_binding(ep.endpoint_id, "scorer", scorer)
    assert store.list_endpoint_bindings(endpoint_id=ep.endpoint_id) == []

    # INVALID_STATE, which MLflow sends with HTTP 500 (so the client retries
    # it and reports the retries): asked once, raw.
    status, body = _call(server, "DELETE", "/api/3.0/mlflow/gateway/model-definitions/delete",
                         {"model_definition_id": d1.model_definition_id})
    assert (status, body["error_code"]) == (500, "INVALID_STATE") and "currently in use" in body["message"]

    store.delete_gateway_secret(sec2.secret_id)
    orphan = store.get_gateway_model_definition(d2.model_definition_id)
    assert not orphan.secret_id and orphan.model_name == "claude-sonnet"
    store.delete_gateway_model_definition(d2.model_definition_id)

    store.create_endpoint_binding(endpoint_id=ep.endpoint_id, resource_type=GatewayResourceType.SCORER,
                                  resource_id=scorer)
    store.delete_gateway_endpoint(ep.endpoint_id)
    with pytest.raises(MlflowException) as e:
        store.get_gateway_endpoint(endpoint_id=ep.endpoint_id)
    assert _error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    assert store.list_endpoint_bindings(endpoint_id=ep.endpoint_id) == []
    store.delete_gateway_model_definition(d1.model_definition_id)


def test_gateway_endpoint_refusals(server):
    """Names that cannot be part of a URL, configs without a linkage type
    and unknown definitions are refused in MLflow's words, creating
    nothing; the UI's secrets/config says secrets can be stored."""
    from mlflow.entities import GatewayEndpointModelConfig, GatewayModelLinkageType
    from mlflow.exceptions import MlflowException

    store = _store()
    sec = store.create_gateway_secret(secret_name=unique("key"), secret_value={"api_key": "sk-abcdefghijkl"})
    d = store.create_gateway_model_definition(name=unique("m"), secret_id=sec.secret_id, provider="openai", model_name="m")
    ok = GatewayEndpointModelConfig(model_definition_id=d.model_definition_id,
                                    linkage_type=GatewayModelLinkageType.PRIMARY, weight=1.0)
    with pytest.raises(MlflowException) as e:
        store.create_gateway_endpoint(name="has space", model_configs=[ok])
    assert _error_code(e) == "INVALID_PARAMETER_VALUE" and "Invalid endpoint name 'has space'" in e.value.message
    with pytest.raises(MlflowException) as e:
        store.create_gateway_endpoint(name=unique("e"), model_configs=[
            GatewayEndpointModelConfig(model_definition_id="d-nope", linkage_type=GatewayModelLinkageType.PRIMARY, weight=1.0)])
    assert _error_code(e) == "RESOURCE_DOES_NOT_EXIST" and "d-nope" in e.value.message
    name = unique("e")
    with pytest.raises(MlflowException) as e:
        store.create_gateway_endpoint(name=name, model_configs=[])
    assert _error_code(e) == "INVALID_PARAMETER_VALUE"
    assert name not in {x.name for x in store.list_gateway_endpoints()}

    ep = store.create_gateway_endpoint(name=name, model_configs=[ok], usage_tracking=False)
    assert not ep.usage_tracking and not ep.experiment_id

    cfg = json.loads(_raw(server, "/ajax-api/3.0/mlflow/gateway/secrets/config"))
    assert cfg["secrets_available"] is True
