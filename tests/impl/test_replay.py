"""Model-based testing (issue 5): spec traces replayed on the implementation (`kvolt replay`).

(a) random walks of the conformance models replay on the correct implementation: after every
    step its API objects and physical world equal the walk's (Hypothesis shrinks a mismatch to a
    shortest walk);
(b) for every bug flag of the implementation, the counterexample of the matching known-bug variant
    replays on the implementation with that flag and reaches the same violation, and the correct
    implementation cannot follow it past the variant's changed rule: tests/test_zoo.py (ZOO_REPLAY),
    over every counterexample `kvolt zoo` finds;
(c) the command line: exit codes, and input that is not a spec trace;
(d) a known gap, a spec walk the correct implementation cannot follow, pinned so that it is noticed
    when it closes.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest
from clirunner import run_cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kvolt.checker.build import build
from kvolt.checker.compiler import CompiledModel
from kvolt.checker.views.traces import trace_to_itf
from kvolt.impl.faults import BUGS
from kvolt.impl.replay import ReplayResult, replay
from kvolt.impl.tools.make_corpus import WALK_STEPS, walk

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "spec" / "conformance.kvolt"
WALK_MODELS = ("conform_disk", "conform_nfs")
MAX_WALK = WALK_STEPS

# bug flag -> (the known-bug variant re-introducing it, the property its counterexample violates)
FLAG_VARIANTS = {
    "pvc-protection-no-in-use-check": ("b01_protection_without_in_use_check", "claim_not_removed_while_in_use"),
    "pvc-protection-informer-only": ("b02_protection_trusts_stale_pod_cache", "claim_not_removed_while_in_use"),
    "adc-no-multi-attach-guard": ("b08_multi_attach_guard_removed", "single_attach"),
    "adc-attach-key-per-node": ("b09_attach_keyed_per_node", "single_attach"),
    "adc-detach-no-in-use-check": ("s06_detach_without_in_use_check", "no_detach_while_mounted"),
    "kubelet-reject-terminating-pvc": ("b18_kubelet_rejects_terminating_claim", "running_pod_keeps_volume"),
    "expand-allocated-after-expansion": ("b20_allocated_raised_after_expansion", "quota_covers_expansion"),
}


@lru_cache(maxsize=4)
def _model(name: str) -> CompiledModel:
    return build(CONFORMANCE, name).compiled


def _explain(result: ReplayResult) -> str:
    steps = "\n".join(f"  {s.index} {s.action} {s.params} <- {s.moves}" for s in result.steps)
    diffs = "\n".join(f"  {o}.{f}: trace {e}, implementation {a}" for o, f, e, a in result.differences)
    return f"step {result.failed_step}: {result.message}\n{steps}\n{diffs}"


# a walk: its length first (shrinks towards short walks), then one choice per step (towards the first choice)
CHOICES = st.integers(0, MAX_WALK).flatmap(lambda n: st.lists(st.integers(0, 2**16), min_size=n, max_size=n))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(model_name=st.sampled_from(WALK_MODELS), choices=CHOICES)
def test_random_spec_walks_replay_on_the_correct_implementation(model_name: str, choices: list[int]) -> None:
    model = _model(model_name)
    steps = walk(model, choices)
    event(f"walk of {len(steps) - 1 - (len(steps) - 1) % 10}+ steps")
    if any(s.action.startswith(("kubelet.teardown", "csi_attacher.unpublish", "pv_controller.delete_volume")) for s in steps):
        event("reaches teardown, detach or volume deletion")
    result = replay(model, trace_to_itf(model, steps, "random walk"))
    assert result.ok, _explain(result)


# A walk the correct implementation cannot follow (found by KVOLT_EXPLORE=1): a pod is deleted after
# its disk was attached and reported in use, and the spec's attach/detach controller starts the
# detach (step 30) while its cached Node still predates the kubelet's volumesInUse report. Upstream,
# and the implementation, assume a volume just attached is mounted until a Node update says
# otherwise (actual_state_of_world.go, AddVolumeNode: mountedByNode true), and every Node update
# since carries the volume in use, so the detach waits. The spec reads the cached volumesInUse alone.
# Safety is unaffected (the detach itself checks the live Node), but the spec has a behaviour the
# implementation lacks; closing the gap needs the controller's mountedByNode as state of its own.
KNOWN_GAP_WALK = [934, 1222, 46958, 12732, 15, 19606, 215, 2315, 0, 1, 22, 497, 353, 1218, 2774, 40865, 11121,
                  151, 85, 7, 7, 65317, 0, 0, 0, 0, 0, 0, 0, 0]


def test_known_gap_the_controller_detaches_before_it_has_seen_the_volume_in_use() -> None:
    model = _model("conform_disk")
    steps = walk(model, KNOWN_GAP_WALK)
    result = replay(model, trace_to_itf(model, steps, "known gap"))
    if result.ok:
        pytest.fail("the known gap is closed: make this walk a plain replay test")
    assert (result.failed_step, steps[result.failed_step].action) == (30, "attach_detach.detach_start")
    assert result.differences == [("Node node1", "attached", "{}", "{pv1}")]


def test_walks_reach_deep_into_the_lifecycle() -> None:
    """The walks are not all short: some release, delete and detach (a sanity check on the strategy)."""
    model = _model("conform_disk")
    actions = {s.action for seed in range(40)
               for s in walk(model, [(seed * 7919 + i * 104729) % 65536 for i in range(MAX_WALK)])}
    assert {"pv_controller.bind_claim", "attach_detach.attach", "kubelet.setup", "kubelet.teardown",
            "attach_detach.detach", "pv_controller.volume_released", "pv_controller.delete_volume"} <= actions


# a conform_nfs walk: pod1 enters node2's desired state, is deleted before its volume is set up, the
# kubelet sets it up all the same, then drops it from the desired state, tears it down and deletes it
DELETED_BEFORE_SETUP = [16043, 58846, 61457, 26178, 57332, 64429, 64596, 191, 39367, 4747, 7388, 28213, 35533,
                        32802, 62723, 54911, 32674, 57578, 3380, 47877]


def test_a_pod_deleted_before_setup_is_set_up_then_torn_down() -> None:
    """The populator keeps a not-yet-mounted volume of a pod being deleted while the pod exists
    (findAndRemoveDeletedPods), so the reconciler still mounts it; the implementation follows."""
    model = _model("conform_nfs")
    steps = walk(model, DELETED_BEFORE_SETUP)
    actions = [(s.action, dict(s.params).get("p")) for s in steps]
    deleted = actions.index(("user.delete_pod", "pod1"))
    assert actions[deleted + 1:] == [("kubelet.mount_device", None), ("kubelet.setup", "pod1"),
                                     ("kubelet.dsw_remove", "pod1"), ("pvc_protection.sync[Pod]", None),
                                     ("kubelet.teardown", "pod1"), ("kubelet.remove_pod", "pod1")]
    result = replay(model, trace_to_itf(model, steps, "a pod deleted before setup"))
    assert result.ok, _explain(result)


# a conform_disk walk: pod1 and pod2 on node2 share pvc1's cloud disk; once the device is mounted the
# kubelet sets up pod2 first, then pod1 (and pod2, being deleted, runs no containers)
SECOND_POD_FIRST = [32797, 38840, 40504, 11407, 57529, 58776, 46182, 42194, 61055, 44459, 35826, 41388, 7764,
                    55650, 43718, 1304, 14152, 26929, 55809, 15896, 48898, 52485, 15645, 4756, 4996, 22749, 63476,
                    27576, 62466, 42988, 44137, 4381, 56969]


def test_either_pod_sharing_an_attachable_volume_is_set_up_first() -> None:
    """GetVolumesToMount iterates Go maps, so the kubelet's reconciler may meet either pod first, and
    an attachable volume's operations are keyed by the volume alone: the pod met first gets the
    mount (device mount and set-up). The implementation's reconciler meets pod1 first by default;
    the replay lets it meet pod2, the pod the trace sets up first, first."""
    model = _model("conform_disk")
    steps = walk(model, SECOND_POD_FIRST)
    actions = [(s.action, dict(s.params).get("p")) for s in steps]
    staged = actions.index(("kubelet.mount_device", None))
    assert actions[staged + 1:] == [("user.delete_claim", None), ("user.delete_pod", "pod2"),
                                    ("pv_controller.sync[PVC]", None), ("attach_detach.sync[Pod]", None),
                                    ("kubelet.setup", "pod2"), ("kubelet.setup", "pod1")]
    result = replay(model, trace_to_itf(model, steps, "the second pod set up first"))
    assert result.ok, _explain(result)
    assert [m for m in result.steps[staged].moves if m.endswith("'s volumes first)")], _explain(result)


# a conform_nfs walk: pod1 and pod2 run on node1; pod2 is deleted, then pod1, and the kubelet stops,
# unmounts and deletes pod1 while pod2 still runs
ONE_POD_STOPPED_FIRST = [23279, 10371, 5415, 14749, 3145, 13291, 26116, 33427, 11242, 14293, 60979, 52314, 29196,
                         14266, 63646, 45357, 52803, 58405, 14541, 38255, 58157, 49729, 26999, 15324, 990, 60840,
                         39227, 10123, 44769, 45370, 25159]


def test_two_pods_being_deleted_on_one_node_are_stopped_one_at_a_time() -> None:
    """Upstream runs one worker per pod, so of two pods being deleted on one node either may be
    stopped (and its object deleted) first. The implementation's pass syncs every pod; the replay
    lets it sync only the pod the trace stops (`Kubelet.only_pod`)."""
    model = _model("conform_nfs")
    steps = walk(model, ONE_POD_STOPPED_FIRST)
    actions = [(s.action, dict(s.params).get("p")) for s in steps]
    assert actions[23:] == [("user.delete_pod", "pod2"), ("pvc_protection.sync[Pod]", None), ("user.delete_claim", None),
                            ("user.delete_pod", "pod1"), ("pvc_protection.sync[Pod]", None),
                            ("kubelet.dsw_remove", "pod1"), ("pv_controller.sync[PVC]", None),
                            ("kubelet.teardown", "pod1"), ("kubelet.remove_pod", "pod1")]
    result = replay(model, trace_to_itf(model, steps, "one pod stopped first"))
    assert result.ok, _explain(result)
    assert [m for m in result.steps[28].moves if m.endswith(" only)")], _explain(result)


def test_the_kubelet_reconciler_meets_pods_in_a_fixed_order_unless_told() -> None:
    """Recorded runs stay deterministic: the volumes to mount in pod order; `first_pod` (set by the
    replay for one pass) moves one pod's volumes to the front."""
    from kvolt.impl.kubelet.volumemanager.reconciler import Reconciler
    reconciler = Reconciler("node1", None, None, None, None)  # type: ignore[arg-type]
    volumes = [type("VolumeToMount", (), {"pod_uid": uid})() for uid in ("uid-1", "uid-2", "uid-3")]
    assert reconciler._in_mount_order(volumes) == volumes
    reconciler.first_pod = "uid-2"
    assert [v.pod_uid for v in reconciler._in_mount_order(volumes)] == ["uid-2", "uid-1", "uid-3"]


