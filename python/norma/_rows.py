"""The row norms: LayerNorm, RMSNorm, AdaLN modulation."""

import torch

from . import _lib
from ._common import (_DTYPES, FLT_EPSILON, _as, _check_tensor, _compute_dtype, _empty_result, _needs_grad,
                      _normalized_shape, _ptr, _to)
from ._lib import call

# ----- LayerNorm ---------------------------------------------------------------------------------

def _layer_norm_fwd(x, weight, bias, rows, cols, eps, want_mean):
    y = torch.empty_like(x)
    mean = torch.empty(rows, dtype=torch.float32) if want_mean else None
    call("norma_layer_norm_fwd", _DTYPES[x.dtype], rows, cols, x.data_ptr(), _ptr(weight), _ptr(bias), eps,
         y.data_ptr(), _ptr(mean), None)
    return y, mean


class _LayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, rows, cols, eps):
        y, mean = _layer_norm_fwd(x, weight, bias, rows, cols, eps, True)
        ctx.save_for_backward(x, weight, mean)
        ctx.dims = (rows, cols, eps)
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, mean = ctx.saved_tensors
        rows, cols, eps = ctx.dims
        need_dx, need_dw, need_db = ctx.needs_input_grad[:3]
        dy = dy.to(x.dtype).contiguous()
        dx = torch.empty_like(x) if need_dx else None
        dw = torch.empty(cols, dtype=torch.float32) if need_dw else None
        db = torch.empty(cols, dtype=torch.float32) if need_db and ctx.has_bias else None
        call("norma_layer_norm_bwd", _DTYPES[x.dtype], rows, cols, dy.data_ptr(), x.data_ptr(), _ptr(weight),
             mean.data_ptr(), eps, _ptr(dx), _ptr(dw), _ptr(db))
        if dw is not None:
            dw = dw.to(weight.dtype).view(weight.shape)
        if db is not None:
            db = db.to(x.dtype).view(weight.shape if weight is not None else (cols,))
        return dx, dw, db, None, None, None


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """LayerNorm over the trailing `normalized_shape` dimensions, as torch.nn.functional.layer_norm:
    y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance of each row."""
    fn = "norma.functional.layer_norm"
    _check_tensor(fn, "input", input)
    _check_tensor(fn, "weight", weight, optional=True)
    _check_tensor(fn, "bias", bias, optional=True)
    rows, cols = _normalized_shape(fn, input, normalized_shape, weight=weight, bias=bias)
    dtype = _compute_dtype(fn, input, weight=weight, bias=bias)
    if input.numel() == 0:
        return _empty_result(input, weight, bias)
    x, w, b = _as(input, dtype), _as(weight, dtype), _as(bias, dtype)
    if _needs_grad(input, weight, bias):
        y = _LayerNorm.apply(x, w, b, rows, cols, float(eps))
    else:
        y = _layer_norm_fwd(x, w, b, rows, cols, float(eps), False)[0]
    return _to(y, input.dtype)


# ----- RMSNorm -----------------------------------------------------------------------------------

