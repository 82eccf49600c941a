#!/usr/bin/env python3
"""PyTorch side by side with norma on the benchmark's cases.

    python3 bench/bench_torch.py [--reps N] [--rounds R] [--filter TEXT] [--bench build/norma-bench]

For each case, runs build/norma-bench on it alone (norma, the streaming baseline and oneDNN where it
has the op) and right after, or right before, times current PyTorch on the same shape in this process,
so that both are measured within seconds of each other on a shared host (--rounds R: R such pairs,
the order swapping each round; medians, and the median of the rounds' own speedups). PyTorch: 2
threads, warmed tensors, median of N repetitions, with glibc told to keep freed memory
(MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_=68719476736; the script re-executes itself with them) so
that PyTorch's fresh outputs do not pay first-touch page faults on every call. Backward passes are
timed alone: the ATen backward kernel where PyTorch has one (LayerNorm, GroupNorm, BatchNorm), else
the autograd backward of the forward's graph (kept alive). Prints, per case: norma and PyTorch times,
norma's speedup, and both as a fraction of the streaming baseline's speed over the same bytes ("of limit")."""

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import time

MALLOC_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "68719476736"}
if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
    os.environ.update(MALLOC_ENV)
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch  # noqa: E402  (after the re-exec: glibc reads the variables at startup)
import torch.nn.functional as F  # noqa: E402

DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}


def median_time(fn, reps):
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def parse_shape(shape):
    dims = [int(v) for v in re.findall(r"\d+", shape.split(" G=")[0].replace("x", ","))]
    groups = int(re.search(r"G=(\d+)", shape).group(1)) if "G=" in shape else None
    return dims, groups, "NHWC" in shape


def autograd_backward(forward, inputs):
    """The backward of forward(*inputs) alone: a graph built once, differentiated repeatedly."""
    leaves = [t.detach().requires_grad_() for t in inputs]
    y = forward(*leaves)
    dy = torch.randn_like(y)
    return lambda: torch.autograd.grad(y, leaves, dy, retain_graph=True)


