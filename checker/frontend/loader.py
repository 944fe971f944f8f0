"""Read spec files and merge a variant (`extends`) onto its base, still at the AST level.

A variant may add enums, kinds, actors, invariants, properties and models; inside a re-opened actor
it may add, `override` or `remove` actions and add caches; at the top level it may `override` or
`remove` invariants, properties and models, and add fairness declarations (which come after the
base's, so they win). Anything else that redefines a base name is an error.
"""

from __future__ import annotations

from dataclasses import replace
from importlib import resources
from pathlib import Path

from kvolt.checker.frontend import syntax as ast
from kvolt.checker.frontend.diagnostics import Diagnostic, SourceMap, Span, SpecError, did_you_mean
from kvolt.checker.frontend.parser import parse_module

BUILTIN_PREFIX = "builtin:"
MAX_EXTENDS_DEPTH = 16


def builtin_spec_path(name: str = "volume_lifecycle.kvolt") -> Path:
    """The path of a spec shipped inside the package."""
    return Path(str(resources.files("kvolt.spec").joinpath(name)))


def load_module(path: str | Path, sources: SourceMap | None = None) -> ast.Module:
    """Parse a spec file and every file it extends; return one merged module."""
    sources = sources if sources is not None else SourceMap()
    return _load(Path(path), sources, [], None)


def load_text(text: str, name: str, sources: SourceMap | None = None) -> ast.Module:
    """Parse spec text given directly (tests, fuzzing); `extends` resolves from the cwd."""
    sources = sources if sources is not None else SourceMap()
    sources.add(name, text)
    module = parse_module(text, name)
    return _with_base(module, Path(name), sources, [name])


def _load(path: Path, sources: SourceMap, chain: list[str], span: Span | None) -> ast.Module:
    name = str(path)
    if name in chain:
        raise SpecError(Diagnostic("L002", f"'{name}' extends itself (through {' -> '.join(chain)})", span))
    if len(chain) > MAX_EXTENDS_DEPTH:
        raise SpecError(Diagnostic("L002", "variants are nested too deeply", span))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(Diagnostic("L001", f"spec file not found: {name}", span)) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise SpecError(Diagnostic("L001", f"cannot read spec file {name}: {reason}", span)) from None
    sources.add(name, text)
    module = parse_module(text, name)
    return _with_base(module, path, sources, [*chain, name])


def _with_base(module: ast.Module, path: Path, sources: SourceMap, chain: list[str]) -> ast.Module:
    if module.extends is None:
        _check_no_variant_syntax(module)
        return module
    base_path = _resolve_extends(module.extends, path, module.extends_span)
    base = _load(base_path, sources, chain, module.extends_span)
    return merge(base, module)


def _resolve_extends(target: str, path: Path, span: Span | None) -> Path:
    if not target.endswith(".kvolt"):
        raise SpecError(Diagnostic("L003", f"extends needs a .kvolt file, not '{target}'", span))
    if target.startswith(BUILTIN_PREFIX):
        return builtin_spec_path(target[len(BUILTIN_PREFIX):])
    candidate = Path(target)
    return candidate if candidate.is_absolute() else path.parent / candidate


def _check_no_variant_syntax(module: ast.Module) -> None:
    """`override` and `remove` only make sense in a file that extends another."""
    for actor in module.actors:
        for action in actor.actions:
            if action.mode != "new":
                raise SpecError(Diagnostic("L010", f"'{action.mode} action' needs a base spec: add 'extends \"...\"'",
                                           action.span))
    for item in (*module.invariants, *module.models, *module.properties):
        if item.mode != "new":
            raise SpecError(Diagnostic("L010", f"'{item.mode}' needs a base spec: add 'extends \"...\"'", item.span))


def merge(base: ast.Module, variant: ast.Module) -> ast.Module:
    """Apply a variant's declarations onto its base module."""
    errors: list[Diagnostic] = []
    enums = _add_only(base.enums, variant.enums, "enum", errors)
    kinds = _add_only(base.kinds, variant.kinds, "kind", errors)
    actors = _merge_actors(base.actors, variant.actors, errors)
    invariants = _merge_named(base.invariants, variant.invariants, "invariant", errors)
    models = _merge_named(base.models, variant.models, "model", errors)
    properties = _merge_named(base.properties, variant.properties, "property", errors)
    if errors:
        raise SpecError(errors)
    return ast.Module(variant.file, None, None, enums, kinds, actors, invariants, models, variant.expect, "",
                      properties, base.fairness + variant.fairness, variant.check_on)


def _add_only(base: tuple, added: tuple, what: str, errors: list[Diagnostic]) -> tuple:
    names = {item.name for item in base}
    for item in added:
        if item.name in names:
            errors.append(Diagnostic("L011", f"{what} '{item.name}' is already declared in the base spec", item.span,
                                     (f"a variant cannot redefine a {what}; add a new one instead",)))
    return (*base, *added)


def _merge_named(base: tuple, changes: tuple, what: str, errors: list[Diagnostic]) -> tuple:
    items = {item.name: item for item in base}
    for change in changes:
        exists = change.name in items
        if change.mode == "new" and exists:
            errors.append(Diagnostic("L011", f"{what} '{change.name}' is already declared in the base spec",
                                     change.span, (f"write 'override {what} {change.name}' to replace it",)))
        elif change.mode != "new" and not exists:
            errors.append(Diagnostic("L012", f"cannot {change.mode} {what} '{change.name}': the base spec has no such {what}",
                                     change.span, did_you_mean(change.name, list(items))))
        elif change.mode == "remove":
            del items[change.name]
        else:
            items[change.name] = replace(change, mode="new")
    return tuple(items.values())


def _merge_actors(base: tuple[ast.ActorDecl, ...], changes: tuple[ast.ActorDecl, ...],
                  errors: list[Diagnostic]) -> tuple[ast.ActorDecl, ...]:
    actors = {a.name: a for a in base}
    for change in changes:
        existing = actors.get(change.name)
        if existing is None:
            for action in change.actions:
                if action.mode != "new":
                    errors.append(Diagnostic("L012", f"cannot {action.mode} action '{action.name}': the base spec has "
                                             f"no actor '{change.name}'", action.span, did_you_mean(change.name, list(actors))))
            actors[change.name] = change
            continue
        if change.per is not None and change.per != existing.per:
            errors.append(Diagnostic("L013", f"actor '{change.name}' is 'per {existing.per}' in the base spec",
                                     change.per_span))
        merged = _merge_named(existing.actions, change.actions, "action", errors)
        actors[change.name] = replace(existing, caches=existing.caches + change.caches, actions=merged,
                                      doc=change.doc or existing.doc)
    return tuple(actors.values())
