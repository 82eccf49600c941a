"""The Python wrapper's cost per call: norma.functional on one row of 4096 (LLM decoding), against the
C call alone through ctypes and against PyTorch, one thread, medians of 15 batches of 2000 calls.

    python3 bench/python_latency.py          (PYTHONPATH=python, or norma installed)
"""
import time

import torch
import torch.nn.functional as F

import norma
import norma.functional as NF
from norma._lib import F32, call


def median_us(fn, batches=15, calls=2000):
    for _ in range(1000):
        fn()
    times = []
    for _ in range(batches):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - t) / calls)
    return sorted(times)[batches // 2] * 1e6


def main():
    torch.set_num_threads(1)
    norma.set_num_threads(1)
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


if __name__ == "__main__":
    main()
