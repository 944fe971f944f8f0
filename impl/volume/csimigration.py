"""Which in-tree volume plugins are migrated to CSI, and the CSI driver each one is migrated to.

Counterpart of pkg/volume/csimigration/plugin_manager.go (PluginManager.IsMigrationEnabledForPlugin)
and of k8s.io/csi-translation-lib (CSITranslator.GetCSINameFromInTreeName). In current Kubernetes
the migration of the cloud block and file plugins is complete (their feature gates are GA and
locked on), so the default manager says "migrated" for exactly those; kvolt's own plugins
(kvolt.io/fake-disk, kubernetes.io/local-volume, kubernetes.io/nfs) are never migrated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# k8s.io/csi-translation-lib/plugins: in-tree plugin name -> CSI driver name
IN_TREE_TO_CSI = {
    "kubernetes.io/gce-pd": "pd.csi.storage.gke.io",
    "kubernetes.io/aws-ebs": "ebs.csi.aws.com",
    "kubernetes.io/azure-disk": "disk.csi.azure.com",
    "kubernetes.io/azure-file": "file.csi.azure.com",
    "kubernetes.io/cinder": "cinder.csi.openstack.org",
    "kubernetes.io/vsphere-volume": "csi.vsphere.vmware.com",
    "kubernetes.io/portworx-volume": "pxd.portworx.com",
}
# the plugins whose CSIMigration<Plugin> gate is GA (portworx is still behind a gate that is off by default)
MIGRATED_BY_DEFAULT = frozenset(IN_TREE_TO_CSI) - {"kubernetes.io/portworx-volume"}


class TranslationError(Exception):
    pass


@dataclass(frozen=True)
class CSIMigratedPluginManager:
    """PluginManager: IsMigrationEnabledForPlugin, plus the translator's GetCSINameFromInTreeName."""

    migrated: frozenset[str] = field(default=MIGRATED_BY_DEFAULT)
    drivers: tuple[tuple[str, str], ...] = tuple(IN_TREE_TO_CSI.items())  # the translator's table

    def is_migration_enabled_for_plugin(self, plugin_name: str) -> bool:
        return plugin_name in self.migrated or "*" in self.migrated  # "*": every plugin, as the tests' fake manager

    def csi_name_from_in_tree_name(self, plugin_name: str) -> str:
        drivers = dict(self.drivers)
        plugin_name = plugin_name if plugin_name in drivers or "*" not in drivers else "*"
        if plugin_name not in drivers:
            raise TranslationError(f"could not find CSI Driver name for plugin {plugin_name}")
        return drivers[plugin_name]
