"""The front half of the pipeline in one call: load -> resolve -> choose a model -> compile."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from kvolt.checker.compiler import CompiledModel, compile_model
from kvolt.checker.frontend import ir
from kvolt.checker.frontend.diagnostics import Diagnostic, SourceMap, SpecError, did_you_mean
from kvolt.checker.frontend.loader import load_module
from kvolt.checker.frontend.resolver import resolve


@dataclass(frozen=True)
class Built:
    spec: ir.Spec
    model: ir.Model
    compiled: CompiledModel


def load_spec(path: str | Path, sources: SourceMap | None = None) -> ir.Spec:
    return resolve(load_module(path, sources))


def choose_model(spec: ir.Spec, name: str | None, invariants: tuple[str, ...] = (),
                 properties: tuple[str, ...] = ()) -> ir.Model:
    """The named model (else the first `check on model`, else the default), restricted to `invariants`/`properties`."""
    names = [m.name for m in spec.models]
    if not names:
        raise SpecError(Diagnostic("M010", f"{spec.file} declares no model",
                                   notes=("add one: model tiny default { KIND = 1 ... }",)))
    if name is None and spec.check_models:
        name = spec.check_models[0]  # a variant checked on a model of its own: the first it names
    if name is None:
        if not spec.default_model:
            raise SpecError(Diagnostic("M011", f"{spec.file} has several models and none is marked default",
                                       notes=(f"choose one with --model ({', '.join(names)})",)))
        name = spec.default_model
    model = spec.model(name)
    if model is None:
        raise SpecError(Diagnostic("M012", f"unknown model '{name}' in {spec.file}",
                                   notes=did_you_mean(name, names) or (f"models: {', '.join(names)}",)))
    if invariants or properties:
        known = [i.name for i in spec.invariants]
        for invariant in invariants:
            if invariant not in known:
                raise SpecError(Diagnostic("R008", f"unknown invariant '{invariant}' in {spec.file}",
                                           notes=did_you_mean(invariant, known) or (f"invariants: {', '.join(known)}",)))
        known_properties = [p.name for p in spec.properties]
        for prop in properties:
            if prop not in known_properties:
                listing = f"properties: {', '.join(known_properties)}" if known_properties else "the spec declares no property"
                raise SpecError(Diagnostic("R008", f"unknown property '{prop}' in {spec.file}",
                                           notes=did_you_mean(prop, known_properties) or (listing,)))
        model = replace(model, checks=tuple(dict.fromkeys(invariants)), properties=tuple(dict.fromkeys(properties)))
    return model


def build(path: str | Path, model_name: str | None = None, invariants: tuple[str, ...] = (),
          sources: SourceMap | None = None, properties: tuple[str, ...] = ()) -> Built:
    spec = load_spec(path, sources)
    model = choose_model(spec, model_name, invariants, properties)
    return Built(spec, model, compile_model(spec, model))
