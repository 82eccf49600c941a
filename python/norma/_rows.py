"""The row norms: LayerNorm, RMSNorm, AdaLN modulation."""

import torch

from . import _lib
from ._common import (_DTYPES, FLT_EPSILON, _as, _check_tensor, _compute_dtype, _empty_result, _needs_grad,
                      _normalized_shape, _ptr, _shaped, _to)
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
        dy = _as(dy, x.dtype)
        dx = torch.empty_like(x) if need_dx else None
        dw = torch.empty(cols, dtype=torch.float32) if need_dw else None
        db = torch.empty(cols, dtype=torch.float32) if need_db and ctx.has_bias else None
        call("norma_layer_norm_bwd", _DTYPES[x.dtype], rows, cols, dy.data_ptr(), x.data_ptr(), _ptr(weight),
             mean.data_ptr(), eps, _ptr(dx), _ptr(dw), _ptr(db))
        if dw is not None:
            dw = _shaped(_to(dw, weight.dtype), weight.shape)
        if db is not None:
            db = _shaped(_to(db, x.dtype), weight.shape if weight is not None else cols)
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
        dy = _as(dy, x.dtype)
        dx = torch.empty_like(x) if need_dx else None
        dw = torch.empty(cols, dtype=torch.float32) if need_dw else None
        call("norma_rms_norm_bwd", _DTYPES[x.dtype], rows, cols, dy.data_ptr(), x.data_ptr(), _ptr(weight), eps,
             _ptr(dx), _ptr(dw))
        if dw is not None:
            dw = _shaped(_to(dw, weight.dtype), weight.shape)
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


def _modulation_strides(x, *mods):
    """(sample_stride, token_stride) shared by the modulation vectors (shift, scale, gate), read in place
    when their strides agree (e.g. chunks of one FLUX modulation tensor), or None when they must be
    copied."""
    B, L, D = x.shape
    strides = set()
    for t in mods:
        if t is None:
            continue
        shape, stride = t.shape, t.stride()
        if stride[2] != 1 and D > 1:
            return None
        sb = stride[0] if shape[0] == B and B > 1 else 0
        sl = stride[1] if shape[1] == L and L > 1 else 0
        if sb < 0 or sl < 0:
            return None
        strides.add((sb, sl))
    return strides.pop() if len(strides) == 1 else None


def _dense(t, shape):
    return None if t is None else t.expand(shape).contiguous()


def _modulation_in(x, dtype, *mods):
    """The modulation vectors in dtype and their (sample_stride, token_stride): read in place where
    their strides agree, else copied to one dense layout."""
    mods = [None if v is None else _to(v, dtype) for v in mods]
    strides = _modulation_strides(x, *mods)
    if strides is None:
        given = [v for v in mods if v is not None]
        shape = tuple(max(v.shape[i] for v in given) for i in range(3))
        mods = [_dense(v, shape) for v in mods]
        strides = _modulation_strides(x, *mods)
    return mods, (strides if strides is not None else (0, 0))


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
        dense, sb, sl = _grad_layout(x, ctx.shapes)
        dy = _as(dy, x.dtype)
        dx = torch.empty_like(x) if need_dx else None
        dshift = torch.empty(dense, dtype=x.dtype) if need_dshift else None
        dscale = torch.empty(dense, dtype=x.dtype) if need_dscale else None
        scale = _dense(scale, dense)  # held here: the C call reads it
        call("norma_ada_layer_norm_bwd", _DTYPES[x.dtype], ctx.kind, B, L, D, dy.data_ptr(), x.data_ptr(),
             _ptr(scale), sb, sl, _ptr(mean), ctx.eps, _ptr(dx), _ptr(dshift), _ptr(dscale))
        shift_shape, scale_shape = ctx.shapes
        return dx, _fit(dshift, shift_shape), _fit(dscale, scale_shape), None, None, None, None


def _grad_layout(x, shapes):
    """(dense shape, sample stride, token stride) the modulation gradients are written in: one vector per
    sample (or per token), or one for the whole batch when every vector is broadcast over it (the C
    backward then sums over the batch too). shapes: those of the modulation vectors (None: absent)."""
    B, L, D = x.shape
    given = [s for s in shapes if s is not None]
    Lm = L if given and given[0][1] == L and L > 1 else 1
    shared = Lm == 1 and all(s[0] == 1 for s in given)
    return (1 if shared else B, Lm, D), 0 if shared else Lm * D, D if Lm > 1 else 0


def _fit(g, shape):
    """A gradient written per sample, summed back to a broadcast batch of 1 and shaped as its vector."""
    if g is None:
        return None
    if shape[0] == 1 and g.shape[0] > 1:
        g = g.sum(0, keepdim=True)
    return g.reshape(shape)


