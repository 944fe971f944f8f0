"""Reading Kubernetes-style manifests (YAML or JSON) safely, with positions for errors.

Counterpart of the decoding done by kubectl / client-go's serializers, reduced to what kvolt
needs: `apiVersion`, `kind`, `metadata`, `spec`, `status` (and the top-level fields of
StorageClass), checked against the kinds the in-memory API server serves. YAML is read with
yaml.SafeLoader only (no arbitrary objects); every value keeps its line and column so an error
names the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kvolt.impl.api.resource import QuantityError
from kvolt.impl.api.types import KINDS, quantity, quantity_fields


class ManifestError(Exception):
    """Malformed input: `file:line:column: message`."""

    def __init__(self, message: str, file: str = "", line: int = 0, column: int = 0):
        super().__init__(message)
        self.message, self.file, self.line, self.column = message, file, line, column

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: " if self.file else ""
        return f"{where}{self.message}"


@dataclass
class Document:
    """Parsed data plus the position of every value, keyed by its path."""

    data: Any
    file: str
    marks: dict[tuple, tuple[int, int]]

    def where(self, path: tuple) -> tuple[int, int]:
        while path and path not in self.marks:
            path = path[:-1]
        return self.marks.get(path, (1, 1))

    def error(self, path: tuple, message: str) -> ManifestError:
        line, column = self.where(path)
        return ManifestError(message, self.file, line, column)


def _convert(node: yaml.Node, path: tuple, marks: dict, file: str) -> Any:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ManifestError("mapping keys must be plain strings", file, key_node.start_mark.line + 1,
                                    key_node.start_mark.column + 1)
            key = key_node.value
            if key in out:
                raise ManifestError(f"duplicate key {key!r}", file, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _convert(value_node, (*path, key), marks, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, (*path, i), marks, file) for i, v in enumerate(node.value)]
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node)
    finally:
        loader.dispose()


def load_document(path: Path) -> Document:
    """One YAML (or JSON, a YAML subset) document from a file."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"cannot read {name}: {error}", name, 1, 1) from None
    return parse_document(text, name)


def parse_document(text: str, name: str) -> Document:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ManifestError(f"not valid YAML: {error.problem or error}", name, line, column) from None
    except yaml.YAMLError as error:
        raise ManifestError(f"not valid YAML: {error}", name, 1, 1) from None
    if node is None:
        raise ManifestError("the file is empty", name, 1, 1)
    marks: dict[tuple, tuple[int, int]] = {}
    try:
        data = _convert(node, (), marks, name)
    except yaml.constructor.ConstructorError as error:
        mark = error.problem_mark
        raise ManifestError(f"unsupported value: {error.problem}", name, (mark.line + 1) if mark else 1,
                            (mark.column + 1) if mark else 1) from None
    return Document(data, name, marks)


_TOP = {"apiVersion", "kind", "metadata", "spec", "status"}
_SC_TOP = {"provisioner", "parameters", "reclaimPolicy", "allowVolumeExpansion", "volumeBindingMode", "mountOptions",
           "allowedTopologies"}
_META = {"name", "namespace", "uid", "resourceVersion", "labels", "annotations", "finalizers", "deletionTimestamp",
         "deletionGracePeriodSeconds", "generateName"}


def check_object(doc: Document, path: tuple, *, partial: bool = False) -> dict:
    """Validate one manifest found at `path` of `doc`; returns it. `partial` allows missing fields."""
    obj = doc.data
    for p in path:
        obj = obj[p]
    if not isinstance(obj, dict):
        raise doc.error(path, "a manifest must be a mapping with apiVersion, kind, metadata, ...")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise doc.error((*path, "kind"), f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
    allowed = _TOP | (_SC_TOP if kind == "StorageClass" else set())
    for key in obj:
        if key not in allowed:
            raise doc.error((*path, key), f"unknown field {key!r} in a {kind}")
    api_version = obj.get("apiVersion")
    if api_version is not None and api_version != KINDS[kind].api_version:
        raise doc.error((*path, "apiVersion"), f"apiVersion of a {kind} must be {KINDS[kind].api_version!r}, not {api_version!r}")
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta.get("name"):
        raise doc.error((*path, "metadata"), f"a {kind} needs metadata.name (a non-empty string)")
    for key in meta:
        if key not in _META:
            raise doc.error((*path, "metadata", key), f"unknown field {key!r} in metadata")
    if KINDS[kind].namespaced and not partial and not meta.get("namespace"):
        meta["namespace"] = "default"
    for key in ("labels", "annotations"):
        values = meta.get(key)
        if key in meta and not (partial and values is None) and (not isinstance(values, dict)
                            or not all(isinstance(v, str) or (partial and v is None) for v in values.values())):
            raise doc.error((*path, "metadata", key), f"metadata.{key} must map strings to strings")
    if "finalizers" in meta and not (partial and meta["finalizers"] is None) and (not isinstance(meta["finalizers"], list)
                                 or not all(isinstance(f, str) for f in meta["finalizers"])):
        raise doc.error((*path, "metadata", "finalizers"), "metadata.finalizers must be a list of strings")
    for section in ("spec", "status"):
        if section in obj and not isinstance(obj[section], dict):
            raise doc.error((*path, section), f"{section} must be a mapping")
    for qpath, value in quantity_fields(kind, obj):
        try:
            quantity(value)
        except QuantityError as error:
            raise doc.error((*path, *qpath), f"{'.'.join(qpath)}: not a quantity: {value!r} ({error.reason})") from None
    return obj


def load_manifests(path: Path) -> list[dict]:
    """A manifest file: one object, a list, or a `kind: List` with items."""
    doc = load_document(path)
    if isinstance(doc.data, list):
        return [check_object(doc, (i,)) for i in range(len(doc.data))]
    if isinstance(doc.data, dict) and doc.data.get("kind") == "List":
        return [check_object(doc, ("items", i)) for i in range(len(doc.data.get("items") or []))]
    return [check_object(doc, ())]
