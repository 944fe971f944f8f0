"""A spec is data, never code.

Specs whose identifiers, doc comments, comments, `extends` paths, enum members, instance and
model names carry Python payloads (dunder names, Python keywords, the names the generated code
itself uses, quotes, backslashes, newlines, format strings, shell syntax) must check normally
or fail with a clean error, and execute nothing: sentinel files are never created, and
`os.system`, `os.popen`, `subprocess.Popen`, `os.exec*`, `os.spawn*` and `os.fork` raise if
anything calls them while a payload is processed.

The generated Python (the scalar engine's `compiled.sources` and the vector engine's source)
is tokenized: every NAME is from a fixed allowlist (or a generated temporary like `f3`, `o2`,
`_T0`), and there is no STRING or COMMENT token, so no name or text of a spec reaches it.
"""

from __future__ import annotations

import builtins
import io
import json
import keyword
import os
import random
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest
import reference
from strategies import RandomSpecGen

from kvolt.checker.build import choose_model
from kvolt.checker.compiler import CompiledModel, compile_model
from kvolt.checker.engine import ExplorationError, Options
from kvolt.checker.explicit import vector as vector_module
from kvolt.checker.explicit.explorer import explore
from kvolt.checker.explicit.vector import compile_vector
from kvolt.checker.explicit.vector_search import explore_vector
from kvolt.checker.frontend.diagnostics import SourceMap, SpecError, render_all
from kvolt.checker.frontend.loader import load_text
from kvolt.checker.frontend.resolver import resolve
from kvolt.checker.views.traces import load_trace, trace_to_itf, write_trace

ROOT = Path(__file__).parent.parent

# ---------------------------------------------------------------- the payloads


def payloads(sentinel: Path) -> list[str]:
    """Python (and shell) code that creates `sentinel` if it is ever executed."""
    s = str(sentinel)
    return [
        f"__import__('os').system('touch {s}')",
        f"exec(\"open('{s}', 'w').close()\")",
        f"eval(compile(\"__import__('pathlib').Path('{s}').touch()\", 'x', 'exec'))",
        f"\"\"\"; __import__('os').system('touch {s}'); \"\"\"",
        f"'''; __import__('subprocess').call(['touch', '{s}']); '''",
        f"'); __import__('os').system('touch {s}'); ('",
        f"$(touch {s}) `touch {s}` ; touch {s} #",
        f"{{0.__class__.__mro__[1].__subclasses__}} %s %(x)s {{self}} \\\\ \\n \\\" \\' \\x00 open('{s}','w')",
        f"</script><script>fetch('{s}')</script> <img src=x onerror=alert(1)> [/bold] [link=file://{s}]x[/link]",
    ]


def payload_spec(sentinel: Path) -> str:
    """A valid spec that uses Python-significant words as every kind of name, with payload docs."""
    docs = payloads(sentinel)

    def doc(i: int) -> str:
        return f"/// {docs[i % len(docs)]}"

    return f"""// {docs[0]}
// {docs[3]}
{doc(1)}
{doc(2)}
enum __builtins__ {{ __import__, eval, system }}
enum lambda {{ exec, __class__, None, True, import, lambda, __name__, __file__ }}

{doc(3)}
kind __class__ {{
  finalizers __del__, __reduce__, os
  {doc(4)}
  __dict__: bool
  s: 0..2
  t: __builtins__ = eval
  out: __class__
  import: set of __builtins__
  lambda: set of __class__
  _E: bool
  const __globals__: 0..1 = 1
}}

kind def {{
  class: __class__
  return: bool
}}

{doc(5)}
actor eval per __class__ {{
  cache def writethrough
  {doc(6)}
  action exec(__import__: __builtins__, _nn: 0..2, pass: def) {{
    require self.exists and _nn <= self.__globals__ + 1
    self.t := __import__
    self.s := min(_nn, 2)
    self.import := {{__import__}}
    pass.return := not pass.return
  }}
  {doc(7)}
  action __init__(o1: __class__) {{
    require o1 != self and o1.exists
    self.out := o1
    self.lambda := self.lambda + {{o1}}
    patch add finalizer __reduce__ to self
  }}
}}

{doc(8)}
actor subprocess {{
  action Popen(f0: __class__) {{
    if f0.exists {{ remove finalizer os from f0 }} else {{ create f0 {{ __dict__ = true, finalizers = {{os, __del__}} }} }}
  }}
  action system(x: __class__) {{ delete x }}
}}

{doc(0)}
invariant __import__: forall x: __class__ | x.t != system or not x.__dict__
{doc(1)}
invariant _T0: count(x: __class__ | x.exists) <= 1

{doc(2)}
model __main__ default {{
  __class__ = {{getattr, setattr}}
  def = {{compile}}
  const setattr.__globals__ = 0
  init getattr {{ t = one of {{eval, system}}, finalizers = {{os}} }}
  init compile {{ class = setattr }}
  constraint count(x: __class__ | x.s == 2) <= 1
}}
"""


