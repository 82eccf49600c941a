"""Helpers shared by the functional wrappers: tensor checks, dtypes, layouts."""

import math

import torch

from . import _lib

_DTYPES = {torch.float32: _lib.F32, torch.bfloat16: _lib.BF16, torch.float16: _lib.F16}
FLT_EPSILON = torch.finfo(torch.float32).eps  # RMSNorm's eps when None (torch >= 2.7)


def _ptr(t):
    return None if t is None else t.data_ptr()


def _check_tensor(fn, name, t, optional=False):
    if t is None and optional:
        return
    if not isinstance(t, torch.Tensor):
        raise TypeError("%s: %s must be a torch.Tensor, got %s" % (fn, name, type(t).__name__))
    if not t.is_cpu:
        raise ValueError("%s: %s is on device %s; norma computes on CPU tensors" % (fn, name, t.device))
    if t.dtype not in _DTYPES:
        raise TypeError("%s: %s has dtype %s; norma supports torch.float32, torch.bfloat16 and torch.float16"
                        % (fn, name, t.dtype))


def _compute_dtype(fn, input, **params):
    """The dtype the op runs in: the input's, or float32 for a 16-bit input with float32 parameters."""
    dtype = input.dtype
    for t in params.values():  # the common case first: every parameter absent or in the input's dtype
        if t is not None and t.dtype != dtype:
            break
    else:
        return dtype
    dtypes = {t.dtype for t in params.values() if t is not None}
    if dtypes == {torch.float32} and dtype in (torch.bfloat16, torch.float16):
        return torch.float32
    names = ", ".join("%s is %s" % (k, v.dtype) for k, v in params.items() if v is not None)
    raise TypeError("%s: mixed dtypes: input is %s, %s; parameters must have the input's dtype, or be "
                    "float32 for a bfloat16/float16 input" % (fn, dtype, names))


def _as(t, dtype):
    """t in dtype, dense (t itself when it already is: each .to/.contiguous costs ~1 us even as a no-op)."""
    if t is None or (t.dtype == dtype and t.is_contiguous()):
        return t
    return t.to(dtype).contiguous()


def _shaped(t, shape):
    """t viewed in shape (a tuple, or an int for 1-D), t itself where it already has it (None: None): a
    view costs 1.5-6 us even as a no-op (torch 2.15, Zen 3), comparing the shapes 0.3 us."""
    if t is None:
        return None
    if isinstance(shape, int):
        shape = (shape,)
    return t if t.shape == shape else t.view(shape)


def _per_channel(t, dtype, c):
    """A per-channel vector (C elements in any shape, e.g. (C, 1, 1)) as a dense (C,) tensor of dtype,
    or None."""
    return _shaped(_as(t, dtype), c)


def _to(t, dtype):
    """t.to(dtype), skipping the call where it would return t itself."""
    return t if t.dtype == dtype else t.to(dtype)


def _needs_grad(*tensors):
    if not torch.is_grad_enabled():
        return False
    for t in tensors:
        if t is not None and t.requires_grad:
            return True
    return False


def _normalized_shape(fn, input, normalized_shape, **params):
    """(rows, cols) of the input for a trailing normalized shape, with PyTorch's shape checks."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(map(int, normalized_shape))
    k = len(shape)
    if k == 0:
        raise RuntimeError("%s: Expected normalized_shape to be at least 1-dimensional, i.e., containing at "
                           "least one element, but got normalized_shape = []" % fn)
    for name, p in params.items():
        if p is not None and p.shape != shape:  # torch.Size is a tuple
            raise RuntimeError("%s: Expected %s to be of same shape as normalized_shape, but got %s of shape %s "
                               "and normalized_shape = %s" % (fn, name, name, list(p.shape), list(shape)))
    if input.dim() < k or input.shape[-k:] != shape:
        raise RuntimeError("%s: Given normalized_shape=%s, expected input with shape [*, %s], but got input of "
                           "size%s" % (fn, list(shape), ", ".join(map(str, shape)), list(input.shape)))
    cols = math.prod(shape)
    return (input.numel() // cols if cols else 0), cols


def _empty_result(input, *params):
    """The result for a tensor with no elements: empty, and zero gradients for the parameters."""
    y = torch.empty_like(input)
    for p in params:
        if p is not None:
            y = y + p.sum() * 0  # keeps the parameters in the graph: their gradients are zeros
    return y



def _channel_layout(x):
    """(layout, x, n, c, spatial): x dense in channels-first (NCHW) or channels-last (NHWC) order,
    read in place when it already is one of them, else copied to channels-first."""
    n, c = x.shape[0], x.shape[1]
    spatial = 1
    for s in x.shape[2:]:
        spatial *= s
    if x.is_contiguous():
        return _lib.CHANNELS_FIRST, x, n, c, spatial
    if x.permute(0, *range(2, x.dim()), 1).is_contiguous():
        return _lib.CHANNELS_LAST, x, n, c, spatial
    return _lib.CHANNELS_FIRST, x.contiguous(), n, c, spatial


def _like(t, x):
    """t laid out in memory as x (same shape and strides), copied only if it is not."""
    return t if t.stride() == x.stride() else torch.empty_like(x).copy_(t)
