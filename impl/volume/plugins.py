"""The volume plugin framework and three plugins.

Counterpart of pkg/volume/plugins.go (VolumePlugin, AttachableVolumePlugin,
DeviceMountableVolumePlugin, ProvisionableVolumePlugin, DeletableVolumePlugin,
ExpandableVolumePlugin, VolumePluginMgr.FindPluginBySpec) and pkg/volume/volume.go (Attacher,
Detacher, DeviceMounter, DeviceUnmounter, Mounter, Unmounter, Provisioner, Deleter), with plugins
in the roles of pkg/volume/gcepd (an attachable cloud disk), pkg/volume/local (a node-local
volume, no attach) and pkg/volume/nfs (a shared volume). They act on the fake backend.

Expansion (ExpandableVolumePlugin.ExpandVolumeDevice, NodeExpandableVolumePlugin.NodeExpand):
the cloud disk grows at the provider and then needs its filesystem grown on the node
(RequiresFSResize); the NFS export is grown on the server only, as a file share such as
azure-file, so its claim is done once the controller expansion is.

A plugin fault hook (installed by the scheduler) can make a call fail before it acts ("error")
or act and then report failure ("timeout": the caller cannot know the outcome, the uncertain
state the operation executor records).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from kvolt.impl.api import types as t
from kvolt.impl.api.types import Obj
from kvolt.impl.backend import Backend, ResizeInfeasibleError

FAKE_DISK = "kvolt.io/fake-disk"
LOCAL = "kubernetes.io/local-volume"
NFS = "kubernetes.io/nfs"

FaultHook = Callable[[str, str, str], "str | None"]  # (operation, volume, node) -> None | "error" | "timeout"


class VolumeError(Exception):
    pass


class PluginNotFoundError(VolumeError):
    """VolumePluginMgr found no plugin (or several) for a spec or a name; the message is upstream's."""


class UncertainError(VolumeError):
    """The call may have taken effect (a timeout): the operation's outcome is uncertain."""


class InfeasibleError(VolumeError):
    """A final error (volumetypes.IsInfeasibleError): retrying the same request cannot succeed."""


@dataclass(frozen=True)
class Spec:
    """volume.Spec: a PV (with its claim's read-only flag) or an inline volume."""

    pv: Obj
    read_only: bool = False

    @property
    def name(self) -> str:
        return t.name(self.pv)


class VolumePlugin(ABC):
    """The plugin interface (pkg/volume/plugins.go: VolumePlugin); each plugin says which volumes it serves."""

    name = ""
    attachable = False
    device_mountable = False
    shareable = False
    expandable = False  # ExpandableVolumePlugin
    requires_fs_resize = False  # RequiresFSResize: a node expansion follows the controller expansion
    provisioner_names: tuple[str, ...] = ()  # ProvisionableVolumePlugin: the StorageClass provisioners it serves

    def __init__(self, backend: Backend, fault: FaultHook | None = None):
        self.backend = backend
        self.fault = fault

    @abstractmethod
    def can_support(self, spec: Spec) -> bool:
        """CanSupport: whether this plugin handles the volume."""

    @abstractmethod
    def disk_id(self, spec: Spec) -> str:
        """The backend's handle for the volume (disk id or export path)."""

    def unique_volume_name(self, spec: Spec) -> str:
        """GetUniqueVolumeNameFromSpec: `<plugin>/<volume handle>`."""
        return f"{self.name}/{self.disk_id(spec)}"

    def _call(self, op: str, volume: str, node: str, act: Callable[[], None]) -> None:
        outcome = self.fault(op, volume, node) if self.fault else None
        if outcome == "error":
            raise VolumeError(f"{op} {volume} on {node}: injected failure")
        act()
        if outcome == "timeout":
            raise UncertainError(f"{op} {volume} on {node}: timed out")

    # Mounter / Unmounter (every plugin)
    def set_up(self, spec: Spec, node: str, pod_uid: str, volume: str, claim_uid: str) -> None:
        disk = self.disk_id(spec)
        self._call("setup", disk, node, lambda: self.backend.mount_pod(disk, node, pod_uid, volume, claim_uid))

    def tear_down(self, disk: str, node: str, pod_uid: str, volume: str) -> None:
        self._call("teardown", disk, node, lambda: self.backend.unmount_pod(node, pod_uid, volume))

    # ProvisionableVolumePlugin
    def new_provisioner(self, options: dict) -> Provisioner:
        """NewProvisioner: a provisioner for one claim (options: reclaimPolicy, pvName, pvc, parameters, mountOptions)."""
        if not hasattr(self, "provision"):
            raise VolumeError(f"plugin {self.name} cannot provision")
        return Provisioner(self, options)

    # ExpandableVolumePlugin / NodeExpandableVolumePlugin
    def expand_volume_device(self, spec: Spec, new_size: int, old_size: int) -> int:
        """ExpandVolumeDevice: grow the volume at the provider; returns the size it now has."""
        disk = self.disk_id(spec)
        result: list[int] = []

        def act() -> None:
            try:
                result.append(self.backend.expand_disk(disk, new_size))
            except ResizeInfeasibleError as error:
                raise InfeasibleError(str(error)) from error
        self._call("expand", disk, "", act)
        return result[0]

    def node_expand(self, spec: Spec, node: str, new_size: int, old_size: int) -> None:
        """NodeExpand: grow the filesystem on the node (a no-op for plugins without RequiresFSResize)."""
        disk = self.disk_id(spec)
        if self.requires_fs_resize:
            self._call("node-expand", disk, node, lambda: self.backend.expand_fs(disk, node))


