"""The channel norms: BatchNorm, InstanceNorm, GroupNorm (plain and modulated), AdaIN, channel RMSNorm,
on (N, C, *) tensors in channels-first or channels-last memory."""

import torch

from . import _lib
from ._common import (_DTYPES, _channel_layout, _check_tensor, _compute_dtype, _empty_result, _like, _needs_grad,
                      _per_channel, _ptr, _shaped, _to)
from ._lib import call


def _check_input(fn, input, min_dim=2):
    _check_tensor(fn, "input", input)
    if input.dim() < min_dim:
        raise ValueError("%s: expected an input of at least %d dimensions (N, C, *), got shape %s"
                         % (fn, min_dim, tuple(input.shape)))


def _check_vector(fn, name, t, c):
    """A per-channel parameter or statistic: C elements (any shape, e.g. (C,) or (C, 1, 1))."""
    if t is None:
        return None
    _check_tensor(fn, name, t)
    if t.numel() != c:
        raise RuntimeError("%s: %s should contain %d elements not %d" % (fn, name, c, t.numel()))
    return t


def _channel_affine_dtype(fn, input, weight, bias):
    """Checks per-channel weight and bias (C elements each, or None); the dtype the op runs in."""
    c = input.shape[1]
    _check_vector(fn, "weight", weight, c)
    _check_vector(fn, "bias", bias, c)
    return _compute_dtype(fn, input, weight=weight, bias=bias)


def _stats_f32(t):
    """A float32 contiguous view of running statistics, or a copy to write back."""
    if t is None:
        return None
    return t if t.dtype == torch.float32 and t.is_contiguous() else t.detach().float().contiguous()


def _write_back(dst, src):
    if dst is not None and src is not dst:
        with torch.no_grad():
            dst.copy_(_shaped(src, dst.shape))


def _grad(g, like):
    return None if g is None else _shaped(_to(g, like.dtype), like.shape)


# ----- BatchNorm and InstanceNorm --------------------------------------------------------------------

def _running_fwd(x, weight, bias, rm, rv, batch_stats, momentum, eps, instance, want_mean):
    """y and (layout, x, n, c, spatial, the saved mean if wanted)."""
    layout, x, n, c, spatial = _channel_layout(x)
    y = torch.empty_like(x)
    save_mean = torch.empty(n * c if instance else c, dtype=torch.float32) if batch_stats and want_mean else None
    fn = "norma_instance_norm_fwd" if instance else "norma_batch_norm_fwd"
    call(fn, _DTYPES[x.dtype], layout, n, c, spatial, x.data_ptr(), _ptr(weight), _ptr(bias), _ptr(rm), _ptr(rv),
         int(batch_stats), momentum, eps, y.data_ptr(), _ptr(save_mean), None)
    return y, (layout, x, n, c, spatial, save_mean)


class _RunningNorm(torch.autograd.Function):
    """BatchNorm (instance=False) or InstanceNorm (instance=True)."""

    @staticmethod
    def forward(ctx, x, weight, bias, rm, rv, batch_stats, momentum, eps, instance):
        y, (layout, x, n, c, spatial, save_mean) = _running_fwd(x, weight, bias, rm, rv, batch_stats, momentum, eps,
                                                                instance, True)
        # inference uses the running statistics as constants: keep the values the forward used
        keep = (None, None) if batch_stats else (rm.clone(), rv.clone())
        ctx.save_for_backward(x, weight, save_mean, *keep)
        ctx.args = (layout, n, c, spatial, batch_stats, eps, instance, bias is not None)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, save_mean, rm, rv = ctx.saved_tensors
        layout, n, c, spatial, batch_stats, eps, instance, has_bias = ctx.args
        need_dx, need_dw, need_db = ctx.needs_input_grad[:3]
        dy = _like(_to(dy, x.dtype), x)
        dx = torch.empty_like(x) if need_dx else None
        dw = torch.empty(c, dtype=torch.float32) if need_dw else None
        db = torch.empty(c, dtype=torch.float32) if need_db and has_bias else None
        fn = "norma_instance_norm_bwd" if instance else "norma_batch_norm_bwd"
        call(fn, _DTYPES[x.dtype], layout, n, c, spatial, dy.data_ptr(), x.data_ptr(), _ptr(weight), _ptr(save_mean),
             _ptr(rm), _ptr(rv), int(batch_stats), eps, _ptr(dx), _ptr(dw), _ptr(db))
        return dx, _grad(dw, weight), _grad(db, weight), None, None, None, None, None, None