def _as_modulation(fn, name, t, x):
    """shift/scale as a (B or 1, 1 or L, D) view: (B, D), (B, 1, D) or (B, L, D), B may be 1."""
    if t is None:
        return None
    _check_tensor(fn, name, t)
    B, L, D = x.shape
    shape = t.shape
    s = (shape[0], 1, shape[1]) if len(shape) == 2 else shape
    if not (len(s) == 3 and s[0] in (1, B) and s[1] in (1, L) and s[2] == D):
        raise ValueError("%s: %s must have shape (B, D), (B, 1, D) or (B, L, D) for input (B, L, D) = %s "
                         "(B may be 1 to broadcast), got %s" % (fn, name, tuple(x.shape), tuple(shape)))
    return t.unsqueeze(1) if len(shape) == 2 else t


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
    x = _as(input, dtype)
    (shift_v, scale_v), (sb, sl) = _modulation_in(x, dtype, shift_v, scale_v)
    kind = _NORMS[norm]
    if _needs_grad(input, shift, scale):
        y = _AdaLayerNorm.apply(x, shift_v, scale_v, sb, sl, float(eps), kind)
    else:
        y = _ada_fwd(x, shift_v, scale_v, sb, sl, float(eps), kind, False)[0]
    return _to(y, input.dtype)


# ----- residual add fused with LayerNorm / RMSNorm -----------------------------------------------

def _add_norm_fwd(x, residual, weight, bias, rows, cols, eps, rms, want_mean):
    s, y = torch.empty_like(x), torch.empty_like(x)
    mean = torch.empty(rows, dtype=torch.float32) if want_mean and not rms else None
    if rms:
        call("norma_add_rms_norm_fwd", _DTYPES[x.dtype], rows, cols, x.data_ptr(), residual.data_ptr(),
             s.data_ptr(), _ptr(weight), eps, y.data_ptr(), None)
    else:
        call("norma_add_layer_norm_fwd", _DTYPES[x.dtype], rows, cols, x.data_ptr(), residual.data_ptr(),
             s.data_ptr(), _ptr(weight), _ptr(bias), eps, y.data_ptr(), _ptr(mean), None)
    return y, s, mean


class _AddNorm(torch.autograd.Function):
    """(y, sum) = (norm(residual + x), residual + x); the backward gets dy and dsum."""

    @staticmethod
    def forward(ctx, x, residual, weight, bias, rows, cols, eps, rms):
        y, s, mean = _add_norm_fwd(x, residual, weight, bias, rows, cols, eps, rms, True)
        ctx.save_for_backward(s, weight, mean)
        ctx.dims = (rows, cols, eps, rms, bias is not None)
        return y, s

    @staticmethod
    def backward(ctx, dy, dsum):
        s, weight, mean = ctx.saved_tensors
        rows, cols, eps, rms, has_bias = ctx.dims
        need_dw, need_db = ctx.needs_input_grad[2:4]
        dy = torch.zeros_like(s) if dy is None else _as(dy, s.dtype)
        dsum = None if dsum is None else _as(dsum, s.dtype)
        dx = torch.empty_like(s)
        dw = torch.empty(cols, dtype=torch.float32) if need_dw else None
        db = torch.empty(cols, dtype=torch.float32) if need_db and has_bias else None
        if rms:
            call("norma_add_rms_norm_bwd", _DTYPES[s.dtype], rows, cols, dy.data_ptr(), _ptr(dsum), s.data_ptr(),
                 _ptr(weight), eps, dx.data_ptr(), _ptr(dw))
        else:
            call("norma_add_layer_norm_bwd", _DTYPES[s.dtype], rows, cols, dy.data_ptr(), _ptr(dsum), s.data_ptr(),
                 _ptr(weight), mean.data_ptr(), eps, dx.data_ptr(), _ptr(dw), _ptr(db))
        dw = None if dw is None else _shaped(_to(dw, weight.dtype), weight.shape)
        db = None if db is None else _shaped(_to(db, weight.dtype if weight is not None else s.dtype), cols)
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
    if _needs_grad(input, residual, weight, bias):
        y, s = _AddNorm.apply(x, r, w, b, rows, cols, float(eps), rms)
    else:
        y, s, _ = _add_norm_fwd(x, r, w, b, rows, cols, float(eps), rms, False)
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


# ----- gated residual fused with the next modulated norm ------------------------------------------

def _gated_fwd(h, residual, gate, shift, scale, sb, sl, eps, kind, want_mean):
    B, L, D = h.shape
    s, y = torch.empty_like(h), torch.empty_like(h)
    mean = torch.empty(B * L, dtype=torch.float32) if want_mean and kind == _lib.LAYER_NORM else None
    call("norma_gated_ada_layer_norm_fwd", _DTYPES[h.dtype], kind, B, L, D, h.data_ptr(), _ptr(gate),
         residual.data_ptr(), s.data_ptr(), _ptr(shift), _ptr(scale), sb, sl, eps, y.data_ptr(), _ptr(mean), None)
    return y, s, mean


