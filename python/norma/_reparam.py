"""Weight reparametrizations: spectral normalization and weight normalization."""

import math

import torch

from ._common import _DTYPES, _as, _check_tensor, _compute_dtype, _empty_result, _needs_grad, _ptr, _shaped, _to
from ._lib import call


def _check_dim(fn, t, dim):
    """dim as a non-negative int, with PyTorch's IndexError for one out of range."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError("%s: dim must be an int, got %s" % (fn, type(dim).__name__))
    nd = max(t.dim(), 1)
    if not -nd <= dim < nd:
        raise IndexError("%s: Dimension out of range (expected to be in range of [%d, %d] but got %d)"
                         % (fn, -nd, nd - 1, dim))
    return dim % nd


def _view(t, dim):
    """(outer, rows, inner): the sizes before dim, along it, and after it."""
    shape = t.shape
    return math.prod(shape[:dim]), shape[dim], math.prod(shape[dim + 1:])


# ----- L2 normalization (a 1-D weight's spectral norm) -------------------------------------------

def _l2_fwd(x, eps):
    y = torch.empty_like(x)
    call("norma_l2_normalize_fwd", _DTYPES[x.dtype], 1, x.numel(), x.data_ptr(), eps, y.data_ptr())
    return y


class _L2Normalize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, eps):
        ctx.save_for_backward(x)
        ctx.eps = eps
        return _l2_fwd(x, eps)

    @staticmethod
    def backward(ctx, dy):
        x, = ctx.saved_tensors
        dx, dy = torch.empty_like(x), _as(dy, x.dtype)  # held: a temporary's memory is freed before the call
        call("norma_l2_normalize_bwd", _DTYPES[x.dtype], 1, x.numel(), dy.data_ptr(), x.data_ptr(), ctx.eps,
             dx.data_ptr())
        return dx, None


# ----- spectral normalization --------------------------------------------------------------------

def _state_vector(fn, name, t, numel, what):
    """The power-iteration vector as the contiguous float32 tensor norma updates (t itself if it is one)."""
    _check_tensor(fn, name, t)
    if t.numel() != numel:
        raise ValueError("%s: %s must have %d elements (%s), got %d" % (fn, name, numel, what, t.numel()))
    if t.dtype == torch.float32 and t.is_contiguous():
        return t
    return t.detach().to(torch.float32).contiguous()


class _SpectralNorm(torch.autograd.Function):
    """y = W / sigma; the state (u, v: float32 tensors) is updated in place by the forward and held
    constant by the backward, as the parametrization's autograd sees it."""

    @staticmethod
    def forward(ctx, w, state, view, steps, eps):
        u, v = state
        y = torch.empty_like(w)
        sigma = torch.empty((), dtype=torch.float64)
        call("norma_spectral_norm_fwd", _DTYPES[w.dtype], *view, w.data_ptr(), u.data_ptr(), v.data_ptr(), steps,
             eps, y.data_ptr(), sigma.data_ptr())
        ctx.save_for_backward(w, u.clone(), v.clone(), sigma)
        ctx.view = view
        return y

    @staticmethod
    def backward(ctx, dy):
        w, u, v, sigma = ctx.saved_tensors
        dw, dy = torch.empty_like(w), _as(dy, w.dtype)  # held: a temporary's memory is freed before the call
        call("norma_spectral_norm_bwd", _DTYPES[w.dtype], *ctx.view, dy.data_ptr(), w.data_ptr(), u.data_ptr(),
             v.data_ptr(), float(sigma), dw.data_ptr())
        return dw, None, None, None, None