def _rms_norm_fwd(x, weight, rows, cols, eps):
    y = torch.empty_like(x)
    call("norma_rms_norm_fwd", _DTYPES[x.dtype], rows, cols, x.data_ptr(), _ptr(weight), eps, y.data_ptr(), None)
    return y


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, rows, cols, eps):
        y = _rms_norm_fwd(x, weight, rows, cols, eps)
        ctx.save_for_backward(x, weight)
        ctx.dims = (rows, cols, eps)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight = ctx.saved_tensors
        rows, cols, eps = ctx.dims
        need_dx, need_dw = ctx.needs_input_grad[:2]
        dy = dy.to(x.dtype).contiguous()
        dx = torch.empty_like(x) if need_dx else None
        dw = torch.empty(cols, dtype=torch.float32) if need_dw else None
        call("norma_rms_norm_bwd", _DTYPES[x.dtype], rows, cols, dy.data_ptr(), x.data_ptr(), _ptr(weight), eps,
             _ptr(dx), _ptr(dw))
        if dw is not None:
            dw = dw.to(weight.dtype).view(weight.shape)
        return dx, dw, None, None, None


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """RMSNorm over the trailing `normalized_shape` dimensions, as torch.nn.functional.rms_norm:
    y = x / sqrt(mean(x^2) + eps) * weight. eps=None means float32's epsilon (torch >= 2.7)."""
    fn = "norma.functional.rms_norm"
    _check_tensor(fn, "input", input)
    _check_tensor(fn, "weight", weight, optional=True)
    rows, cols = _normalized_shape(fn, input, normalized_shape, weight=weight)
    dtype = _compute_dtype(fn, input, weight=weight)
    eps = FLT_EPSILON if eps is None else float(eps)
    if input.numel() == 0:
        return _empty_result(input, weight)
    x, w = _as(input, dtype), _as(weight, dtype)
    if _needs_grad(input, weight):
        y = _RMSNorm.apply(x, w, rows, cols, eps)
    else:
        y = _rms_norm_fwd(x, w, rows, cols, eps)
    return _to(y, input.dtype)


# ----- AdaLN modulation --------------------------------------------------------------------------

_NORMS = {"layer": _lib.LAYER_NORM, "rms": _lib.RMS_NORM}


def _modulation_strides(x, shift, scale):
    """(sample_stride, token_stride) shared by shift and scale, read in place when their strides
    agree (e.g. chunks of one FLUX modulation tensor), or None when they must be copied."""
    B, L, D = x.shape
    strides = set()
    for t in (shift, scale):
        if t is None:
            continue
        if t.stride(2) != 1 and D > 1:
            return None
        sb = t.stride(0) if t.shape[0] == B and B > 1 else 0
        sl = t.stride(1) if t.shape[1] == L and L > 1 else 0
        if sb < 0 or sl < 0:
            return None
        strides.add((sb, sl))
    return strides.pop() if len(strides) == 1 else None


def _dense(t, shape):
    return None if t is None else t.expand(shape).contiguous()


def _ada_fwd(x, shift, scale, sb, sl, eps, kind, want_mean):
    B, L, D = x.shape
    y = torch.empty_like(x)
    mean = torch.empty(B * L, dtype=torch.float32) if want_mean and kind == _lib.LAYER_NORM else None
    call("norma_ada_layer_norm_fwd", _DTYPES[x.dtype], kind, B, L, D, x.data_ptr(), _ptr(shift), _ptr(scale),
         sb, sl, eps, y.data_ptr(), _ptr(mean), None)
    return y, mean


class _AdaLayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, shift, scale, sb, sl, eps, kind):
        y, mean = _ada_fwd(x, shift, scale, sb, sl, eps, kind, True)
        ctx.save_for_backward(x, scale, mean)
        ctx.kind, ctx.eps = kind, eps
        ctx.shapes = (None if shift is None else shift.shape, None if scale is None else scale.shape)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, scale, mean = ctx.saved_tensors
        B, L, D = x.shape
        need_dx, need_dshift, need_dscale = ctx.needs_input_grad[:3]
        shift_shape, scale_shape = ctx.shapes
        # gradients are written densely, one vector per sample (or per token), then summed back to a
        # broadcast batch of 1
        mod_shape = next(s for s in ctx.shapes if s is not None) if any(ctx.shapes) else (1, 1, D)
        Lm = L if mod_shape[1] == L and L > 1 else 1
        # one vector per sample shared by the batch: the C backward sums over the batch too
        shared = Lm == 1 and all(s is None or s[0] == 1 for s in ctx.shapes)
        dense = (1 if shared else B, Lm, D)
        scale_d = _dense(scale, dense)
        dy = dy.to(x.dtype).contiguous()
        dx = torch.empty_like(x) if need_dx else None
        dshift = torch.empty(dense, dtype=x.dtype) if need_dshift else None
        dscale = torch.empty(dense, dtype=x.dtype) if need_dscale else None
        call("norma_ada_layer_norm_bwd", _DTYPES[x.dtype], ctx.kind, B, L, D, dy.data_ptr(), x.data_ptr(),
             _ptr(scale_d), 0 if shared else Lm * D, D if Lm > 1 else 0, _ptr(mean), ctx.eps, _ptr(dx),
             _ptr(dshift), _ptr(dscale))

        def fit(g, shape):
            if g is None:
                return None
            if shape[0] == 1 and g.shape[0] > 1:
                g = g.sum(0, keepdim=True)
            return g.reshape(shape)

        return dx, fit(dshift, shift_shape), fit(dscale, scale_shape), None, None, None, None