def _running_norm(fn, input, running_mean, running_var, weight, bias, batch_stats, momentum, eps, instance):
    _check_input(fn, input)
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        _check_vector(fn, name, t, c)
    if not batch_stats and (running_mean is None or running_var is None):
        raise RuntimeError("%s: running_mean and running_var must be defined in evaluation mode" % fn)
    momentum = 0.0 if momentum is None else float(momentum)
    dtype = _compute_dtype(fn, input, weight=weight, bias=bias)
    x, w, b = _to(input, dtype), _per_channel(weight, dtype, c), _per_channel(bias, dtype, c)
    rm, rv = _stats_f32(running_mean), _stats_f32(running_var)
    if input.numel() == 0:  # no statistics to take; PyTorch returns x·w + b and leaves the buffers alone
        return _empty_result(input, weight, bias)
    args = (w, b, rm, rv, bool(batch_stats), momentum, float(eps), instance)
    if _needs_grad(input, weight, bias):
        y = _RunningNorm.apply(x, *args)
    else:
        y = _running_fwd(x, *args, False)[0]
    _write_back(running_mean, rm)
    _write_back(running_var, rv)
    return _to(y, input.dtype)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """As torch.nn.functional.batch_norm: batch statistics in training (updating running_mean/var in
    place when given, unbiased variance, `momentum`), running statistics otherwise."""
    return _running_norm("norma.functional.batch_norm", input, running_mean, running_var, weight, bias, training,
                         momentum, eps, instance=False)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """As torch.nn.functional.instance_norm: statistics per (sample, channel)."""
    return _running_norm("norma.functional.instance_norm", input, running_mean, running_var, weight, bias,
                         use_input_stats, momentum, eps, instance=True)


# ----- GroupNorm, plain and modulated ---------------------------------------------------------------

def _group_norm_fwd(x, gain, bias, groups, eps, mod_stride, silu, want_stats):
    """y and (layout, x, n, c, spatial, mean, rstd): the statistics the backward needs if wanted."""
    layout, x, n, c, spatial = _channel_layout(x)
    y = torch.empty_like(x)
    mean = torch.empty(n * groups, dtype=torch.float32) if want_stats else None
    rstd = torch.empty(n * groups, dtype=torch.float32) if want_stats and silu else None
    if silu:
        call("norma_group_norm_silu_fwd", _DTYPES[x.dtype], layout, n, c, spatial, groups, x.data_ptr(),
             _ptr(gain), _ptr(bias), eps, y.data_ptr(), _ptr(mean), _ptr(rstd))
    elif mod_stride is None:
        call("norma_group_norm_fwd", _DTYPES[x.dtype], layout, n, c, spatial, groups, x.data_ptr(), _ptr(gain),
             _ptr(bias), eps, y.data_ptr(), _ptr(mean), None)
    else:
        call("norma_ada_group_norm_fwd", _DTYPES[x.dtype], layout, n, c, spatial, groups, x.data_ptr(),
             _ptr(bias), _ptr(gain), mod_stride, eps, y.data_ptr(), _ptr(mean), None)
    return y, (layout, x, n, c, spatial, mean, rstd)


