"""The benchmark runs: every case of norma-bench, once (--reps 1), gives a positive, finite time
and traffic, f32 and bf16 for each op issue 6 names, and oneDNN's time where norma-bench was built
with oneDNN (in bf16 only on AVX-512 CPUs: below that oneDNN 2.6 has no bf16 implementation, and
norma-bench reports its time as null); --list names every case and --filter with --exact takes one
alone (bench_torch.py relies on both); bad arguments are refused with the usage and exit status 2.
Speed is not judged here (that is the benchmark's own job, on a quiet machine).

    python3 tests/bench_smoke.py BUILD/norma-bench [--onednn]
"""
import json
import math
import subprocess
import sys

OPS = ["layer_norm fwd", "layer_norm bwd", "ada_layer_norm fwd", "ada_layer_norm bwd",
       "gated_ada_layer_norm fwd", "gated_ada_layer_norm bwd", "rms_norm fwd", "rms_norm bwd",
       "add_layer_norm fwd", "add_rms_norm fwd", "rms_norm fwd QK", "rms_norm bwd QK",
       "group_norm fwd", "group_norm bwd", "group_norm_silu fwd", "group_norm_silu bwd",
       "channel_rms_norm fwd", "channel_rms_norm bwd", "channel_rms_norm_silu fwd",
       "channel_rms_norm_silu bwd", "batch_norm fwd train", "batch_norm bwd train",
       "instance_norm fwd", "instance_norm bwd", "spectral_norm fwd", "spectral_norm bwd",
       "weight_norm fwd", "weight_norm bwd"]
ONEDNN_OPS = ("layer_norm fwd", "layer_norm bwd", "batch_norm fwd train", "batch_norm bwd train")


def positive(v):
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def main():
    bench, onednn = sys.argv[1], "--onednn" in sys.argv[2:]
    failures = []
    for bad in (["--reps", "0"], ["--reps", "65"], ["--reps", "3x"], ["--threads", "0"], ["--frobnicate"], ["--filter"]):
        r = subprocess.run([bench] + bad, capture_output=True, text=True)
        if r.returncode != 2 or "usage" not in r.stderr:
            failures.append(f"{bad}: exit {r.returncode}, stderr {r.stderr!r}")
    empty = json.loads(subprocess.run([bench, "--json", "--filter", "no such case"], capture_output=True,
                                      text=True, check=True).stdout)
    if empty != []:
        failures.append(f"a filter that matches nothing gave {empty}")
    labels = subprocess.run([bench, "--list"], capture_output=True, text=True, check=True).stdout.splitlines()
    # "... G=32" is also the start of its NHWC twin's label: --exact must take the one case alone
    label = "group_norm fwd f32 (1,512,128,128) G=32"
    exact = json.loads(subprocess.run([bench, "--json", "--reps", "1", "--filter", label, "--exact"],
                                      capture_output=True, text=True, check=True).stdout)
    if [f"{c['op']} {c['dtype']} {c['shape']}" for c in exact] != [label] or label + " NHWC" not in labels:
        failures.append(f"--exact {label!r} gave {exact}")

    avx512 = "avx512f" in open("/proc/cpuinfo").read().split()
    cases = json.loads(subprocess.run([bench, "--json", "--reps", "1"], capture_output=True, text=True,
                                      check=True).stdout)
    if labels != [f"{c['op']} {c['dtype']} {c['shape']}" for c in cases]:
        failures.append(f"--list gave {len(labels)} labels, not those of the {len(cases)} cases")
    seen = set()
    for c in cases:
        name = f"{c['op']} {c['dtype']} {c['shape']}"
        seen.add((c["op"], c["dtype"]))
        if "latency_us" in c:
            ok = positive(c["latency_us"])
        else:
            ok = all(positive(c[k]) for k in ("ms", "gbps", "baseline_ms", "of_limit", "bytes"))
            ok = ok and abs(c["gbps"] - c["bytes"] / (c["ms"] * 1e-3) * 1e-9) <= 0.01 * c["gbps"] + 0.01
        if not ok:
            failures.append(f"{name}: {c}")
        wants_onednn = onednn and c["op"] in ONEDNN_OPS
        if wants_onednn and c.get("onednn_ms", 0) is None and c["dtype"] == "bf16" and not avx512:
            pass  # oneDNN 2.6 has no bf16 normalization below AVX-512: norma-bench says so with null
        elif wants_onednn != ("onednn_ms" in c) or (wants_onednn and not positive(c["onednn_ms"])):
            failures.append(f"{name}: oneDNN time {'missing' if wants_onednn else 'unexpected'}: {c}")
    for op in OPS:
        for dtype in ("f32", "bf16"):
            if not any(o.startswith(op) and d == dtype for o, d in seen):
                failures.append(f"no case of {op} {dtype}")
    if ("rms_norm fwd latency", "f32") not in seen:
        failures.append("no latency case")
    for f in failures:
        print("FAIL", f)
    print(f"bench_smoke: {len(cases)} cases, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