def test_a_counterexample_found_by_two_workers_is_the_same_and_replays(tmp_path: Path) -> None:
    """Workers share the states by fingerprint (and symmetry reduces them), yet the counterexample is
    the one a single worker finds: shortest, concrete, and a valid input to `kvolt replay`."""
    variant, prop = FLAG_VARIANTS["adc-no-multi-attach-guard"]
    spec = ROOT / "spec" / "mutations" / f"{variant}.kvolt"
    documents = []
    for workers in ("1", "2"):
        out = tmp_path / workers
        done = run_cli("check", str(spec), "--quiet", "--workers", workers, "--out", str(out))
        assert done.code == 1, done.stderr
        [trace] = out.glob("*.itf.json")
        documents.append(json.loads(trace.read_text()))
    assert documents[0]["states"] == documents[1]["states"]
    assert documents[1]["#meta"]["violated"]["property"] == prop
    replayed = run_cli("replay", str(trace), "--bug", "adc-no-multi-attach-guard", "--json")
    assert replayed.code == 0, replayed.stdout + replayed.stderr
    assert json.loads(replayed.stdout)["property_reached"]


def test_every_bug_flag_has_a_variant() -> None:
    assert set(FLAG_VARIANTS) == set(BUGS)


@pytest.mark.parametrize("trace", sorted((ROOT / "traces").glob("walk-*.itf.json")), ids=lambda p: p.name)
def test_the_corpus_spec_walks_replay(trace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # a walk names its spec relative to the repository
    done = run_cli("replay", str(trace.relative_to(ROOT)))
    assert done.code == 0, done.stdout + done.stderr


def test_replay_of_a_simulated_walk_through_the_cli(tmp_path: Path) -> None:
    done = run_cli("simulate", str(CONFORMANCE), "--model", "conform_nfs", "--runs", "1", "--depth", "25", "--seed", "3",
                   "--save-walks", "1", "--out", str(tmp_path))
    assert done.code == 0, done.stderr
    [trace] = tmp_path.glob("walk-*.itf.json")
    replayed = run_cli("replay", str(trace))
    assert replayed.code == 0, replayed.stdout + replayed.stderr
    assert "ok: the implementation followed all" in replayed.stdout


def test_a_trace_that_is_not_a_spec_trace_is_bad_input(tmp_path: Path) -> None:
    model = _model("conform_disk")
    document = trace_to_itf(model, walk(model, [0, 0, 0, 0]), "walk")
    nodes = document["states"][2]["Node"]["#map"]
    nodes[0][1]["ready"] = False  # no machine fails in this model
    path = tmp_path / "edited.itf.json"
    path.write_text(json.dumps(document))
    done = run_cli("replay", str(path))
    assert done.code == 2
    assert "is not a trace of model conform_disk" in done.stderr and "Traceback" not in done.stderr


def test_unknown_bug_flag_is_bad_input(tmp_path: Path) -> None:
    model = _model("conform_disk")
    path = tmp_path / "walk.itf.json"
    path.write_text(json.dumps(trace_to_itf(model, walk(model, [1, 2]), "walk")))
    done = run_cli("replay", str(path), "--bug", "no-such-bug")
    assert done.code == 2 and "unknown bug flag 'no-such-bug'" in done.stderr


def test_a_recording_is_not_replayed() -> None:
    done = run_cli("replay", str(ROOT / "traces" / "disk-none-s1.itf.json"))
    assert done.code == 2 and "is a recording of the implementation" in done.stderr


def test_a_trace_of_a_spec_without_the_implementations_kinds_is_bad_input(tmp_path: Path) -> None:
    """The README tour's own counterexample (spec/examples: no PV, no StorageClass) cannot be replayed."""
    done = run_cli("check", str(ROOT / "spec" / "examples" / "stale_pod_cache.kvolt"), "--quiet", "--out", str(tmp_path))
    assert done.code == 1, done.stderr
    replayed = run_cli("replay", str(tmp_path / "no_claim_removed_in_use.itf.json"))
    assert replayed.code == 2, replayed.stderr
    assert "has no PV, StorageClass" in replayed.stderr and "replay drives the implementation" in replayed.stderr
    assert "Traceback" not in replayed.stderr and "internal error" not in replayed.stderr


def test_a_step_without_all_its_parameters_is_bad_input(tmp_path: Path) -> None:
    model = _model("conform_disk")
    document = trace_to_itf(model, walk(model, [1, 2]), "walk")
    picks = document["states"][1]["mbt::nondetPicks"]
    assert picks, document["states"][1]
    dropped = sorted(picks)[0]
    del picks[dropped]
    path = tmp_path / "walk.itf.json"
    path.write_text(json.dumps(document, indent=1))
    done = run_cli("replay", str(path))
    assert done.code == 2, done.stderr
    assert f"state 1: mbt::nondetPicks of {document['states'][1]['mbt::actionTaken']} lacks {dropped}" in done.stderr
    assert f"--> {path}:" in done.stderr and "internal error" not in done.stderr