class _GroupNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, gain, bias, groups, eps, mod_stride, silu=False):
        """mod_stride None: gain/bias are weight/bias (C); else scale/shift, C per sample at n·mod_stride.
        silu: y = silu(group_norm(x)), fused (weights only)."""
        y, (layout, x, n, c, spatial, mean, rstd) = _group_norm_fwd(x, gain, bias, groups, eps, mod_stride, silu,
                                                                    True)
        if silu:
            ctx.save_for_backward(x, gain, mean, bias, rstd)
        else:
            ctx.save_for_backward(x, gain, mean)
        ctx.args = (layout, n, c, spatial, groups, eps, mod_stride, bias is not None, bias.shape if bias is not None else None)
        ctx.silu = silu
        return y

    @staticmethod
    def backward(ctx, dy):
        x, gain, mean = ctx.saved_tensors[:3]
        layout, n, c, spatial, groups, eps, mod_stride, has_bias, bias_shape = ctx.args
        need_dx, need_dg, need_db = ctx.needs_input_grad[:3]
        dy = _like(_to(dy, x.dtype), x)
        dx = torch.empty_like(x) if need_dx else None
        if mod_stride is None:
            dg = torch.empty(c, dtype=torch.float32) if need_dg else None
            db = torch.empty(c, dtype=torch.float32) if need_db and has_bias else None
            if ctx.silu:
                bias, rstd = ctx.saved_tensors[3:]
                call("norma_group_norm_silu_bwd", _DTYPES[x.dtype], layout, n, c, spatial, groups, dy.data_ptr(),
                     x.data_ptr(), _ptr(gain), _ptr(bias), mean.data_ptr(), rstd.data_ptr(), eps, _ptr(dx), _ptr(dg),
                     _ptr(db))
            else:
                call("norma_group_norm_bwd", _DTYPES[x.dtype], layout, n, c, spatial, groups, dy.data_ptr(),
                     x.data_ptr(), _ptr(gain), mean.data_ptr(), eps, _ptr(dx), _ptr(dg), _ptr(db))
            return dx, _grad(dg, gain), _grad(db, gain), None, None, None, None
        # modulation: gradients per (n, c), written densely then shaped like the inputs
        gain_d = None if gain is None else gain.expand(n, c).contiguous()
        dg = torch.empty(n, c, dtype=x.dtype) if need_dg else None
        db = torch.empty(n, c, dtype=x.dtype) if need_db and has_bias else None
        call("norma_ada_group_norm_bwd", _DTYPES[x.dtype], layout, n, c, spatial, groups, dy.data_ptr(),
             x.data_ptr(), _ptr(gain_d), c, mean.data_ptr(), eps, _ptr(dx), _ptr(db), _ptr(dg))

        def fit(g, like_shape):
            if g is None:
                return None
            return g.sum(0, keepdim=True) if like_shape[0] == 1 and n > 1 else g

        return (dx, fit(dg, gain.shape if gain is not None else (n, c)), fit(db, bias_shape or (n, c)), None, None, None,
                None)


