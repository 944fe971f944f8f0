"""The conformance benchmark: `python bench/conform.py` (from the repository root).

Times what CI checks in both directions on the corpus traces/: every trace with `kvolt conform`
(spec/conformance.kvolt, --max-hidden 1: recordings in partial mode, spec walks in exact mode), then
`kvolt replay` of every spec walk on the implementation. Prints one line per trace family and the
totals. Figures are measured, never asserted (this machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

from kvolt.checker.build import choose_model, load_spec
from kvolt.checker.compiler import compile_model
from kvolt.checker.conformance import ConformOptions, conform
from kvolt.checker.frontend.diagnostics import SourceMap
from kvolt.checker.views.traces import load_trace
from kvolt.impl.replay import replay
from kvolt.impl.tools.make_corpus import MAX_HIDDEN

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", default=str(ROOT / "traces"), help="the corpus folder")
    args = parser.parse_args()
    spec = load_spec(ROOT / "spec" / "conformance.kvolt", SourceMap())
    models = {}
    families: dict[str, list[float]] = defaultdict(list)
    modes: dict[str, str] = {}
    peak = 0
    start = time.perf_counter()
    paths = sorted(Path(args.traces).glob("*.itf.json"))
    for path in paths:
        trace = load_trace(path)
        name = str(trace.meta["model"])
        if name not in models:
            models[name] = compile_model(spec, choose_model(spec, name))
        began = time.perf_counter()
        result = conform(models[name], trace, ConformOptions(max_hidden=MAX_HIDDEN))
        if not result.ok:
            raise SystemExit(f"{path.name} does not conform at step {result.failed_step}: {result.message}")
        family = path.name.rsplit("-s", 1)[0]
        families[family].append(time.perf_counter() - began)
        modes[family] = result.mode
        peak = max(peak, result.candidates_peak)
    conform_seconds = time.perf_counter() - start
    print(f"conform: {len(paths)} traces in {conform_seconds:.1f} s (--max-hidden {MAX_HIDDEN}, "
          f"at most {peak:,} candidate spec states at once)")
    for family, times in sorted(families.items()):
        print(f"  {family:<16} {len(times):>3} traces  {modes[family]:<8} {sum(times):6.2f} s  "
              f"(slowest {max(times):.2f} s)")
    start = time.perf_counter()
    walks = [p for p in paths if p.name.startswith("walk-")]
    steps = 0
    for path in walks:
        document = json.loads(path.read_text())
        result = replay(models[document["#meta"]["model"]], document, name=path.name)
        if not result.ok:
            raise SystemExit(f"{path.name} does not replay: step {result.failed_step}: {result.message}")
        steps += len(result.steps) - 1
    seconds = time.perf_counter() - start
    print(f"replay: {len(walks)} spec walks, {steps} steps in {seconds:.1f} s ({steps / seconds:.0f} spec steps/s)")


if __name__ == "__main__":
    main()