def invalid_payload_specs(sentinel: Path) -> list[str]:
    """Payloads where the language expects names or paths: each must be refused cleanly."""
    p = payloads(sentinel)
    return [
        f'extends "{p[0]}.kvolt"\nkind K {{ }}',
        f'extends "{p[6]}.kvolt"\nkind K {{ }}',
        f'extends "builtin:../{p[5]}.kvolt"\nkind K {{ }}',
        f'extends "{p[0]}"\nkind K {{ }}',
        f"kind K {{ b: bool }}\ninvariant i: {p[0]}",
        f"kind K {{ b: bool }}\nactor a {{ action x(k: K) {{ k.b := {p[1]} }} }}",
        f"enum E {{ {p[0]} }}",
        f"kind K {{ }}\nmodel m {{ K = {{ {p[5]} }} }}",
        f"kind {p[2]} {{ }}",
        f"kind K {{ b: bool }}\nmodel m {{ K = 1 init k1 {{ b = {p[0]} }} }}",
        "kind K { b: bool }\ninvariant i: __import__('os').system('x') == 0",
        "kind K { b: bool }\ninvariant i: K.__class__.__bases__",
        "kind K { b: bool }\ninvariant i: forall k: K | k.__class__",
        "kind K { b: bool }\ninvariant i: eval(1)",
        "kind K { b: bool }\ninvariant i: size(__builtins__)",
        'kind K { b: bool }\ninvariant i: "__import__"',
        "kind K { b: bool }\nactor a { action x(k: K) { let y = __import__  k.b := y } }",
    ]


# ---------------------------------------------------------------- nothing may run


class Executed(Exception):
    pass


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a payload was executed"


