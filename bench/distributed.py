"""The distributed engine against local workers: `python bench/distributed.py` prints the figures of
bench/README.md's distributed section.

For each model: one worker, two local workers (`--workers 2`) and two MPI ranks (`--cluster 2`,
started with MPICH's `mpiexec` on this machine), each configuration in a fresh process, repeated
and interleaved, the median reported. Then the bytes the ranks exchanged, per state and per level,
and from them and the one-worker time a projection of the speedup on 8 and 64 machines (the
network's bandwidth and latency are assumptions, printed with the result). `--ray` adds the cost
of one all-to-all exchange of the same sizes through Ray's object store, against MPI's Alltoallv.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
ONE = HERE / "one.py"
BANDWIDTH = 1.25e9  # bytes/s each machine sends and receives at once (10 Gbit/s Ethernet): an assumption
LATENCY = 50e-6  # seconds per exchange round between two machines: an assumption


def launcher() -> str:
    beside = Path(sys.executable).with_name("mpiexec")
    return str(beside) if beside.exists() else "mpiexec"


def run(model: str, mode: str) -> dict:
    command = [sys.executable, str(ONE), "--model", model, "--engine", "vector"]
    if mode == "workers2":
        command += ["--workers", "2"]
    elif mode == "cluster2":
        command = [launcher(), "-n", "2", *command, "--cluster"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def merge_seconds_per_state() -> float:
    """What rank 0 does alone per new state: merging the ranks' order keys (a stable argsort of int64)."""
    import numpy as np

    keys = np.random.default_rng(1).integers(0, 1 << 48, size=1 << 20)
    start = time.perf_counter()
    for _ in range(5):
        np.argsort(keys, kind="stable")
    return (time.perf_counter() - start) / 5 / len(keys)


def projection(one: dict, cluster: dict, machines: int, serial: float) -> float:
    """Speedup on `machines` ranks, one per machine, from the measured per-state compute time and bytes."""
    states, levels = one["distinct"], one["depth"] + 1
    compute = one["seconds"]
    crossing_all = 2 * cluster["bytes_exchanged"] / states  # bytes per state if every candidate crossed (half do on 2)
    per_rank_bytes = crossing_all * states * (machines - 1) / machines / machines
    network = per_rank_bytes / BANDWIDTH + levels * (cluster["exchanges"] / levels) * LATENCY * math.log2(machines)
    coordinator = states * (serial + 9 / BANDWIDTH)  # merge, and 8-byte order keys + 1-byte owners per state
    return compute / (compute / machines + network + coordinator)


def ray_exchange(sizes: int, rounds: int = 20) -> float | None:
    """Seconds for one two-party all-to-all of `sizes` bytes each way through Ray actors, or None without Ray."""
    try:
        import numpy as np
        import ray
    except ImportError:
        return None
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)

    @ray.remote
    class Rank:
        def __init__(self, size: int) -> None:
            self.data = np.ones(size, dtype=np.uint8)

        def put(self) -> list:
            return [ray.put(self.data)]

        def take(self, refs: list) -> int:
            return sum(len(ray.get(r)) for r in refs)

    ranks = [Rank.remote(sizes) for _ in range(2)]
    start = time.perf_counter()
    for _ in range(rounds):
        a, b = ray.get([r.put.remote() for r in ranks])
        ray.get([ranks[0].take.remote(b), ranks[1].take.remote(a)])
    seconds = (time.perf_counter() - start) / rounds
    ray.shutdown()
    return seconds


def mpi_exchange(sizes: int, rounds: int = 20) -> float:
    """The same exchange with MPI's Alltoallv between two local ranks."""
    script = f"""
import time, numpy as np
from mpi4py import MPI
c = MPI.COMM_WORLD
send = np.ones(2 * {sizes}, dtype=np.uint8); recv = np.empty_like(send)
counts = np.array([{sizes}, {sizes}]); offsets = np.array([0, {sizes}])
c.Barrier(); start = time.perf_counter()
for _ in range({rounds}):
    c.Alltoallv([send, counts, offsets, MPI.BYTE], [recv, counts, offsets, MPI.BYTE])
if c.Get_rank() == 0: print((time.perf_counter() - start) / {rounds})
"""
    done = subprocess.run([launcher(), "-n", "2", sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(done.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="*", default=["bench", "bench_large"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ray", action="store_true", help="also time one exchange through Ray's object store")
    parser.add_argument("--ray-python", default=sys.executable, help="a Python that has ray installed (for --ray)")
    parser.add_argument("--ray-only", type=int, help=argparse.SUPPRESS)  # (what --ray runs with --ray-python)
    args = parser.parse_args()
    if args.ray_only:
        print(ray_exchange(args.ray_only))
        return
    print(f"load before: {Path('/proc/loadavg').read_text().split()[:3]}", file=sys.stderr)
    serial = merge_seconds_per_state()
    rows = []
    for model in args.models:
        runs: dict[str, list[dict]] = {"workers1": [], "workers2": [], "cluster2": []}
        for _ in range(args.repeat):
            for mode in runs:
                runs[mode].append(run(model, mode))
        median = {mode: sorted(r, key=lambda f: f["seconds"])[len(r) // 2] for mode, r in runs.items()}
        one, two, cluster = median["workers1"], median["workers2"], median["cluster2"]
        assert one["distinct"] == two["distinct"] == cluster["distinct"]
        levels = one["depth"] + 1
        rows.append({
            "model": model, "distinct": one["distinct"], "generated": one["generated"], "levels": levels,
            "seconds_1_worker": one["seconds"], "seconds_2_workers": two["seconds"], "seconds_2_ranks": cluster["seconds"],
            "ranks_vs_workers": two["seconds"] / cluster["seconds"],
            "all_2_ranks_seconds": sorted(r["seconds"] for r in runs["cluster2"]),
            "all_2_workers_seconds": sorted(r["seconds"] for r in runs["workers2"]),
            "bytes_exchanged": cluster["bytes_exchanged"], "exchanges": cluster["exchanges"],
            "bytes_per_state": cluster["bytes_exchanged"] / one["distinct"],
            "bytes_per_level": cluster["bytes_exchanged"] / levels,
            "speedup_8": projection(one, cluster, 8, serial), "speedup_64": projection(one, cluster, 64, serial),
        })
        print(json.dumps(rows[-1]), flush=True)
    if args.ray:
        size = int(rows[-1]["bytes_exchanged"] / max(1, rows[-1]["exchanges"]) / 2)
        ray = subprocess.run([args.ray_python, __file__, "--ray-only", str(size)], capture_output=True, text=True, check=False)
        timed = ray.stdout.strip().splitlines()[-1] if ray.stdout.strip() else ray.stderr[-300:]
        print(json.dumps({"exchange_bytes_each_way": size, "mpi_alltoallv_seconds": mpi_exchange(size),
                          "ray_object_store_seconds": timed}), flush=True)
    print(f"load after: {Path('/proc/loadavg').read_text().split()[:3]}; merge {serial * 1e9:.0f} ns/state; "
          f"assumed network {BANDWIDTH / 1e9:.2f} GB/s, {LATENCY * 1e6:.0f} us per exchange round", file=sys.stderr)


if __name__ == "__main__":
    main()