def _check_groups(fn, input, num_groups):
    if not isinstance(num_groups, int) or isinstance(num_groups, bool):
        raise TypeError("%s: num_groups must be an int, got %s" % (fn, type(num_groups).__name__))
    n, c = input.shape[0], input.shape[1]
    spatial = 1
    for s in input.shape[2:]:
        spatial *= s
    if num_groups > 0 and n * (c // num_groups) * spatial == 1:  # F.group_norm's _verify_batch_size
        raise ValueError("%s: Expected more than 1 value per channel when training, got input size %s"
                         % (fn, list(input.shape)))


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """As torch.nn.functional.group_norm: statistics per (sample, group of C/num_groups channels)."""
    return _group_norm("norma.functional.group_norm", input, num_groups, weight, bias, eps, False)


def group_norm_silu(input, num_groups, weight=None, bias=None, eps=1e-5):
    """F.silu(F.group_norm(input, num_groups, weight, bias, eps)) in one fused op (the norm and activation
    of the FLUX and Qwen-Image VAE blocks): the normalized tensor is never stored; the backward
    recomputes it from the saved statistics."""
    return _group_norm("norma.functional.group_norm_silu", input, num_groups, weight, bias, eps, True)


def _group_norm(fn, input, num_groups, weight, bias, eps, silu):
    _check_input(fn, input)
    _check_groups(fn, input, num_groups)
    c = input.shape[1]
    dtype = _channel_affine_dtype(fn, input, weight, bias)
    if input.numel() == 0:
        return _empty_result(input, weight, bias)
    x, w, b = _to(input, dtype), _per_channel(weight, dtype, c), _per_channel(bias, dtype, c)
    if _needs_grad(input, weight, bias):
        y = _GroupNorm.apply(x, w, b, num_groups, float(eps), None, silu)
    else:
        y = _group_norm_fwd(x, w, b, num_groups, float(eps), None, silu, False)[0]
    return _to(y, input.dtype)


def _as_sample_vectors(fn, name, t, n, c):
    """shift/scale as an (n or 1, C) view: (N, C) or (N, C, 1, ...)."""
    if t is None:
        return None
    _check_tensor(fn, name, t)
    if t.dim() < 2 or t.shape[0] not in (1, n) or t.shape[1] != c or any(s != 1 for s in t.shape[2:]):
        raise ValueError("%s: %s must have shape (N, C) or (N, C, 1, ...) for input (N, C, ...) with N=%d, C=%d "
                         "(N may be 1 to broadcast), got %s" % (fn, name, n, c, tuple(t.shape)))
    return t.reshape(t.shape[0], c)


def ada_group_norm(input, num_groups, shift, scale, eps=1e-5):
    """Modulated GroupNorm (diffusers AdaGroupNorm; conditional InstanceNorm with num_groups = C):
    y = group_norm(x, num_groups) * (1 + scale) + shift, with per-(sample, channel) shift and scale.
    diffusers' AdaGroupNorm chunks its projection as (scale, shift); pass them by name."""
    fn = "norma.functional.ada_group_norm"
    _check_input(fn, input)
    _check_groups(fn, input, num_groups)
    n, c = input.shape[0], input.shape[1]
    shift_v, scale_v = _as_sample_vectors(fn, "shift", shift, n, c), _as_sample_vectors(fn, "scale", scale, n, c)
    dtype = _compute_dtype(fn, input, shift=shift, scale=scale)
    if input.numel() == 0:
        return _empty_result(input, shift, scale)
    x = _to(input, dtype)
    vs = [None if v is None else _to(v, dtype) for v in (shift_v, scale_v)]
    # one stride for both, read in place when they agree (e.g. the halves of one projection)
    strides = {v.stride(0) if v.shape[0] == n and n > 1 else 0 for v in vs if v is not None}
    if len(strides) > 1 or any(v is not None and v.stride(1) != 1 and c > 1 for v in vs):
        vs = [None if v is None else v.expand(n, c).contiguous() for v in vs]
        strides = {c}
    stride = strides.pop() if strides else c
    if _needs_grad(input, shift, scale):
        y = _GroupNorm.apply(x, vs[1], vs[0], num_groups, float(eps), stride)
    else:
        y = _group_norm_fwd(x, vs[1], vs[0], num_groups, float(eps), stride, False, False)[0]
    return _to(y, input.dtype)


# ----- AdaIN ------------------------------------------------------------------------------------------

def _to_layout(t, layout):
    if layout == _lib.CHANNELS_FIRST:
        return t.contiguous()
    perm = (0, *range(2, t.dim()), 1)
    inverse = (0, t.dim() - 1, *range(1, t.dim() - 1))
    return t.permute(perm).contiguous().permute(inverse)


def _adain_fwd(content, style, eps, variance, want_mean):
    """y and (layout, content, style, n, c, sc, ss, content's mean if wanted), the inputs as read."""
    layout, content, n, c, sc = _channel_layout(content)
    style = _to_layout(style, layout)
    ss = style.numel() // max(1, n * c)
    y = torch.empty_like(content)
    mean = torch.empty(n * c, dtype=torch.float32) if want_mean else None
    call("norma_adain_fwd", _DTYPES[content.dtype], layout, n, c, sc, ss, content.data_ptr(), style.data_ptr(),
         variance, eps, y.data_ptr(), _ptr(mean), None)
    return y, (layout, content, style, n, c, sc, ss, mean)


class _AdaIN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, content, style, eps, variance):
        y, (layout, content, style, n, c, sc, ss, mean) = _adain_fwd(content, style, eps, variance, True)
        ctx.save_for_backward(content, style, mean)
        ctx.args = (layout, n, c, sc, ss, eps, variance)
        return y

    @staticmethod
    def backward(ctx, dy):
        content, style, mean = ctx.saved_tensors
        layout, n, c, sc, ss, eps, variance = ctx.args
        need_dc, need_ds = ctx.needs_input_grad[:2]
        dy = _like(_to(dy, content.dtype), content)
        dc = torch.empty_like(content) if need_dc else None
        ds = torch.empty_like(style) if need_ds else None
        call("norma_adain_bwd", _DTYPES[content.dtype], layout, n, c, sc, ss, dy.data_ptr(), content.data_ptr(),
             style.data_ptr(), variance, mean.data_ptr(), eps, _ptr(dc), _ptr(ds))
        return dc, ds, None, None


def adaptive_instance_norm(content, style, eps=1e-5, unbiased=True):
    """AdaIN (Huang & Belongie): sigma(style) * (content - mu(content)) / sigma(content) + mu(style), with
    mu, sigma per (sample, channel) over the spatial positions; content and style may differ in spatial
    size. sigma = sqrt(var + eps), var unbiased by default (naoto0804/pytorch-AdaIN's calc_mean_std);
    unbiased=False for instance norm's biased variance."""
    fn = "norma.functional.adaptive_instance_norm"
    _check_input(fn, content)
    _check_tensor(fn, "style", style)
    if style.dim() < 2 or style.shape[:2] != content.shape[:2]:
        raise ValueError("%s: style must have the content's (N, C) = %s, got shape %s"
                         % (fn, tuple(content.shape[:2]), tuple(style.shape)))
    dtype = _compute_dtype(fn, content, style=style)
    if content.numel() == 0:
        return _empty_result(content, style)
    if style.numel() == 0:
        raise ValueError("%s: style has no spatial positions (shape %s)" % (fn, tuple(style.shape)))
    variance = _lib.VAR_UNBIASED if unbiased else _lib.VAR_BIASED
    x, s = _to(content, dtype), _to(style, dtype)
    if _needs_grad(content, style):
        y = _AdaIN.apply(x, s, float(eps), variance)
    else:
        y = _adain_fwd(x, s, float(eps), variance, False)[0]
    return _to(y, content.dtype)


