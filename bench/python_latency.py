"""The Python wrapper's cost per call: norma.functional on one row of 4096 (LLM decoding), against the
C call alone through ctypes and against PyTorch; then every norma.functional op on a tiny input (the
wrapper's own cost dominates), without gradients, beside PyTorch's op where it has one. One thread,
medians of 15 batches of 2000 calls (the second table: the best of 5 batches of 3000).

    python3 bench/python_latency.py          (PYTHONPATH=python, or norma installed)
"""
import timeit

import torch
import torch.nn.functional as F

import norma
import norma.functional as NF
from norma._lib import F32, call


def median_us(fn, batches=15, calls=2000):
    for _ in range(1000):
        fn()
    times = sorted(timeit.repeat(fn, number=calls, repeat=batches))
    return times[batches // 2] / calls * 1e6


def best_us(fn, batches=5, calls=3000):
    for _ in range(300):
        fn()
    return min(timeit.repeat(fn, number=calls, repeat=batches)) / calls * 1e6


def one_row():
    x, w, y = torch.randn(1, 4096), torch.randn(4096), torch.empty(1, 4096)
    cases = [
        ("norma.functional.rms_norm", lambda: NF.rms_norm(x, (4096,), w, 1e-6)),
        ("the C call alone (ctypes)", lambda: call("norma_rms_norm_fwd", F32, 1, 4096, x.data_ptr(), w.data_ptr(), 1e-6,
                                                   y.data_ptr(), None)),
        ("torch.nn.functional.rms_norm", lambda: F.rms_norm(x, (4096,), w, 1e-6)),
        ("norma.functional.layer_norm", lambda: NF.layer_norm(x, (4096,), w, None, 1e-6)),
        ("torch.nn.functional.layer_norm", lambda: F.layer_norm(x, (4096,), w, None, 1e-6)),
    ]
    print("one row of 4096 f32, one thread (PyTorch %s, norma %s)" % (torch.__version__, norma.version()))
    for name, fn in cases:
        print("%-32s %6.2f us per call" % (name, median_us(fn)))


def tiny_inputs():
    x4, c = torch.randn(2, 32, 4, 4), torch.randn(32)
    x3, r3, d = torch.randn(2, 8, 64), torch.randn(2, 8, 64), torch.randn(64)
    mod, gate = torch.randn(2, 64), torch.randn(2, 64)
    rm, rv = torch.zeros(32), torch.ones(32)
    W, u, v, g = torch.randn(64, 32), torch.randn(64), torch.randn(32), torch.randn(64, 1)
    cases = [  # (name, norma, PyTorch's op or None)
        ("layer_norm (2,8,64)", lambda: NF.layer_norm(x3, (64,), d, d), lambda: F.layer_norm(x3, (64,), d, d)),
        ("rms_norm (2,8,64)", lambda: NF.rms_norm(x3, (64,), d), lambda: F.rms_norm(x3, (64,), d)),
        ("add_layer_norm", lambda: NF.add_layer_norm(x3, r3, (64,), d, d), None),
        ("ada_layer_norm", lambda: NF.ada_layer_norm(x3, mod, mod), None),
        ("gated_ada_layer_norm", lambda: NF.gated_ada_layer_norm(x3, r3, gate, mod, mod), None),
        ("batch_norm training (2,32,4,4)", lambda: NF.batch_norm(x4, rm, rv, c, c, training=True),
         lambda: F.batch_norm(x4, rm, rv, c, c, training=True)),
        ("batch_norm eval", lambda: NF.batch_norm(x4, rm, rv, c, c), lambda: F.batch_norm(x4, rm, rv, c, c)),
        ("instance_norm", lambda: NF.instance_norm(x4, weight=c, bias=c),
         lambda: F.instance_norm(x4, weight=c, bias=c)),
        ("group_norm", lambda: NF.group_norm(x4, 8, c, c), lambda: F.group_norm(x4, 8, c, c)),
        ("group_norm_silu", lambda: NF.group_norm_silu(x4, 8, c, c), lambda: F.silu(F.group_norm(x4, 8, c, c))),
        ("channel_rms_norm", lambda: NF.channel_rms_norm(x4, c, c), None),
        ("adaptive_instance_norm", lambda: NF.adaptive_instance_norm(x4, x4), None),
        ("weight_norm (64,32)", lambda: NF.weight_norm(W, g, 0), lambda: torch._weight_norm(W, g, 0)),
        ("spectral_norm (64,32)", lambda: NF.spectral_norm(W, u, v), None),
    ]
    print("\nevery op on a tiny input, no gradients, one thread")
    print("%-32s %9s %9s" % ("op", "norma", "PyTorch"))
    with torch.no_grad():
        for name, ours, theirs in cases:
            print("%-32s %6.2f us %6s" % (name, best_us(ours), "" if theirs is None else "%.2f us" % best_us(theirs)))


def main():
    torch.set_num_threads(1)
    norma.set_num_threads(1)
    one_row()
    tiny_inputs()


if __name__ == "__main__":
    main()