def _as_modulation(fn, name, t, x):
    """shift/scale as a (B or 1, 1 or L, D) view: (B, D), (B, 1, D) or (B, L, D), B may be 1."""
    if t is None:
        return None
    _check_tensor(fn, name, t)
    B, L, D = x.shape
    v = t.unsqueeze(1) if t.dim() == 2 else t
    ok = v.dim() == 3 and v.shape[0] in (1, B) and v.shape[1] in (1, L) and v.shape[2] == D
    if not ok:
        raise ValueError("%s: %s must have shape (B, D), (B, 1, D) or (B, L, D) for input (B, L, D) = %s "
                         "(B may be 1 to broadcast), got %s" % (fn, name, tuple(x.shape), tuple(t.shape)))
    return v


def ada_layer_norm(input, shift, scale, eps=1e-6, norm="layer"):
    """Adaptive LayerNorm modulation (DiT/FLUX/Qwen-Image): y = norm(x) * (1 + scale) + shift.

    input: (B, L, D). norm: "layer" (LayerNorm without affine) or "rms" (RMSNorm without weight).
    shift, scale: (B, D) or (B, 1, D) per sample, broadcast over the L tokens, or (B, L, D) per token;
    None for no shift / no scale. Chunks of one modulation tensor (e.g. FLUX's
    `mod.chunk(6, dim=-1)`) are read in place, without copies.

    The chunk-order trap: FLUX, DiT and Qwen-Image chunk their modulation as (shift, scale, gate),
    diffusers' AdaLayerNormContinuous as (scale, shift). Pass the chunk that multiplies as `scale`.
    """
    fn = "norma.functional.ada_layer_norm"
    _check_tensor(fn, "input", input)
    if input.dim() != 3:
        raise ValueError("%s: input must have shape (B, L, D), got %s" % (fn, tuple(input.shape)))
    if norm not in _NORMS:
        raise ValueError("%s: norm must be \"layer\" or \"rms\", got %r" % (fn, norm))
    shift_v, scale_v = _as_modulation(fn, "shift", shift, input), _as_modulation(fn, "scale", scale, input)
    dtype = _compute_dtype(fn, input, shift=shift, scale=scale)
    if input.numel() == 0:
        return _empty_result(input, shift, scale)
    x = input.to(dtype).contiguous()
    shift_v = None if shift_v is None else shift_v.to(dtype)
    scale_v = None if scale_v is None else scale_v.to(dtype)
    strides = _modulation_strides(x, shift_v, scale_v)
    if strides is None:  # not readable in place: one dense layout for both
        mods = [v for v in (shift_v, scale_v) if v is not None]
        shape = tuple(max(v.shape[i] for v in mods) for i in range(3))
        shift_v, scale_v = _dense(shift_v, shape), _dense(scale_v, shape)
        strides = _modulation_strides(x, shift_v, scale_v)
    sb, sl = strides if strides is not None else (0, 0)
    kind = _NORMS[norm]
    if _needs_grad(input, shift, scale):
        y = _AdaLayerNorm.apply(x, shift_v, scale_v, sb, sl, float(eps), kind)
    else:
        y = _ada_fwd(x, shift_v, scale_v, sb, sl, float(eps), kind, False)[0]
    return _to(y, input.dtype)


# ----- residual add fused with LayerNorm / RMSNorm -----------------------------------------------