class FakeDiskPlugin(VolumePlugin):
    """An attachable, exclusive cloud disk (as gce-pd / a CSI block device)."""

    name = FAKE_DISK
    provisioner_names = (FAKE_DISK,)
    attachable = True
    device_mountable = True
    expandable = True
    requires_fs_resize = True

    def can_support(self, spec: Spec) -> bool:
        return "fakeDisk" in spec.pv.get("spec", {})

    def disk_id(self, spec: Spec) -> str:
        return spec.pv["spec"]["fakeDisk"]["diskID"]

    # Attacher / Detacher
    def attach(self, disk: str, node: str) -> str:
        self._call("attach", disk, node, lambda: self.backend.attach(disk, node))
        return f"/dev/disk/by-id/{disk}"

    def detach(self, disk: str, node: str) -> None:
        self._call("detach", disk, node, lambda: self.backend.detach(disk, node))

    def wait_for_attach(self, disk: str, node: str) -> None:
        if not self.backend.disk_attached_to(disk, node):
            raise VolumeError(f"device for {disk} did not appear on {node}")

    def volumes_are_attached(self, disks: list[str], node: str) -> dict[str, bool]:
        return {d: self.backend.disk_attached_to(d, node) for d in disks}

    # DeviceMounter / DeviceUnmounter
    def mount_device(self, disk: str, node: str) -> None:
        path = f"/var/lib/kubelet/plugins/{FAKE_DISK}/mounts/{disk}"
        self._call("mount-device", disk, node, lambda: self.backend.mount_device(disk, node, path))

    def unmount_device(self, disk: str, node: str) -> None:
        self._call("unmount-device", disk, node, lambda: self.backend.unmount_device(disk, node))

    # Provisioner / Deleter
    def provision(self, pv_name: str, size: int) -> dict:
        disk = f"disk-{pv_name}"
        self._call("provision", disk, "", lambda: self.backend.create_disk(disk, "cloud", size))
        return {"fakeDisk": {"diskID": disk}}

    def delete(self, spec: Spec) -> None:
        disk = self.disk_id(spec)
        self._call("delete", disk, "", lambda: self.backend.delete_disk(disk))


class LocalPlugin(VolumePlugin):
    """A node-local volume: no attach, mounted only on its node (pkg/volume/local)."""

    name = LOCAL

    def can_support(self, spec: Spec) -> bool:
        return "local" in spec.pv.get("spec", {})

    def disk_id(self, spec: Spec) -> str:
        return spec.pv["spec"]["local"]["path"]


class NFSPlugin(VolumePlugin):
    """A shared export (pkg/volume/nfs): no attach, any number of nodes and pods."""

    name = NFS
    provisioner_names = ("kvolt.io/nfs",)
    shareable = True
    expandable = True

    def can_support(self, spec: Spec) -> bool:
        return "nfs" in spec.pv.get("spec", {})

    def disk_id(self, spec: Spec) -> str:
        nfs = spec.pv["spec"]["nfs"]
        return f"{nfs['server']}:{nfs['path']}"

    def provision(self, pv_name: str, size: int) -> dict:
        path = f"/exports/{pv_name}"
        self._call("provision", path, "", lambda: self.backend.create_disk(f"nfs:{path}", "nfs", size))
        return {"nfs": {"server": "nfs", "path": path}}

    def delete(self, spec: Spec) -> None:
        disk = self.disk_id(spec)
        self._call("delete", disk, "", lambda: self.backend.delete_disk(disk))