class _GatedAdaNorm(torch.autograd.Function):
    """(y, sum) = (norm(sum)·(1 + scale) + shift, residual + gate·h); the backward gets dy and dsum."""

    @staticmethod
    def forward(ctx, h, residual, gate, shift, scale, sb, sl, eps, kind):
        y, s, mean = _gated_fwd(h, residual, gate, shift, scale, sb, sl, eps, kind, True)
        ctx.save_for_backward(s, h, gate, scale, mean)
        ctx.kind, ctx.eps = kind, eps
        ctx.shapes = tuple(None if t is None else t.shape for t in (gate, shift, scale))
        return y, s

    @staticmethod
    def backward(ctx, dy, dsum):
        s, h, gate, scale, mean = ctx.saved_tensors
        B, L, D = s.shape
        need_dh, _, need_dgate, need_dshift, need_dscale = ctx.needs_input_grad[:5]
        dense, sb, sl = _grad_layout(s, ctx.shapes)
        dy = torch.zeros_like(s) if dy is None else _as(dy, s.dtype)
        dsum = None if dsum is None else _as(dsum, s.dtype)
        dres = torch.empty_like(s)
        dh = torch.empty_like(s) if need_dh else None
        dgate, dshift, dscale = (torch.empty(dense, dtype=s.dtype) if need and shape is not None else None
                                 for need, shape in zip((need_dgate, need_dshift, need_dscale), ctx.shapes))
        gate, scale = _dense(gate, dense), _dense(scale, dense)  # held here: the C call reads them
        call("norma_gated_ada_layer_norm_bwd", _DTYPES[s.dtype], ctx.kind, B, L, D, dy.data_ptr(), _ptr(dsum),
             s.data_ptr(), h.data_ptr(), _ptr(gate), _ptr(scale), sb, sl, _ptr(mean),
             ctx.eps, dres.data_ptr(), _ptr(dh), _ptr(dgate), _ptr(dshift), _ptr(dscale))
        gate_shape, shift_shape, scale_shape = ctx.shapes
        return (dh, dres, _fit(dgate, gate_shape), _fit(dshift, shift_shape), _fit(dscale, scale_shape),
                None, None, None, None)


def gated_ada_layer_norm(input, residual, gate, shift, scale, eps=1e-6, norm="layer"):
    """Gated residual fused with the next modulated norm (FLUX, Qwen-Image, DiT blocks): returns
    (y, sum) with

        sum = residual + gate * input
        y   = norm(sum) * (1 + scale) + shift

    in one pass, where PyTorch makes four. FLUX's `img = img + mod1.gate * attn_out` followed by
    `(1 + mod2.scale) * norm2(img) + mod2.shift` is `y, img = gated_ada_layer_norm(attn_out, img,
    mod1.gate, mod2.shift, mod2.scale)`.

    input, residual: (B, L, D), same dtype. gate, shift, scale: (B, D) or (B, 1, D) per sample, or
    (B, L, D) per token (B may be 1 to broadcast); None for gate 1, shift 0, scale 0. norm: "layer"
    (LayerNorm without affine) or "rms". The sum is rounded once to the dtype (PyTorch rounds gate*input
    first). Gradients flow to every tensor through both outputs.
    """
    fn = "norma.functional.gated_ada_layer_norm"
    for name, t in (("input", input), ("residual", residual)):
        _check_tensor(fn, name, t)
    if input.dim() != 3:
        raise ValueError("%s: input must have shape (B, L, D), got %s" % (fn, tuple(input.shape)))
    if residual.shape != input.shape or residual.dtype != input.dtype:
        raise ValueError("%s: residual is %s %s, input %s %s: they must be equal" % (
            fn, tuple(residual.shape), residual.dtype, tuple(input.shape), input.dtype))
    if norm not in _NORMS:
        raise ValueError("%s: norm must be \"layer\" or \"rms\", got %r" % (fn, norm))
    mods = [_as_modulation(fn, name, t, input) for name, t in (("gate", gate), ("shift", shift), ("scale", scale))]
    dtype = _compute_dtype(fn, input, gate=gate, shift=shift, scale=scale)
    if input.numel() == 0:
        return _empty_result(input, gate, shift, scale), residual + input + (0 if gate is None else gate.sum() * 0)
    h, r = _as(input, dtype), _as(residual, dtype)
    (gate_v, shift_v, scale_v), (sb, sl) = _modulation_in(h, dtype, *mods)
    if _needs_grad(input, residual, gate, shift, scale):
        y, s = _GatedAdaNorm.apply(h, r, gate_v, shift_v, scale_v, sb, sl, float(eps), _NORMS[norm])
    else:
        y, s, _ = _gated_fwd(h, r, gate_v, shift_v, scale_v, sb, sl, float(eps), _NORMS[norm], False)
    return _to(y, input.dtype), _to(s, input.dtype)