def torch_case(op, dtype, shape):
    """A zero-argument function running PyTorch's version of a norma-bench case, or None."""
    dt = DTYPES[dtype]
    dims, groups, nhwc = parse_shape(shape)
    bwd = " bwd" in op

    def act(*size):
        t = torch.randn(*size, dtype=dt)
        if nhwc and t.dim() == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    if op.startswith("rms_norm") and "latency" in op:
        x, w = act(1, dims[1]), torch.ones(dims[1], dtype=dt)
        return lambda: F.rms_norm(x, (dims[1],), w, 1e-6)
    if op.startswith(("add_layer_norm", "add_rms_norm")):  # the sum is an output too, as norma's
        x, r = act(dims[0], dims[1]), act(dims[0], dims[1])
        d = dims[1]
        w, b = torch.ones(d, dtype=dt), torch.zeros(d, dtype=dt)
        if op.startswith("add_layer_norm"):
            return lambda: (lambda s: (F.layer_norm(s, (d,), w, b, 1e-5), s))(r + x)
        return lambda: (lambda s: (F.rms_norm(s, (d,), w, 1e-6), s))(r + x)
    if op.startswith("gated_ada_layer_norm"):  # FLUX: s = r + gate·h; y = (1 + scale)·LN(s) + shift; both outputs
        d = dims[1]
        h, r = act(dims[0], d), act(dims[0], d)
        gate, shift, scale = (torch.randn(1, d, dtype=dt) for _ in range(3))

        def fwd(h, r, gate, shift, scale):
            s = r + gate * h
            return (1 + scale) * F.layer_norm(s, (d,), eps=1e-6) + shift, s
        if not bwd:
            return lambda: fwd(h, r, gate, shift, scale)
        leaves = [t.detach().requires_grad_() for t in (h, r, gate, shift, scale)]
        y, s = fwd(*leaves)
        dy, ds = torch.randn_like(y), torch.randn_like(s)
        return lambda: torch.autograd.grad([y, s], leaves, [dy, ds], retain_graph=True)
    if op.startswith(("layer_norm", "rms_norm", "ada_layer_norm")):
        if "QK" in op:
            x = act(1, 24, 4096, 128)
            d = 128
        else:
            x = act(dims[0], dims[1])
            d = dims[1]
        w, b = torch.ones(d, dtype=dt), torch.zeros(d, dtype=dt)
        if op.startswith("layer_norm"):
            if not bwd:
                return lambda: F.layer_norm(x, (d,), w, b, 1e-5)
            _, mean, rstd = torch.ops.aten.native_layer_norm(x, [d], w, b, 1e-5)
            dy = torch.randn_like(x)
            return lambda: torch.ops.aten.native_layer_norm_backward(dy, x, [d], mean, rstd, w, b, [True, True, True])
        if op.startswith("rms_norm"):
            fwd = lambda x, w: F.rms_norm(x, (d,), w, 1e-6)  # noqa: E731
            return autograd_backward(fwd, [x, w]) if bwd else (lambda: fwd(x, w))
        # FLUX: (1 + scale)·LN(x) + shift with (shift, scale) of one sample, broadcast over the tokens
        shift, scale = torch.randn(1, d, dtype=dt), torch.randn(1, d, dtype=dt)
        fwd = lambda x, shift, scale: (1 + scale) * F.layer_norm(x, (d,), eps=1e-6) + shift  # noqa: E731
        return autograd_backward(fwd, [x, shift, scale]) if bwd else (lambda: fwd(x, shift, scale))
    if op.startswith(("group_norm", "channel_rms_norm", "batch_norm", "instance_norm")):
        n, c, h, w_ = dims
        x = act(n, c, h, w_)
        wt, bs = torch.ones(c, dtype=dt), torch.zeros(c, dtype=dt)
        if op.startswith("group_norm_silu"):  # the VAE block's norm + activation, as PyTorch composes them
            fwd = lambda x, w, b: F.silu(F.group_norm(x, groups, w, b, 1e-6))  # noqa: E731
            return autograd_backward(fwd, [x, wt, bs]) if bwd else (lambda: fwd(x, wt, bs))
        if op.startswith("group_norm"):
            if not bwd:
                return lambda: F.group_norm(x, groups, wt, bs, 1e-6)
            _, mean, rstd = torch.ops.aten.native_group_norm(x, wt, bs, n, c, h * w_, groups, 1e-6)
            dy = act(n, c, h, w_)
            return lambda: torch.ops.aten.native_group_norm_backward(dy, x, mean, rstd, wt, n, c, h * w_, groups,
                                                                     [True, True, True])
        if op.startswith("channel_rms_norm_silu"):  # Qwen-Image VAE's RMS_norm, then SiLU
            fwd = lambda x, g, b: F.silu(F.normalize(x, dim=1) * (c ** 0.5) * g.view(1, c, 1, 1)  # noqa: E731
                                         + b.view(1, c, 1, 1))
            return autograd_backward(fwd, [x, wt, bs]) if bwd else (lambda: fwd(x, wt, bs))
        if op.startswith("channel_rms_norm"):  # Qwen-Image VAE's RMS_norm
            fwd = lambda x, g: F.normalize(x, dim=1) * (c ** 0.5) * g.view(1, c, 1, 1)  # noqa: E731
            return autograd_backward(fwd, [x, wt]) if bwd else (lambda: fwd(x, wt))
        if op.startswith("batch_norm"):  # PyTorch's mixed-dtype CPU BatchNorm: float parameters and statistics
            rm, rv, wt, bs = torch.zeros(c), torch.ones(c), torch.ones(c), torch.zeros(c)
            if not bwd:
                return lambda: F.batch_norm(x, rm, rv, wt, bs, True, 0.1, 1e-5)
            _, sm, sr = torch.ops.aten.native_batch_norm(x, wt, bs, rm, rv, True, 0.1, 1e-5)[:3]
            dy = act(n, c, h, w_)
            return lambda: torch.ops.aten.native_batch_norm_backward(dy, x, wt, rm, rv, sm, sr, True, 1e-5,
                                                                     [True, True, True])
        fwd = lambda x: F.instance_norm(x, eps=1e-5)  # noqa: E731
        return autograd_backward(fwd, [x]) if bwd else (lambda: fwd(x))
    if op.startswith("spectral_norm"):
        W = act(dims[0], dims[1])
        u = F.normalize(torch.randn(dims[0], dtype=dt), dim=0)
        v = F.normalize(torch.randn(dims[1], dtype=dt), dim=0)

        def fwd(W):  # torch.nn.utils.parametrizations._SpectralNorm, one power iteration
            with torch.no_grad():
                u.copy_(F.normalize(torch.mv(W, v), dim=0, eps=1e-12))
                v.copy_(F.normalize(torch.mv(W.t(), u), dim=0, eps=1e-12))
            return W / torch.vdot(u.clone(), torch.mv(W, v.clone()))
        return autograd_backward(fwd, [W]) if bwd else (lambda: fwd(W))
    if op.startswith("weight_norm"):
        v, g = act(dims[0], dims[1]), torch.ones(dims[0], 1, dtype=dt)
        fwd = lambda v, g: torch._weight_norm(v, g, 0)  # noqa: E731
        return autograd_backward(fwd, [v, g]) if bwd else (lambda: fwd(v, g))
    return None