@pytest.fixture
def no_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every way of starting a program or a shell fail loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise Executed(f"something tried to run {args!r}")

    monkeypatch.setattr(os, "system", refuse)
    monkeypatch.setattr(os, "popen", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    for name in dir(os):
        if re.fullmatch(r"exec[lv]p?e?|spawn[lv]p?e?|fork|forkpty|posix_spawnp?", name):
            monkeypatch.setattr(os, name, refuse)
    real_import = builtins.__import__

    def guarded_import(name: str, *args: object, **kwargs: object) -> object:
        if name in ("pty", "ctypes", "webbrowser"):
            raise Executed(f"something imported {name}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded_import)


def _load(text: str, name: str, sources: SourceMap | None = None):
    spec = resolve(load_text(text, name, sources))
    return spec, choose_model(spec, None)


# ---------------------------------------------------------------- (a) + (b): check the payload spec


@pytest.mark.usefixtures("no_exec")
def test_payload_spec_checks_and_runs_nothing(sentinel: Path, tmp_path: Path) -> None:
    text = payload_spec(sentinel)
    spec, model = _load(text, str(tmp_path / "payload.kvolt"))
    assert [k.name for k in spec.kinds] == ["__class__", "def"]
    assert model.ids("__class__") == ("getattr", "setattr")
    compiled = compile_model(spec, model)
    options = Options(stop_at_first=False, symmetry=False, max_states=3000)
    scalar = explore(compiled, options)
    vector, _ = explore_vector(compiled, options)
    assert scalar.verdict == vector.verdict == "violation"
    assert {v.property for v in scalar.violations} == {v.property for v in vector.violations} == {"__import__", "_T0"}
    assert any("__import__('os')" in v.doc for v in scalar.violations)  # docs are kept verbatim, as text
    # the traces carry the payload docs as JSON strings, and read back unchanged
    for violation in scalar.violations:
        path = tmp_path / "out" / f"{violation.property}.itf.json"
        write_trace(path, trace_to_itf(compiled, violation.trace, "payload", (violation.property, violation.doc)))
        assert load_trace(path).meta["violated"]["doc"] == violation.doc
        json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.usefixtures("no_exec")
def test_payload_spec_agrees_with_the_reference(sentinel: Path) -> None:
    """Names like `s`, `t`, `out`, `_E`, `None` mean nothing special to the compiled engine."""
    from test_differential import compare

    ref = compare(payload_spec(sentinel), max_states=1500)
    assert ref.states and ref.violated == {"__import__", "_T0"}


@pytest.mark.usefixtures("no_exec")
def test_payloads_in_names_and_paths_are_refused_cleanly(sentinel: Path, tmp_path: Path) -> None:
    for index, text in enumerate(invalid_payload_specs(sentinel)):
        name = str(tmp_path / f"bad{index}.kvolt")
        sources = SourceMap()
        with pytest.raises(SpecError) as caught:
            _load(text, name, sources)
        rendered = render_all(caught.value, sources)
        assert re.search(r"error\[[PLRTSMXI]\d{3}\]", rendered), rendered
        assert not sentinel.exists(), text


@pytest.mark.usefixtures("no_exec")
def test_payload_spec_through_the_command_line(sentinel: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The whole CLI path in this process (so the guards apply): check, show, narrate, diagram, html."""
    from kvolt.cli import main

    spec = tmp_path / "payload.kvolt"
    spec.write_text(payload_spec(sentinel), encoding="utf-8")
    out = tmp_path / "out"

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["kvolt", *args])
        return main()

    for engine in ("vector", "scalar"):
        assert run("check", str(spec), "--engine", engine, "--continue", "--out", str(out),
                   "-q") == 1
    traces = sorted(out.glob("*.itf.json"))
    assert {t.name for t in traces} == {"__import__.itf.json", "_T0.itf.json"}
    for trace in traces:
        assert run("show", str(trace)) == 0
        assert run("show", "--narrate", str(trace)) == 0
        assert run("diagram", str(trace)) == 0
        page = tmp_path / f"{trace.stem}.html"
        assert run("html", str(trace), "-o", str(page)) == 0
        html = page.read_text(encoding="utf-8")
        assert "<script>fetch(" not in html and "<img src=x" not in html  # docs are escaped in the page
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "internal error" not in captured.err


def test_payload_spec_in_a_subprocess(sentinel: Path, tmp_path: Path) -> None:
    """And once as a real process, with a payload in the file name too."""
    spec = tmp_path / "$(touch PWNED2) `touch PWNED3`; '__import__(\"os\")'.kvolt"
    spec.write_text(payload_spec(sentinel), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "kvolt", "check", str(spec), "--continue",
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "PWNED2").exists() and not (tmp_path / "PWNED3").exists()
    bad = tmp_path / "bad.kvolt"
    bad.write_text(invalid_payload_specs(sentinel)[0], encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "kvolt", "check", str(bad)], capture_output=True, text=True,
                            timeout=120, cwd=tmp_path)
    assert result.returncode == 2 and "error[L001]" in result.stderr and "Traceback" not in result.stderr


# ---------------------------------------------------------------- the generated code


# The scalar compiler's vocabulary (see _check_generated in checker/compiler.py), fixed here so
# that a change to what it emits is a visible decision, not a silent widening.
SCALAR_NAMES = {"def", "return", "if", "else", "elif", "and", "or", "not", "while", "True", "False", "break",
                "None", "for", "in", "pass", "s", "t", "out", "append", "bit_count",
                "_E", "_nn", "_rbit", "_inref", "_rng", "_pb", "min", "max", "tuple", "list", "int"}
SCALAR_GENERATED = re.compile(r"^(?:[ot]\d+|f\d+|_T\d+|_M\d+)$")
# The vector compiler is still growing helpers, so its allowlist is its own (checker/explicit/vector.py),
# constrained here: only keywords, a few local names, and the helpers its namespace defines.
VECTOR_NAMES: set[str] = set(vector_module._ALLOWED)
VECTOR_GENERATED: re.Pattern[str] = vector_module._GENERATED
VECTOR_LOCALS = {"F", "P", "T", "ok", "idx", "m", "out", "n", "copy", "size", "append", "len", "range"}
NEVER = {"import", "lambda", "exec", "eval", "compile", "open", "getattr", "setattr", "globals", "__import__",
         "__builtins__", "__class__", "system", "os", "subprocess"}


def assert_only_our_names(source: str, allowed: set[str], generated: re.Pattern[str]) -> set[str]:
    names = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        assert token.type not in (tokenize.STRING, tokenize.COMMENT), f"text in generated code: {token.string!r}"
        if token.type == tokenize.NAME:
            assert token.string in allowed or generated.match(token.string), f"unexpected name {token.string!r}"
            assert token.string not in NEVER and not token.string.startswith("__"), token.string
            names.add(token.string)
        if token.type == tokenize.OP:
            assert token.string not in ("@", ":=", "lambda"), token.string
    return names


def _compiled_models(sentinel: Path) -> Iterator[tuple[str, CompiledModel]]:
    spec, model = _load(payload_spec(sentinel), "payload.kvolt")
    yield "payload", compile_model(spec, model)
    for path in sorted((ROOT / "spec" / "examples").glob("*.kvolt")):
        spec = resolve(load_text(path.read_text(encoding="utf-8"), str(path)))
        for model in spec.models:
            yield f"{path.name}:{model.name}", compile_model(spec, model)
    for seed in range(8):
        spec, model = _load(RandomSpecGen(random.Random(seed)).spec(symmetric=seed % 2 == 0), f"gen{seed}.kvolt")
        yield f"generated{seed}", compile_model(spec, model)


@pytest.mark.usefixtures("no_exec")
def test_generated_code_holds_no_spec_text(sentinel: Path) -> None:
    checked = 0
    payload_names = {"__builtins__", "__class__", "__import__", "eval", "exec", "system", "getattr", "setattr",
                     "compile", "subprocess", "Popen", "__dict__", "__globals__", "__reduce__", "__del__", "import",
                     "lambda", "class", "__main__", "__init__"}
    for label, compiled in _compiled_models(sentinel):
        assert compiled.sources, label
        used: set[str] = set()
        for source in compiled.sources:
            used |= assert_only_our_names(source, SCALAR_NAMES, SCALAR_GENERATED)
        vector = compile_vector(compiled)
        used_vector = assert_only_our_names(vector.source, VECTOR_NAMES, VECTOR_GENERATED)
        assert not (used | used_vector) & payload_names, label
        checked += 1
    assert checked >= 10


def test_the_vector_allowlist_is_only_keywords_locals_and_helpers() -> None:
    helpers = set(vector_module._namespace())
    for name in VECTOR_NAMES:
        assert keyword.iskeyword(name) or name in VECTOR_LOCALS or name in helpers, name
        assert name not in NEVER and not name.startswith("__"), name
    assert not VECTOR_GENERATED.match("__import__") and not VECTOR_GENERATED.match("eval")
    for name, helper in vector_module._namespace().items():
        assert helper not in (eval, exec, compile, open, getattr, setattr, __import__), name


def test_the_allowlists_are_not_vacuous(sentinel: Path) -> None:
    """The tokenizer check does see the generated functions (and would see a smuggled name)."""
    spec, model = _load(payload_spec(sentinel), "payload.kvolt")
    compiled = compile_model(spec, model)
    names = set()
    for source in compiled.sources:
        names |= assert_only_our_names(source, SCALAR_NAMES, SCALAR_GENERATED)
    assert {"def", "s", "out", "append"} <= names
    with pytest.raises(AssertionError):
        assert_only_our_names(compiled.sources[0] + "\nx = __import__('os')\n", SCALAR_NAMES, SCALAR_GENERATED)
    with pytest.raises(AssertionError):
        assert_only_our_names(compiled.sources[0] + "\n# __import__\n", SCALAR_NAMES, SCALAR_GENERATED)


@pytest.mark.usefixtures("no_exec")
def test_runtime_error_messages_quote_names_as_text(sentinel: Path) -> None:
    """A runtime error names the payload field, as text, through the error path of generated code."""
    text = """
kind __class__ { __import__: __class__  eval: bool }
actor os { action system(x: __class__) { x.eval := x.__import__.eval } }
model m { __class__ = 1 init __class__1 }
"""
    spec, model = _load(text, "err.kvolt")
    with pytest.raises(ExplorationError) as caught:
        explore(compile_model(spec, model), Options())
    assert "'eval' of none" in caught.value.message
    assert reference.explore(spec, model).error_kinds == {"none"}


@pytest.mark.parametrize("source", ["def v1(F):\n    return __import__\n", "def v1(F):\n    return F.__class__\n",
                                    "def v1(F):\n    return 'x'\n", "def v1(F):\n    return F  # note\n",
                                    "def v1(F):\n    return os.system\n"])
def test_the_vector_compilers_own_check_refuses_foreign_names_and_text(source: str) -> None:
    """checker/explicit/vector.py checks what it generates with a regular expression (tokenize was too slow)."""
    with pytest.raises(AssertionError):
        vector_module._check_generated(source)


def test_the_vector_compilers_own_check_accepts_numbers_and_attributes() -> None:
    vector_module._check_generated("def v1(F):\n    return (F[:, 3] == 1e5) & F.T[0] & _ones(len(F))\n")
