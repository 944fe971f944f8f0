"""Fuzzing the front end: whatever text comes in, the result is a spec or a clean SpecError.

Inputs: random text, soups of the language's own tokens, and mutations (character and token
deletions, insertions, swaps, duplications, truncations) of valid specs (the shipped examples
and generated ones). Each must end in a resolved spec (then its default model is compiled, by
the scalar and the vector compiler) or in a `SpecError` whose every diagnostic has a stable code
and a span in a file that was read, and renders through `render_all` quoting that location.
Any other exception is a bug. A few inputs also go through the real command line: exit 2, a
rendered error, no traceback.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import RandomSpecGen

from kvolt.checker.build import choose_model
from kvolt.checker.compiler import compile_model
from kvolt.checker.explicit.vector import compile_vector
from kvolt.checker.frontend.diagnostics import SourceMap, SpecError, render_all
from kvolt.checker.frontend.loader import load_text
from kvolt.checker.frontend.resolver import resolve

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "spec" / "examples"
CODE = re.compile(r"^[PLRTSMXI]\d{3}$")

KEYWORDS = [
    "extends", "expect", "violation", "enum", "kind", "finalizers", "const", "bool", "set", "of", "module",
    "actor", "per", "cache", "writethrough", "action", "override", "remove", "require", "let", "create",
    "delete", "add", "finalizer", "to", "from", "if", "else", "patch", "invariant", "model", "default", "one",
    "constraint", "symmetric", "check", "include", "implies", "or", "and", "not", "forall", "exists", "in",
    "true", "false", "none", "count", "then", "self", "live", "size", "min", "max",
]
PUNCTUATION = ["{", "}", "(", ")", ",", ":", "=", ":=", ".", "..", "|", ";", "==", "!=", "<=", ">=", "<", ">",
               "+", "-", "&", "\n", "//", "///", '"', "'", "\\", "@", "#", "$"]
NAMES = ["K", "Ka", "x", "y", "k1", "pv1", "Phase", "Bound", "f", "_", "__class__", "é", "名前"]
NUMBERS = ["0", "1", "2", "3", "62", "63", "99999999999999999999", "007"]
STRINGS = ['"a.kvolt"', '"builtin:volume_lifecycle.kvolt"', '"../x.kvolt"', '"nope"', '""']
INSERTED = list("{}()[],:;=.|<>+-&!\"'\\/#@$%^*~`?\n\t 0123456789aZ_é\x00\u2028")
VOCABULARY = KEYWORDS + PUNCTUATION + NAMES + NUMBERS + STRINGS

def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _valid_specs() -> list[tuple[str, str]]:
    """(file name, text) of valid specs to mutate: the small shipped examples and generated ones."""
    specs = [(str(path), path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES.glob("*.kvolt"))
             if path.stat().st_size < 20_000]
    for seed in range(6):
        specs.append((f"generated{seed}.kvolt", RandomSpecGen(random.Random(seed)).spec(symmetric=seed % 3 == 0)))
    return specs


VALID = _valid_specs()
BUILTIN = ROOT / "spec" / "volume_lifecycle.kvolt"


# ---------------------------------------------------------------- the property


def _check_diagnostics(error: SpecError, sources: SourceMap) -> str:
    rendered = render_all(error, sources)
    assert isinstance(rendered, str) and rendered
    assert error.diagnostics
    for diagnostic in error.diagnostics:
        assert CODE.match(diagnostic.code), diagnostic
        span = diagnostic.span
        assert span is not None, f"diagnostic without a location: {diagnostic}"
        assert span.file in sources.texts, f"span names a file that was not read: {span}"
        lines = sources.texts[span.file].splitlines()
        assert 1 <= span.line <= max(len(lines), 1) + 1, f"line out of the file: {span}"
        assert span.column >= 1, span
        assert f"--> {span.file}:{span.line}:{span.column}" in rendered
    return rendered


def front_end(text: str, name: str = "fuzz.kvolt") -> str:
    """Load, resolve and compile `text`; return "spec" or "error", asserting that nothing else happens."""
    sources = SourceMap()
    try:
        spec = resolve(load_text(text, name, sources))
    except SpecError as error:
        _check_diagnostics(error, sources)
        return "error"
    # a resolved spec: its model compiles (unless it quantifies over huge ranges, see notes #5)
    if spec.models and not re.search(r"\d{5,}", text):
        try:
            model = choose_model(spec, None)
        except SpecError:  # several models and none is default
            model = spec.models[0]
        compiled = compile_model(spec, model)
        compile_vector(compiled)
    return "spec"


# ---------------------------------------------------------------- mutations


def _tokens(text: str) -> list[str]:
    return re.findall(r"\s+|//[^\n]*|\"[^\"\n]*\"|:=|\.\.|==|!=|<=|>=|\w+|\S", text)


@st.composite
def mutated(draw: st.DrawFn, sources: list[tuple[str, str]] | None = None) -> tuple[str, str]:
    name, text = draw(st.sampled_from(sources or VALID))
    for _ in range(draw(st.integers(1, 3))):
        operation = draw(st.sampled_from(["delete_chars", "insert_chars", "swap_chars", "duplicate", "truncate",
                                          "delete_token", "insert_token", "replace_token", "swap_tokens",
                                          "rename", "rename"]))
        if operation in ("delete_chars", "insert_chars", "swap_chars", "duplicate", "truncate"):
            if not text:
                continue
            i = draw(st.integers(0, len(text) - 1))
            j = min(len(text), i + draw(st.integers(1, 12)))
            if operation == "delete_chars":
                text = text[:i] + text[j:]
            elif operation == "insert_chars":
                text = text[:i] + draw(st.text(alphabet=st.sampled_from(INSERTED), min_size=1, max_size=4)) + text[i:]
            elif operation == "swap_chars":
                k = draw(st.integers(0, len(text) - 1))
                chars = list(text)
                chars[i], chars[k] = chars[k], chars[i]
                text = "".join(chars)
            elif operation == "duplicate":
                text = text[:j] + text[i:j] + text[j:]
            else:
                text = text[:i]
        else:
            tokens = _tokens(text)
            if not tokens:
                continue
            i = draw(st.integers(0, len(tokens) - 1))
            if operation == "delete_token":
                del tokens[i]
            elif operation == "insert_token":
                tokens.insert(i, " " + draw(st.sampled_from(VOCABULARY + tokens)) + " ")
            elif operation == "replace_token":
                tokens[i] = draw(st.sampled_from(VOCABULARY + tokens))
            elif operation == "rename":  # one word for another: stays parseable, breaks names and types
                words = [k for k, token in enumerate(tokens) if re.fullmatch(r"\w+", token)]
                if not words:
                    continue
                i = draw(st.sampled_from(words))
                tokens[i] = draw(st.sampled_from([tokens[k] for k in words] + NAMES + NUMBERS + KEYWORDS[:8]))
            else:
                k = draw(st.integers(0, len(tokens) - 1))
                tokens[i], tokens[k] = tokens[k], tokens[i]
            text = "".join(tokens)
    return name, text


token_soup = st.lists(st.sampled_from(VOCABULARY), max_size=60).map(" ".join)


# ---------------------------------------------------------------- the tests


@fuzz(200)
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    front_end(text)


@fuzz(300)
@given(token_soup)
def test_token_soup(text: str) -> None:
    front_end(text)


@fuzz(600)
@given(mutated())
def test_mutated_specs(case: tuple[str, str]) -> None:
    name, text = case
    front_end(text, name)


@pytest.mark.skipif(not BUILTIN.exists(), reason="no built-in spec")
@fuzz(15)
@given(mutated([(str(BUILTIN), BUILTIN.read_text(encoding="utf-8"))] if BUILTIN.exists() else None))
def test_mutated_builtin_spec(case: tuple[str, str]) -> None:
    """The big shipped spec, mutated (few examples: it takes a while to compile)."""
    name, text = case
    front_end(text, name)


def test_valid_specs_are_valid() -> None:
    """The mutation seeds themselves load (so mutations start from something meaningful)."""
    assert len(VALID) >= 6
    for name, text in VALID:
        assert front_end(text, name) == "spec", name


@pytest.mark.parametrize("text", [
    "",
    "\x00",
    "kind",
    "kind K {",
    'extends "missing.kvolt"',
    'extends "fuzz.kvolt"\nkind K { }',
    "kind K { x: 3..1 }",
    "kind K { }\nmodel m { K = 99 }",
    "enum E { }",
    "kind K { b: bool }\ninvariant i: k.b",
    "kind K { b: bool }\nactor a { action x(k: K) { require k.b  k.b := 1 } }",
    "kind K { b: bool }\nmodel m { K = 1 init k2 }",
    "kind K { b: bool }\nmodel m { K = 1 }\nmodel m { K = 2 }",
    "\ufeffkind K { }",
    "kind K { b: bool }\r\ninvariant i: forall k: K | k.b\r\n",
])
def test_edge_cases(text: str) -> None:
    front_end(text)


@pytest.mark.parametrize("shape", ["and-chain", "not-chain", "nested-if"])
def test_long_expressions_are_handled_or_refused_cleanly(shape: str) -> None:
    n = 400
    text = {
        "and-chain": "kind K { b: bool }\ninvariant i: " + " and ".join(["true"] * n) + "\n",
        "not-chain": "kind K { b: bool }\ninvariant i: " + "not " * n + "true\n",
        "nested-if": "kind K { b: bool }\nactor a { action x(k: K) { " + "if k.b { " * n + "k.b := true"
                     + " }" * n + " } }\nmodel m { K = 1 }\n",
    }[shape]
    front_end(text)


# ---------------------------------------------------------------- the command line


def _broken_specs() -> list[str]:
    rng = random.Random(7)
    broken = [
        "kind K { b: bool ",
        "kind K { b: bool }\nactor a { action x(k: K) { k.c := true } }\nmodel m { K = 1 }\n",
        "kind K { b: bool }\ninvariant i: forall k: K | k.b and\nmodel m { K = 1 }\n",
        "\x00\x01\x02",
    ]
    while len(broken) < 7:  # mutations of valid specs that the front end refuses
        name, text = rng.choice(VALID)
        tokens = _tokens(text)
        del tokens[rng.randrange(len(tokens))]
        candidate = "".join(tokens)
        if "extends" not in candidate and front_end(candidate, name) == "error":
            broken.append(candidate)
    return broken


@pytest.mark.parametrize("index", range(7))
def test_cli_refuses_broken_specs_cleanly(index: int, tmp_path: Path) -> None:
    text = _broken_specs()[index]
    path = tmp_path / "broken.kvolt"
    path.write_text(text, encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "kvolt", "check", str(path), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert re.search(r"error\[[PLRTSMXI]\d{3}\]", result.stderr), result.stderr
    assert str(path) in result.stderr