class _AddNorm(torch.autograd.Function):
    """(y, sum) = (norm(residual + x), residual + x); the backward gets dy and dsum."""

    @staticmethod
    def forward(ctx, x, residual, weight, bias, rows, cols, eps, rms):
        s, y = torch.empty_like(x), torch.empty_like(x)
        mean = None if rms else torch.empty(rows, dtype=torch.float32)
        if rms:
            call("norma_add_rms_norm_fwd", _DTYPES[x.dtype], rows, cols, x.data_ptr(), residual.data_ptr(),
                 s.data_ptr(), _ptr(weight), eps, y.data_ptr(), None)
        else:
            call("norma_add_layer_norm_fwd", _DTYPES[x.dtype], rows, cols, x.data_ptr(), residual.data_ptr(),
                 s.data_ptr(), _ptr(weight), _ptr(bias), eps, y.data_ptr(), mean.data_ptr(), None)
        ctx.save_for_backward(s, weight, mean)
        ctx.dims = (rows, cols, eps, rms, bias is not None)
        return y, s

    @staticmethod
    def backward(ctx, dy, dsum):
        s, weight, mean = ctx.saved_tensors
        rows, cols, eps, rms, has_bias = ctx.dims
        need_dw, need_db = ctx.needs_input_grad[2:4]
        dy = (torch.zeros_like(s) if dy is None else dy.to(s.dtype)).contiguous()
        dsum = None if dsum is None else dsum.to(s.dtype).contiguous()
        dx = torch.empty_like(s)
        dw = torch.empty(cols, dtype=torch.float32) if need_dw else None
        db = torch.empty(cols, dtype=torch.float32) if need_db and has_bias else None
        if rms:
            call("norma_add_rms_norm_bwd", _DTYPES[s.dtype], rows, cols, dy.data_ptr(), _ptr(dsum), s.data_ptr(),
                 _ptr(weight), eps, dx.data_ptr(), _ptr(dw))
        else:
            call("norma_add_layer_norm_bwd", _DTYPES[s.dtype], rows, cols, dy.data_ptr(), _ptr(dsum), s.data_ptr(),
                 _ptr(weight), mean.data_ptr(), eps, dx.data_ptr(), _ptr(dw), _ptr(db))
        dw = None if dw is None else dw.to(weight.dtype).view(weight.shape)
        db = None if db is None else db.to(weight.dtype if weight is not None else s.dtype).view(cols)
        return dx, dx, dw, db, None, None, None, None


def _add_norm(fn, input, residual, normalized_shape, weight, bias, eps, rms):
    _check_tensor(fn, "input", input)
    _check_tensor(fn, "residual", residual)
    if residual.shape != input.shape:
        raise ValueError("%s: residual has shape %s, input %s: they must be equal"
                         % (fn, tuple(residual.shape), tuple(input.shape)))
    rows, cols = _normalized_shape(fn, input, normalized_shape, weight=weight, bias=bias)
    dtype = _compute_dtype(fn, input, weight=weight, bias=bias)
    if residual.dtype != input.dtype:
        raise TypeError("%s: residual is %s, input %s: they must have the same dtype"
                        % (fn, residual.dtype, input.dtype))
    if input.numel() == 0:
        return _empty_result(input, weight, bias), residual + input
    x, r, w, b = _as(input, dtype), _as(residual, dtype), _as(weight, dtype), _as(bias, dtype)
    y, s = _AddNorm.apply(x, r, w, b, rows, cols, float(eps), rms)
    return _to(y, input.dtype), _to(s, input.dtype)


def add_layer_norm(input, residual, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Residual add fused with LayerNorm: returns (layer_norm(residual + input), residual + input), the
    sum rounded once to the dtype, in one pass (pre-norm transformer blocks). Gradients flow to input,
    residual, weight and bias, through both outputs."""
    return _add_norm("norma.functional.add_layer_norm", input, residual, normalized_shape, weight, bias, eps, False)


def add_rms_norm(input, residual, normalized_shape, weight=None, eps=None):
    """Residual add fused with RMSNorm (vLLM's fused_add_rms_norm, out of place): returns
    (rms_norm(residual + input), residual + input). eps=None means float32's epsilon."""
    return _add_norm("norma.functional.add_rms_norm", input, residual, normalized_shape, weight, None,
                     FLT_EPSILON if eps is None else eps, True)
