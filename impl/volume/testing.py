"""The mock volume plugin of the PV controller's upstream unit tests, for scenarios.

Counterpart of mockVolumePlugin in pkg/controller/volume/persistentvolume/framework_test.go and of
the wrappers that install it (wrapTestWithPluginCalls, wrapTestWithReclaimCalls,
wrapTestWithProvisionCalls): a plugin named kubernetes.io/mock-volume that supports every volume
and answers each Delete, Recycle and Provision call with the next configured result, an error
message or success. With no calls configured, NewDeleter and NewProvisioner fail and Recycle
fails, with upstream's messages. A successful Provision returns a PV with a GCE PD source, the
claim's request as capacity and the class's reclaim policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kvolt.impl.api import types as t
from kvolt.impl.api.types import Obj
from kvolt.impl.backend import Backend
from kvolt.impl.volume.plugins import Spec, VolumeError, VolumePlugin

MOCK_PLUGIN = "kubernetes.io/mock-volume"


@dataclass(frozen=True)
class ProvisionCall:
    """provisionCall: the class parameters the call must see, and its result (None: success)."""

    expected_parameters: dict[str, str] | None = None
    error: str | None = None


@dataclass
class MockCalls:
    delete: list[str | None] = field(default_factory=list)
    recycle: list[str | None] = field(default_factory=list)
    provision: list[ProvisionCall] = field(default_factory=list)
    delete_count: int = 0
    recycle_count: int = 0
    provision_count: int = 0


class MockVolumePlugin(VolumePlugin):
    name = MOCK_PLUGIN
    provisioner_names = (MOCK_PLUGIN,)
    supports_mount_option = False

    def __init__(self, backend: Backend, calls: MockCalls):
        super().__init__(backend)
        self.calls = calls

    def can_support(self, spec: Spec) -> bool:
        return True

    def disk_id(self, spec: Spec) -> str:
        return spec.name

    # Deleter
    def new_deleter(self, spec: Spec) -> MockDeleter:
        if not self.calls.delete:
            raise VolumeError("Mock plugin error: no deleteCalls configured")
        return MockDeleter(self.calls)

    def delete(self, spec: Spec) -> None:
        self.new_deleter(spec).delete()

    # Recycler
    def recycle(self, pv_name: str, spec: Spec, recorder: Callable[[str, str], None]) -> None:
        calls = self.calls
        if not calls.recycle:
            raise VolumeError("Mock plugin error: no recycleCalls configured")
        if calls.recycle_count >= len(calls.recycle):
            raise VolumeError(f"Mock plugin error: unexpected recycle call {calls.recycle_count}")
        result = calls.recycle[calls.recycle_count]
        calls.recycle_count += 1
        if result is not None:
            raise VolumeError(result)

    # Provisioner
    def new_provisioner(self, options: dict) -> MockProvisioner:
        if not self.calls.provision:
            raise VolumeError("Mock plugin error: no provisionCalls configured")
        return MockProvisioner(self.calls, options)

    def provision(self, pv_name: str, size: int) -> dict:
        raise VolumeError("Mock plugin error: provision through NewProvisioner")


@dataclass(frozen=True)
class MockDeleter:
    calls: MockCalls

    def delete(self) -> None:
        calls = self.calls
        if calls.delete_count >= len(calls.delete):
            raise VolumeError(f"Mock plugin error: unexpected deleter call {calls.delete_count}")
        result = calls.delete[calls.delete_count]
        calls.delete_count += 1
        if result is not None:
            raise VolumeError(result)


@dataclass(frozen=True)
class MockProvisioner:
    calls: MockCalls
    options: dict[str, Any]

    def provision(self, selected_node: str | None = None) -> Obj:
        calls = self.calls
        if calls.provision_count >= len(calls.provision):
            raise VolumeError(f"Mock plugin error: unexpected provisioner call {calls.provision_count}")
        call = calls.provision[calls.provision_count]
        if call.expected_parameters != self.options.get("parameters"):
            raise VolumeError("Mock plugin error: invalid provisioner call")
        calls.provision_count += 1
        if call.error is not None:
            raise VolumeError(call.error)
        claim = self.options["pvc"]
        return {"apiVersion": "v1", "kind": t.PV, "metadata": {"name": self.options["pvName"]},
                "spec": {"capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
                         "accessModes": t.access_modes(claim), "persistentVolumeReclaimPolicy": self.options["reclaimPolicy"],
                         "gcePersistentDisk": {}, "volumeMode": t.volume_mode(claim)},
                "status": {"phase": "Available"}}
