"""A client upgrade cannot drift past the sandbox silently: the installed kagglesdk's
RPCs, request/response fields and processing states must all be ones the sandbox
knows (kaggle_sandbox/wire.py). When this fails, teach the sandbox the new field
(and FIDELITY.md its row), then add it to wire.py."""

from __future__ import annotations

import inspect
import re

from kagglesdk.blobs.services import blob_api_service
from kagglesdk.datasets.services import dataset_api_service
from kagglesdk.datasets.types.dataset_enums import DatabundleVersionStatus
from kagglesdk.kaggle_object import KaggleObject
from kagglesdk.security.types import oauth_service

from kaggle_sandbox import wire
from kaggle_sandbox.service import Service
from kaggle_sandbox.store import PROCESSING_STAGES

CALL = re.compile(r'call\(\s*"([^"]+)",\s*"([^"]+)",\s*request,\s*(\w+)\s*\)')


def client_rpcs(client_class) -> dict[str, tuple[str, str]]:
    """ "<service>/<method>" -> (request type, response type) of every client method."""
    rpcs = {}
    for name, method in inspect.getmembers(client_class, inspect.isfunction):
        if name.startswith("_"):
            continue
        found = CALL.search(inspect.getsource(method))
        assert found, f"{client_class.__name__}.{name} no longer calls the API the known way"
        service, rpc, response = found.groups()
        request = method.__annotations__["request"]
        request = request if isinstance(request, str) else request.__name__
        rpcs[f"{service}/{rpc}"] = (request.rsplit(".", 1)[-1], response)
    return rpcs


def wire_types() -> dict[str, type]:
    modules = [
        __import__("kagglesdk.datasets.types.dataset_api_service", fromlist=["x"]),
        __import__("kagglesdk.blobs.types.blob_api_service", fromlist=["x"]),
        oauth_service,
    ]
    return {
        name: cls
        for module in modules
        for name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, KaggleObject)
    }


def nested(cls: type, seen: dict[str, type]) -> None:
    if cls.__name__ in seen:
        return
    seen[cls.__name__] = cls
    for field in cls._fields:
        kind = field.field_type
        if inspect.isclass(kind) and issubclass(kind, KaggleObject):
            nested(kind, seen)


def test_every_dataset_and_blob_rpc_is_served_or_known_not_to_be():
    rpcs = client_rpcs(dataset_api_service.DatasetApiClient)
    rpcs |= client_rpcs(blob_api_service.BlobApiClient)
    unknown = set(rpcs) - set(wire.SERVED) - wire.NOT_SERVED
    assert not unknown, f"kagglesdk has RPCs the sandbox does not know: {sorted(unknown)}"
    for rpc, types in rpcs.items():
        if rpc in wire.SERVED:
            assert wire.SERVED[rpc] == types, f"{rpc} now uses {types}"


def test_the_sandbox_routes_every_rpc_it_claims_to_serve(tmp_path):
    from kaggle_sandbox.accounts import Accounts
    from kaggle_sandbox.blobs import BlobStore
    from kaggle_sandbox.downloads import Signer
    from kaggle_sandbox.faults import FaultInjector
    from kaggle_sandbox.store import Store

    service = Service(
        Store(tmp_path), BlobStore(tmp_path / "b"), Accounts.default(), FaultInjector(),
        Signer(tmp_path),
    )  # fmt: skip
    assert set(service.methods) == set(wire.SERVED)


def test_every_request_and_response_field_is_known():
    types = wire_types()
    seen: dict[str, type] = {}
    for request, response in wire.SERVED.values():
        for name in (request, response):
            if name in types:
                nested(types[name], seen)
    unknown = {
        name: sorted({f.json_name for f in cls._fields} - set(wire.KNOWN_FIELDS.get(name, ())))
        for name, cls in seen.items()
    }
    unknown = {name: fields for name, fields in unknown.items() if fields}
    assert not unknown, f"kagglesdk types carry fields the sandbox does not know: {unknown}"
    ignored_types = {key.split(".")[0] for key in wire.IGNORED}
    assert ignored_types <= set(seen)


def test_every_processing_state_is_known():
    names = tuple(status.name for status in DatabundleVersionStatus)
    assert names == wire.DATABUNDLE_VERSION_STATUSES
    assert set(PROCESSING_STAGES) <= set(names)