def norma_case(args, label):
    """norma-bench's JSON record of one case, run now."""
    cmd = [args.bench, "--json", "--reps", str(args.reps), "--threads", str(args.threads), "--filter", label, "--exact"]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)[0]


def side_by_side(args, label, fn):
    """Rounds of (norma, PyTorch) on one case, the order swapping each round (whichever runs second
    measured ~5% slower in A-vs-A controls): norma's records and PyTorch's times, in seconds."""
    records, times = [], []
    latency = label.startswith("rms_norm fwd latency")
    for r in range(args.rounds):
        for first in ((0, 1) if r % 2 == 0 else (1, 0)):
            if first == 0:
                records.append(norma_case(args, label))
                continue
            torch.set_num_threads(1 if latency else args.threads)
            times.append(median_time(fn, max(args.reps, 200) if latency else args.reps))
            torch.set_num_threads(args.threads)
    return records, times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--filter", default=None)
    parser.add_argument("--bench", default=os.path.join(os.path.dirname(__file__), "..", "build", "norma-bench"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    labels = subprocess.run([args.bench, "--list"], check=True, capture_output=True, text=True).stdout.splitlines()
    torch.set_num_threads(args.threads)
    print("PyTorch %s, %d threads; norma-bench and PyTorch medians of %d, side by side, %d round(s) per case; "
          "norma's f32 computed in %s" % (torch.__version__, args.threads, args.reps, args.rounds,
                                          "float" if os.environ.get("NORMA_F32_COMPUTE") == "float" else "double"))
    print("%-32s %-5s %-22s %10s %10s %8s %9s %9s %10s" % ("op", "dtype", "shape", "norma", "PyTorch", "speedup",
                                                         "norma lim", "torch lim", "oneDNN"))
    med = statistics.median
    for label in labels:
        if args.filter and args.filter not in label:
            continue
        op, dtype, shape = re.match(r"(.*?) (f32|bf16) (.*)", label).groups()
        fn = torch_case(op, dtype, shape)
        if fn is None:
            continue
        records, times = side_by_side(args, label, fn)
        if "latency_us" in records[0]:
            norma_us, torch_us = [c["latency_us"] for c in records], [t * 1e6 for t in times]
            print("%-32s %-5s %-22s %8.2f us %8.2f us %7.2fx" % (
                op, dtype, shape, med(norma_us), med(torch_us), med(t / n for n, t in zip(norma_us, torch_us))))
            continue
        ms = [c["ms"] for c in records]
        speedup = med(t * 1e3 / m for m, t in zip(ms, times))
        torch_lim = med(c["baseline_ms"] / (t * 1e3) for c, t in zip(records, times))
        onednn = [c["onednn_ms"] for c in records if c.get("onednn_ms")]
        print("%-32s %-5s %-22s %7.3f ms %7.3f ms %7.2fx %8.0f%% %8.0f%%%s" % (
            op, dtype, shape, med(ms), med(times) * 1e3, speedup, 100 * med(c["of_limit"] for c in records),
            100 * torch_lim, " %8.3f ms" % med(onednn) if onednn else ""))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