@dataclass(frozen=True)
class Provisioner:
    """volume.Provisioner: Provision creates the storage and returns its PV (not yet saved, not yet bound)."""

    plugin: VolumePlugin
    options: dict

    def provision(self, selected_node: str | None = None) -> Obj:
        claim = self.options["pvc"]
        source = self.plugin.provision(self.options["pvName"], t.pvc_request(claim))  # type: ignore[attr-defined]
        return {"apiVersion": "v1", "kind": t.PV, "metadata": {"name": self.options["pvName"]},
                "spec": {"capacity": {"storage": claim["spec"]["resources"]["requests"]["storage"]},
                         "accessModes": t.access_modes(claim), "persistentVolumeReclaimPolicy": self.options["reclaimPolicy"],
                         "volumeMode": t.volume_mode(claim), **source},
                "status": {"phase": "Available"}}


@dataclass(frozen=True)
class Deleter:
    """volume.Deleter: what DeletableVolumePlugin.NewDeleter returns for one volume."""

    plugin: VolumePlugin
    spec: Spec

    def delete(self) -> None:
        self.plugin.delete(self.spec)  # type: ignore[attr-defined]


def is_deletable(plugin: VolumePlugin) -> bool:
    """DeletableVolumePlugin: the plugin can delete the storage of a volume."""
    return hasattr(plugin, "new_deleter") or hasattr(plugin, "delete")


def new_deleter(plugin: VolumePlugin, spec: Spec) -> Deleter:
    """DeletableVolumePlugin.NewDeleter (a plugin may refuse: VolumeError)."""
    factory = getattr(plugin, "new_deleter", None)
    return factory(spec) if factory is not None else Deleter(plugin, spec)


class VolumePluginMgr:
    """VolumePluginMgr: one plugin per spec; provisioners found by the class's provisioner name.

    The Find*OrError methods are upstream's Find*PluginBySpec / ByName: they raise
    PluginNotFoundError with upstream's message ("no volume plugin matched", "multiple volume
    plugins matched: a,b", "no deletable volume plugin matched", ...).
    """

    def __init__(self, backend: Backend, fault: FaultHook | None = None):
        self.plugins: list[VolumePlugin] = [FakeDiskPlugin(backend, fault), LocalPlugin(backend, fault),
                                            NFSPlugin(backend, fault)]

    def init_plugins(self, plugins: list[VolumePlugin]) -> None:
        """InitPlugins with a given list, as upstream tests do with their mock plugin."""
        self.plugins = list(plugins)

    def plugin_by_spec(self, spec: Spec) -> VolumePlugin:
        """FindPluginBySpec."""
        matches = [p for p in self.plugins if p.can_support(spec)]
        if not matches:
            raise PluginNotFoundError("no volume plugin matched")
        if len(matches) > 1:
            raise PluginNotFoundError(f"multiple volume plugins matched: {','.join(p.name for p in matches)}")
        return matches[0]

    def plugin_by_name(self, name: str) -> VolumePlugin:
        """FindPluginByName."""
        for p in self.plugins:
            if p.name == name:
                return p
        raise PluginNotFoundError(f"no volume plugin matched name: {name}")

    def deletable_plugin_by_spec(self, spec: Spec) -> VolumePlugin:
        """FindDeletablePluginBySpec."""
        plugin = self.plugin_by_spec(spec)
        if not is_deletable(plugin):
            raise PluginNotFoundError("no deletable volume plugin matched")
        return plugin

    def deletable_plugin_by_name(self, name: str) -> VolumePlugin:
        """FindDeletablePluginByName."""
        plugin = self.plugin_by_name(name)
        if not is_deletable(plugin):
            raise PluginNotFoundError("no deletable volume plugin matched")
        return plugin

    def recyclable_plugin_by_spec(self, spec: Spec) -> VolumePlugin:
        """FindRecyclablePluginBySpec."""
        plugin = self.plugin_by_spec(spec)
        if not hasattr(plugin, "recycle"):
            raise PluginNotFoundError("no recyclable volume plugin matched")
        return plugin

    def find_plugin_by_spec(self, spec: Spec) -> VolumePlugin | None:
        matches = [p for p in self.plugins if p.can_support(spec)]
        return matches[0] if len(matches) == 1 else None

    def find_attachable_plugin_by_spec(self, spec: Spec) -> VolumePlugin | None:
        plugin = self.find_plugin_by_spec(spec)
        return plugin if plugin is not None and plugin.attachable else None

    def find_plugin_by_name(self, name: str) -> VolumePlugin | None:
        for p in self.plugins:
            if p.name == name:
                return p
        return None

    def find_provisionable_plugin_by_name(self, name: str) -> VolumePlugin | None:
        """The in-tree plugin provisioning for a class's provisioner name (kvolt.io/nfs names the NFS plugin)."""
        for plugin in self.plugins:
            if name in plugin.provisioner_names:
                return plugin
        return None

    def find_expandable_plugin_by_spec(self, spec: Spec) -> VolumePlugin | None:
        plugin = self.find_plugin_by_spec(spec)
        return plugin if plugin is not None and plugin.expandable else None
