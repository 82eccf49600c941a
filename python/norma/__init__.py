"""norma: normalization layers for deep learning, in C, for PyTorch users.

    import norma
    y = norma.functional.layer_norm(x, (768,), weight, bias)      # autograd runs norma's backward
    ln = norma.nn.LayerNorm(768)                                    # drop-in for torch.nn.LayerNorm

CPU tensors of float32, bfloat16 or float16. See norma.functional and norma.nn.
"""

from . import functional, nn
from ._lib import get_f32_compute, get_num_threads, kernels, set_f32_compute, set_num_threads, version

__all__ = ["functional", "nn", "set_num_threads", "get_num_threads", "set_f32_compute", "get_f32_compute", "kernels",
           "version"]
__version__ = version()