# ----- channel RMSNorm ----------------------------------------------------------------------------

def _channel_rms_fwd(x, gamma, beta, eps, silu):
    """y and (layout, x, n, c, spatial), x as read."""
    layout, x, n, c, spatial = _channel_layout(x)
    y = torch.empty_like(x)
    call("norma_channel_rms_norm_silu_fwd" if silu else "norma_channel_rms_norm_fwd", _DTYPES[x.dtype], layout, n,
         c, spatial, x.data_ptr(), _ptr(gamma), _ptr(beta), eps, y.data_ptr())
    return y, (layout, x, n, c, spatial)


class _ChannelRMSNorm(torch.autograd.Function):
    """Channel RMSNorm, followed by a SiLU when silu is set."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps, silu):
        y, (layout, x, n, c, spatial) = _channel_rms_fwd(x, gamma, beta, eps, silu)
        ctx.save_for_backward(x, gamma, beta)
        ctx.args = (layout, n, c, spatial, eps, silu)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, gamma, beta = ctx.saved_tensors
        layout, n, c, spatial, eps, silu = ctx.args
        need_dx, need_dg, need_db = ctx.needs_input_grad[:3]
        dy = _like(_to(dy, x.dtype), x)
        dx = torch.empty_like(x) if need_dx else None
        dg = torch.empty(c, dtype=torch.float32) if need_dg else None
        db = torch.empty(c, dtype=torch.float32) if need_db and beta is not None else None
        if silu:  # z needs beta
            call("norma_channel_rms_norm_silu_bwd", _DTYPES[x.dtype], layout, n, c, spatial, dy.data_ptr(),
                 x.data_ptr(), _ptr(gamma), _ptr(beta), eps, _ptr(dx), _ptr(dg), _ptr(db))
        else:
            call("norma_channel_rms_norm_bwd", _DTYPES[x.dtype], layout, n, c, spatial, dy.data_ptr(), x.data_ptr(),
                 _ptr(gamma), eps, _ptr(dx), _ptr(dg), _ptr(db))
        return dx, None if dg is None else _to(dg, x.dtype), None if db is None else _to(db, x.dtype), None, None


def channel_rms_norm(input, weight=None, bias=None, eps=1e-12):
    """The Qwen-Image VAE's RMS_norm: F.normalize(x, dim=1, eps) * sqrt(C) * weight + bias, i.e. an RMSNorm
    over the channels at each position. weight/bias: C elements in any shape ((C,), (C, 1, 1), ...)."""
    return _channel_rms_norm("norma.functional.channel_rms_norm", input, weight, bias, eps, False)


def channel_rms_norm_silu(input, weight=None, bias=None, eps=1e-12):
    """Channel RMSNorm followed by SiLU, fused (the Qwen-Image / Wan VAE blocks' RMS_norm, nn.SiLU()):
    F.silu(channel_rms_norm(input, weight, bias, eps)) in the passes of the norm alone. The sigmoid runs
    in float32, as PyTorch's SiLU of a float32 tensor."""
    return _channel_rms_norm("norma.functional.channel_rms_norm_silu", input, weight, bias, eps, True)


def _channel_rms_norm(fn, input, weight, bias, eps, silu):
    _check_input(fn, input)
    c = input.shape[1]
    dtype = _channel_affine_dtype(fn, input, weight, bias)
    if input.numel() == 0:
        return _empty_result(input, weight, bias)
    x, w, b = _to(input, dtype), _per_channel(weight, dtype, c), _per_channel(bias, dtype, c)
    if _needs_grad(input, weight, bias):
        y = _ChannelRMSNorm.apply(x, w, b, float(eps), silu)
    else:
        y = _channel_rms_fwd(x, w, b, float(eps), silu)[0]
    return _to(y, input.dtype)