def spectral_norm(weight, u, v, n_power_iterations=1, eps=1e-12, dim=0, training=True):
    """Spectral normalization, as torch.nn.utils.parametrizations.spectral_norm computes it: the weight
    as a matrix W with `dim` as rows (the other dimensions flattened in order); in training,
    `n_power_iterations` steps of u = normalize(W v), v = normalize(W^T u), updating u (size of dim)
    and v (the other dimensions' product) in place; then returns weight / sigma with sigma = u^T W v.
    Gradients flow to weight, u and v held constant. A 1-D weight is normalized exactly
    (F.normalize(weight, dim=0, eps)); u and v are then unused and may be None."""
    fn = "norma.functional.spectral_norm"
    _check_tensor(fn, "weight", weight)
    if not isinstance(n_power_iterations, int) or isinstance(n_power_iterations, bool) or n_power_iterations < 0:
        raise ValueError("%s: n_power_iterations must be an int >= 0, got %r" % (fn, n_power_iterations))
    dim = _check_dim(fn, weight, dim)
    eps = float(eps)
    if weight.numel() == 0:
        raise ValueError("%s: weight has no elements" % fn)
    w = weight.contiguous()
    if weight.dim() <= 1:
        w = w.reshape(-1)
        y = _L2Normalize.apply(w, eps) if _needs_grad(weight) else _l2_fwd(w, eps)
        return _shaped(y, weight.shape)
    view = _view(w, dim)
    u32 = _state_vector(fn, "u", u, view[1], "the size of weight along dim")
    v32 = _state_vector(fn, "v", v, view[0] * view[2], "the product of weight's other dimensions")
    steps = n_power_iterations if training else 0
    if _needs_grad(weight):
        y = _SpectralNorm.apply(w, (u32, v32), view, steps, eps)
    else:
        y = torch.empty_like(w)
        call("norma_spectral_norm_fwd", _DTYPES[w.dtype], *view, w.data_ptr(), u32.data_ptr(), v32.data_ptr(),
             steps, eps, y.data_ptr(), None)
    with torch.no_grad():
        if u32 is not u:
            u.copy_(_shaped(u32, u.shape))
        if v32 is not v:
            v.copy_(_shaped(v32, v.shape))
    return y


def spectral_norm_power_iteration(weight, u, v, n_power_iterations, eps=1e-12, dim=0):
    """Only the power iterations of spectral_norm: u and v updated in place, nothing returned."""
    fn = "norma.functional.spectral_norm_power_iteration"
    _check_tensor(fn, "weight", weight)
    dim = _check_dim(fn, weight, dim)
    w = weight.detach().contiguous()
    view = _view(w, dim)
    u32 = _state_vector(fn, "u", u, view[1], "the size of weight along dim")
    v32 = _state_vector(fn, "v", v, view[0] * view[2], "the product of weight's other dimensions")
    call("norma_spectral_norm_power_iteration", _DTYPES[w.dtype], *view, w.data_ptr(), int(n_power_iterations),
         float(eps), u32.data_ptr(), v32.data_ptr())
    with torch.no_grad():
        if u32 is not u:
            u.copy_(_shaped(u32, u.shape))
        if v32 is not v:
            v.copy_(_shaped(v32, v.shape))


# ----- weight normalization ----------------------------------------------------------------------

class _WeightNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, g, view):
        w = torch.empty_like(v)
        call("norma_weight_norm_fwd", _DTYPES[v.dtype], *view, v.data_ptr(), g.data_ptr(), w.data_ptr())
        ctx.save_for_backward(v, g)
        ctx.view = view
        return w

    @staticmethod
    def backward(ctx, dw):
        v, g = ctx.saved_tensors
        need_dv, need_dg = ctx.needs_input_grad[:2]
        dv = torch.empty_like(v) if need_dv else None
        dg = torch.empty(g.shape, dtype=torch.float32) if need_dg else None
        dw = _as(dw, v.dtype)  # held: a temporary's memory would be freed before the call reads it
        call("norma_weight_norm_bwd", _DTYPES[v.dtype], *ctx.view, dw.data_ptr(), v.data_ptr(), g.data_ptr(),
             _ptr(dv), _ptr(dg))
        return dv, (_to(dg, g.dtype) if dg is not None else None), None


def weight_norm(v, g, dim=0):
    """Weight normalization, as torch._weight_norm(v, g, dim): w = v * g / ||v||, the norm over every
    dimension but `dim`; g holds one value per index of dim (any shape, e.g. (out, 1, 1, 1)).
    dim=None or -1 (torch's convention) takes one norm over the whole tensor, with a one-element g.
    There is no eps: an all-zero slice of v gives NaN, as in PyTorch. Gradients flow to v and g."""
    fn = "norma.functional.weight_norm"
    _check_tensor(fn, "v", v)
    _check_tensor(fn, "g", g)
    whole = dim is None or dim == -1
    view = (1, 1, v.numel()) if whole else _view(v, _check_dim(fn, v, dim))
    if g.numel() != view[1]:
        raise ValueError("%s: g must have %d element%s (%s), got %d"
                         % (fn, view[1], "" if view[1] == 1 else "s",
                            "for a norm over the whole tensor" if whole else "the size of v along dim",
                            g.numel()))
    dtype = _compute_dtype(fn, v, g=g)
    if v.numel() == 0:
        return _empty_result(v, g)
    vc, gc = _as(v, dtype), _as(g, dtype)
    if _needs_grad(v, g):
        w = _WeightNorm.apply(vc, gc, view)
    else:
        w = torch.empty_like(vc)
        call("norma_weight_norm_fwd", _DTYPES[dtype], *view, vc.data_ptr(), gc.data_ptr(), w.data_ptr())
    return _to(w, v.dtype)
