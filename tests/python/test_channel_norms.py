"""norma's channel norms against PyTorch (float64 as the oracle) in both memory layouts."""

import pytest
import torch
import torch.nn.functional as F

import norma
import norma.functional as NF
from f32_mode import TORCH_FACTOR

EPS32 = 2.0 ** -24
torch.manual_seed(1)


def max_err(a, ref):
    return (a.double() - ref).abs().max().item()


def assert_as_close(name, ours, theirs, ref):
    """norma's largest error against float64 must not exceed PyTorch's float32 one (to 1% of a float32
    rounding of the scale)."""
    e_ours, e_theirs = max_err(ours, ref), max_err(theirs, ref)
    scale = ref.abs().max().item()
    assert e_ours <= TORCH_FACTOR * e_theirs + 0.01 * EPS32 * scale, "%s: norma %.3g > torch %.3g" % (name, e_ours, e_theirs)


def layouts(x):
    """x as channels-first, and as channels-last (NHWC strides) for 3-D to 5-D tensors."""
    yield "first", x.contiguous()
    if x.dim() >= 3:
        perm = (0, *range(2, x.dim()), 1)
        inverse = (0, x.dim() - 1, *range(1, x.dim() - 1))
        yield "last", x.permute(perm).contiguous().permute(inverse)


def grads(fn, tensors, g, dtype=None):
    leaves = [None if t is None else t.detach().to(dtype or t.dtype).clone().requires_grad_() for t in tensors]
    fn(*leaves).backward(g.to(dtype or g.dtype))
    return [None if t is None else t.grad for t in leaves]


SHAPES = [(4, 3), (5, 6, 7), (2, 4, 5, 6), (3, 8, 4, 5), (2, 3, 2, 3, 4), (1, 16, 9, 9)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm(shape, training):
    C = shape[1]
    x = torch.randn(shape) * 2 + 0.5
    w, b = torch.randn(C), torch.randn(C)
    for name, xl in layouts(x):
        rm, rv = torch.randn(C), torch.rand(C) + 0.5
        rm_t, rv_t, rm_d, rv_d = rm.clone(), rv.clone(), rm.double(), rv.double()
        ours = NF.batch_norm(xl, rm, rv, w, b, training=training, momentum=0.3)
        theirs = F.batch_norm(xl, rm_t, rv_t, w, b, training=training, momentum=0.3)
        ref = F.batch_norm(xl.double(), rm_d, rv_d, w.double(), b.double(), training=training, momentum=0.3)
        assert_as_close("bn %s %s fwd" % (shape, name), ours, theirs, ref)
        assert_as_close("bn running_mean", rm, rm_t, rm_d)
        assert_as_close("bn running_var", rv, rv_t, rv_d)
        if xl.dim() == 4 and name == "last":
            assert ours.is_contiguous(memory_format=torch.channels_last)
        g = torch.randn(shape)
        rms, rvs = torch.randn(C), torch.rand(C) + 0.5
        fn = lambda x, w, b: NF.batch_norm(x, rms.to(x.dtype), rvs.to(x.dtype), w, b, training=training)
        tfn = lambda x, w, b: F.batch_norm(x, rms.to(x.dtype).clone(), rvs.to(x.dtype).clone(), w, b, training=training)
        for gname, o, t, r in zip(["dx", "dw", "db"], grads(fn, [xl, w, b], g), grads(tfn, [xl, w, b], g),
                                  grads(tfn, [xl, w, b], g, torch.float64)):
            assert_as_close("bn %s %s %s" % (shape, name, gname), o, t, r)


def test_batch_norm_module_is_drop_in():
    for momentum in (0.1, None):
        ours, theirs = norma.nn.BatchNorm2d(6, momentum=momentum), torch.nn.BatchNorm2d(6, momentum=momentum)
        assert list(ours.state_dict()) == list(theirs.state_dict()) and repr(ours) == repr(theirs)
        for step in range(3):
            x = torch.randn(4, 6, 5, 5) * (step + 1) + step
            assert torch.allclose(ours(x), theirs(x), atol=1e-5)
        assert torch.allclose(ours.running_mean, theirs.running_mean, atol=1e-6)
        assert torch.allclose(ours.running_var, theirs.running_var, atol=1e-5)
        assert ours.num_batches_tracked.item() == 3
        ours.eval(), theirs.eval()
        x = torch.randn(2, 6, 5, 5)
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)
    untracked, ref = norma.nn.BatchNorm1d(5, track_running_stats=False), torch.nn.BatchNorm1d(5, track_running_stats=False)
    untracked.eval(), ref.eval()
    x = torch.randn(8, 5)
    assert torch.allclose(untracked(x), ref(x), atol=1e-5)  # eval without running stats: batch statistics


@pytest.mark.parametrize("shape", [(3, 4, 7), (2, 5, 6, 6), (2, 3, 2, 4, 3)])
@pytest.mark.parametrize("tracked", [False, True])
def test_instance_norm(shape, tracked):
    C = shape[1]
    x = torch.randn(shape) * 1.5 - 2
    w, b = torch.randn(C), torch.randn(C)
    for name, xl in layouts(x):
        rm, rv = (torch.randn(C), torch.rand(C) + 0.5) if tracked else (None, None)
        rm_t, rv_t = (rm.clone(), rv.clone()) if tracked else (None, None)
        rm_d, rv_d = (rm.double(), rv.double()) if tracked else (None, None)
        ours = NF.instance_norm(xl, rm, rv, w, b, use_input_stats=True, momentum=0.2)
        theirs = F.instance_norm(xl, rm_t, rv_t, w, b, use_input_stats=True, momentum=0.2)
        ref = F.instance_norm(xl.double(), rm_d, rv_d, w.double(), b.double(), use_input_stats=True, momentum=0.2)
        assert_as_close("in %s %s" % (shape, name), ours, theirs, ref)
        if tracked:
            assert_as_close("in running_mean", rm, rm_t, rm_d)
            assert_as_close("in running_var", rv, rv_t, rv_d)
            # inference with the running statistics
            assert_as_close("in eval", NF.instance_norm(xl, rm, rv, w, b, use_input_stats=False),
                            F.instance_norm(xl, rm, rv, w, b, use_input_stats=False),
                            F.instance_norm(xl.double(), rm.double(), rv.double(), w.double(), b.double(),
                                            use_input_stats=False))
        g = torch.randn(shape)
        fn = lambda x, w, b: NF.instance_norm(x, weight=w, bias=b)
        tfn = lambda x, w, b: F.instance_norm(x, weight=w, bias=b)
        for gname, o, t, r in zip(["dx", "dw", "db"], grads(fn, [xl, w, b], g), grads(tfn, [xl, w, b], g),
                                  grads(tfn, [xl, w, b], g, torch.float64)):
            assert_as_close("in %s %s %s" % (shape, name, gname), o, t, r)


def test_instance_norm_modules():
    for cls, tcls, shape in [(norma.nn.InstanceNorm1d, torch.nn.InstanceNorm1d, (3, 4, 9)),
                             (norma.nn.InstanceNorm2d, torch.nn.InstanceNorm2d, (3, 4, 5, 5)),
                             (norma.nn.InstanceNorm3d, torch.nn.InstanceNorm3d, (2, 4, 3, 3, 3))]:
        ours, theirs = cls(4, affine=True, track_running_stats=True), tcls(4, affine=True, track_running_stats=True)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        x = torch.randn(shape)
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)
        assert torch.allclose(ours.running_var, theirs.running_var, atol=1e-6)
        ours.eval(), theirs.eval()
        assert torch.allclose(ours(x), theirs(x), atol=1e-5)
        assert torch.allclose(ours(x[0]), theirs(x[0]), atol=1e-5)  # unbatched input


@pytest.mark.parametrize("shape,groups", [((2, 6, 7), 3), ((3, 8, 5, 5), 4), ((1, 32, 8, 8), 32), ((2, 4, 3, 3, 3), 1),
                                          ((2, 64, 16, 16), 32)])
def test_group_norm(shape, groups):
    C = shape[1]
    x = torch.randn(shape) * 3 + 1
    w, b = torch.randn(C), torch.randn(C)
    for name, xl in layouts(x):
        ours = NF.group_norm(xl, groups, w, b)
        ref = F.group_norm(xl.double(), groups, w.double(), b.double())
        assert_as_close("gn %s %s" % (shape, name), ours, F.group_norm(xl, groups, w, b), ref)
        g = torch.randn(shape)
        fn = lambda x, w, b: NF.group_norm(x, groups, w, b)
        tfn = lambda x, w, b: F.group_norm(x, groups, w, b)
        for gname, o, t, r in zip(["dx", "dw", "db"], grads(fn, [xl, w, b], g), grads(tfn, [xl, w, b], g),
                                  grads(tfn, [xl, w, b], g, torch.float64)):
            assert_as_close("gn %s %s %s" % (shape, name, gname), o, t, r)
    m, tm = norma.nn.GroupNorm(groups, C), torch.nn.GroupNorm(groups, C)
    assert list(m.state_dict()) == list(tm.state_dict()) and repr(m) == repr(tm)


@pytest.mark.parametrize("shape,groups", [((2, 6, 7), 3), ((3, 8, 5, 5), 4), ((2, 64, 16, 16), 32)])
def test_group_norm_silu(shape, groups):
    """The fused GroupNorm + SiLU against PyTorch's composition: the SiLU's sigmoid is float in both, so
    within twice PyTorch's float32 error (or 4 roundings of the scale), forward and every gradient."""
    C = shape[1]
    x = torch.randn(shape) * 3 + 1
    w, b = torch.randn(C) * 2, torch.randn(C)

    def close(name, ours, theirs, ref):
        e_ours, e_theirs, scale = max_err(ours, ref), max_err(theirs, ref), ref.abs().max().item()
        assert e_ours <= max(2 * TORCH_FACTOR * e_theirs, 4 * EPS32 * scale), "%s: norma %.3g, torch %.3g" % (name, e_ours, e_theirs)

    fn = lambda x, w, b: NF.group_norm_silu(x, groups, w, b)
    tfn = lambda x, w, b: F.silu(F.group_norm(x, groups, w, b))
    for name, xl in layouts(x):
        close("gn+silu %s %s" % (shape, name), fn(xl, w, b), tfn(xl, w, b), tfn(xl.double(), w.double(), b.double()))
        g = torch.randn(shape)
        for gname, o, t, r in zip(["dx", "dw", "db"], grads(fn, [xl, w, b], g), grads(tfn, [xl, w, b], g),
                                  grads(tfn, [xl, w, b], g, torch.float64)):
            close("gn+silu %s %s %s" % (shape, name, gname), o, t, r)
    for dtype, mant in [(torch.bfloat16, 7), (torch.float16, 10)]:
        x16, w16, b16 = x.to(dtype), w.to(dtype), b.to(dtype)
        ref = tfn(x16.double(), w16.double(), b16.double())
        assert max_err(fn(x16, w16, b16), ref) <= 2.0 ** -mant * ref.abs().max().item()
    m, tm = norma.nn.GroupNormSiLU(groups, C), torch.nn.GroupNorm(groups, C)
    tm.load_state_dict(m.state_dict())
    assert list(m.state_dict()) == list(tm.state_dict())
    assert torch.equal(m(x), NF.group_norm_silu(x, groups, m.weight, m.bias))
    with pytest.raises(ValueError):
        NF.group_norm_silu(torch.randn(2, 6, 3), 4)


def test_group_norm_large_mean_channels_last():
    """PyTorch 1.13's channels-last GroupNorm returned NaN for mean 1e4, std 1e-2 (E[x²] - E[x]²)."""
    x = (torch.randn(2, 64, 16, 16, dtype=torch.float64) * 1e-2 + 1e4).float().to(memory_format=torch.channels_last)
    # (channels-first float64: PyTorch's channels-last kernel loses digits to E[x²] - E[x]² even in float64)
    ref = F.group_norm(x.double().contiguous(), 32)
    for xl in (x, x.contiguous()):
        rel = max_err(NF.group_norm(xl, 32), ref) / ref.abs().max().item()
        assert rel <= 1e-4


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_16bit_channel_norms(dtype):
    x = (torch.randn(2, 8, 6, 6) * 2).to(dtype)
    w, b = torch.randn(8).to(dtype), torch.randn(8).to(dtype)
    mant = 7 if dtype == torch.bfloat16 else 10
    for name, xl in layouts(x):
        for ours, ref in [(NF.group_norm(xl, 4, w, b), F.group_norm(xl.double(), 4, w.double(), b.double())),
                          (NF.batch_norm(xl, None, None, w, b, training=True),
                           F.batch_norm(xl.double(), None, None, w.double(), b.double(), training=True)),
                          (NF.channel_rms_norm(xl, w, b),
                           F.normalize(xl.double(), dim=1) * 8 ** 0.5 * w.double()[:, None, None] + b.double()[:, None, None])]:
            assert ours.dtype == dtype
            assert max_err(ours, ref) <= 2.0 ** -mant * ref.abs().max().item()


def adain_reference(content, style, eps=1e-5, unbiased=True):
    """naoto0804/pytorch-AdaIN function.py (calc_mean_std + adaptive_instance_normalization)."""
    def calc_mean_std(feat):
        N, C = feat.shape[:2]
        var = feat.reshape(N, C, -1).var(dim=2, unbiased=unbiased) + eps
        shape = (N, C) + (1,) * (feat.dim() - 2)
        return feat.reshape(N, C, -1).mean(dim=2).view(shape), var.sqrt().view(shape)
    cm, cs = calc_mean_std(content)
    sm, ss = calc_mean_std(style)
    return (content - cm) / cs * ss + sm


@pytest.mark.parametrize("unbiased", [True, False])
def test_adaptive_instance_norm(unbiased):
    content, style = torch.randn(2, 4, 6, 5) * 2 + 1, torch.randn(2, 4, 3, 7) * 0.5 - 1
    for name, cl in layouts(content):
        ours = NF.adaptive_instance_norm(cl, style, unbiased=unbiased)
        ref = adain_reference(cl.double(), style.double(), unbiased=unbiased)
        assert_as_close("adain %s" % name, ours, adain_reference(cl, style, unbiased=unbiased), ref)
        g = torch.randn(content.shape)
        fn = lambda c, s: NF.adaptive_instance_norm(c, s, unbiased=unbiased)
        tfn = lambda c, s: adain_reference(c, s, unbiased=unbiased)
        for gname, o, t, r in zip(["dcontent", "dstyle"], grads(fn, [cl, style], g), grads(tfn, [cl, style], g),
                                  grads(tfn, [cl, style], g, torch.float64)):
            assert o.shape == r.shape
            assert_as_close("adain %s %s" % (name, gname), o, t, r)


def qwen_rms_norm(x, gamma, beta, eps=1e-12):
    """diffusers' QwenImageRMS_norm (channel_first=True)."""
    shape = (-1,) + (1,) * (x.dim() - 2)
    return F.normalize(x, dim=1, eps=eps) * x.shape[1] ** 0.5 * gamma.view(shape) + beta.view(shape)


@pytest.mark.parametrize("shape", [(2, 96, 5, 7), (1, 16, 3, 4, 4), (3, 7, 11), (4, 5)])
def test_channel_rms_norm(shape):
    C = shape[1]
    x = torch.randn(shape)
    w, b = torch.randn(C), torch.randn(C)
    for name, xl in layouts(x):
        ours = NF.channel_rms_norm(xl, w, b)
        assert_as_close("crms %s %s" % (shape, name), ours, qwen_rms_norm(xl, w, b),
                        qwen_rms_norm(xl.double(), w.double(), b.double()))
        g = torch.randn(shape)
        fn = lambda x, w, b: NF.channel_rms_norm(x, w, b)
        tfn = lambda x, w, b: qwen_rms_norm(x, w, b)
        for gname, o, t, r in zip(["dx", "dw", "db"], grads(fn, [xl, w, b], g), grads(tfn, [xl, w, b], g),
                                  grads(tfn, [xl, w, b], g, torch.float64)):
            assert_as_close("crms %s %s %s" % (shape, name, gname), o, t, r)


@pytest.mark.parametrize("shape", [(2, 96, 5, 7), (1, 16, 3, 4, 4), (3, 7, 11), (4, 5)])
def test_channel_rms_norm_silu(shape):
    """The fused channel RMSNorm + SiLU against PyTorch's composition (the Qwen-Image VAE's RMS_norm then
    nn.SiLU): the sigmoid is float in both, so within twice PyTorch's float32 error (or 4 roundings of
    the scale), forward and every gradient; 16-bit within a rounding of the output."""
    C = shape[1]
    x = torch.randn(shape)
    w, b = torch.randn(C) * 2, torch.randn(C)

    def close(name, ours, theirs, ref):
        e_ours, e_theirs, scale = max_err(ours, ref), max_err(theirs, ref), ref.abs().max().item()
        assert e_ours <= max(2 * TORCH_FACTOR * e_theirs, 4 * EPS32 * scale), "%s: norma %.3g, torch %.3g" % (name, e_ours, e_theirs)

    fn = lambda x, w, b: NF.channel_rms_norm_silu(x, w, b)
    tfn = lambda x, w, b: F.silu(qwen_rms_norm(x, w, b))
    for name, xl in layouts(x):
        close("crms+silu %s %s" % (shape, name), fn(xl, w, b), tfn(xl, w, b), tfn(xl.double(), w.double(), b.double()))
        g = torch.randn(shape)
        for gname, o, t, r in zip(["dx", "dw", "db"], grads(fn, [xl, w, b], g), grads(tfn, [xl, w, b], g),
                                  grads(tfn, [xl, w, b], g, torch.float64)):
            close("crms+silu %s %s %s" % (shape, name, gname), o, t, r)
    for dtype, mant in [(torch.bfloat16, 7), (torch.float16, 10)]:
        x16, w16, b16 = x.to(dtype), w.to(dtype), b.to(dtype)
        ref = tfn(x16.double(), w16.double(), b16.double())
        assert max_err(fn(x16, w16, b16), ref) <= 2.0 ** -mant * ref.abs().max().item()
    # without parameters, and no gradient wanted
    assert max_err(NF.channel_rms_norm_silu(x), F.silu(qwen_rms_norm(x.double(), torch.ones(C).double(),
                                                                     torch.zeros(C).double()))) < 1e-5


def test_ada_group_norm():
    N, C = 3, 8
    x = torch.randn(N, C, 5, 5)
    emb = torch.randn(N, 2 * C)
    scale, shift = emb.chunk(2, dim=1)  # diffusers AdaGroupNorm order
    ref_fn = lambda x, s, t: F.group_norm(x, 4) * (1 + s[:, :, None, None]) + t[:, :, None, None]
    for name, xl in layouts(x):
        ours = NF.ada_group_norm(xl, 4, shift, scale)
        assert_as_close("adagn %s" % name, ours, ref_fn(xl, scale, shift),
                        ref_fn(xl.double(), scale.double(), shift.double()))
        g = torch.randn(x.shape)
        fn = lambda x, e: NF.ada_group_norm(x, 4, e.chunk(2, 1)[1], e.chunk(2, 1)[0])
        tfn = lambda x, e: ref_fn(x, *e.chunk(2, 1))
        for gname, o, t, r in zip(["dx", "demb"], grads(fn, [xl, emb], g), grads(tfn, [xl, emb], g),
                                  grads(tfn, [xl, emb], g, torch.float64)):
            assert_as_close("adagn %s %s" % (name, gname), o, t, r)
    # one modulation for the whole batch
    s1, t1 = torch.randn(1, C), torch.randn(1, C, 1, 1)
    ours = NF.ada_group_norm(x, 4, t1, s1)
    ref = F.group_norm(x.double(), 4) * (1 + s1.double()[:, :, None, None]) + t1.double()
    assert max_err(ours, ref) < 1e-5


def test_errors():
    x = torch.randn(2, 6, 4)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        NF.batch_norm(torch.randn(1, 3), None, None, training=True)
    with pytest.raises(RuntimeError, match="running_mean and running_var must be defined"):
        NF.batch_norm(x, None, None, training=False)
    with pytest.raises(RuntimeError, match="running_mean should contain 6 elements not 4"):
        NF.batch_norm(x, torch.zeros(4), torch.ones(4), training=True)
    with pytest.raises(ValueError, match="momentum"):
        NF.batch_norm(x, torch.zeros(6), torch.ones(6), training=True, momentum=2.0)
    with pytest.raises(ValueError, match="Expected more than 1 spatial element"):
        NF.instance_norm(torch.randn(2, 3, 1))
    with pytest.raises(ValueError, match="divisible by num_groups"):
        NF.group_norm(x, 4)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        NF.group_norm(torch.randn(1, 2), 2)
    with pytest.raises(TypeError, match="num_groups must be an int"):
        NF.group_norm(x, 2.0)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        NF.group_norm(torch.randn(5), 1)
    with pytest.raises(ValueError, match="style must have"):
        NF.adaptive_instance_norm(x, torch.randn(2, 5, 4))
    with pytest.raises(RuntimeError, match="weight should contain 6 elements"):
        NF.channel_rms_norm(x, torch.ones(5))
    with pytest.raises(TypeError, match="float64"):
        NF.batch_norm(x.double(), None, None, training=True)
    with pytest.raises(ValueError, match="shift must have shape"):
        NF.ada_group_norm(x, 3, torch.randn(2, 5), None)
    # a failed call leaves running statistics untouched
    rm, rv = torch.zeros(6), torch.ones(6)
    with pytest.raises(ValueError):
        NF.batch_norm(x, rm, rv, training=True, eps=-1.0)
    assert torch.equal(rm, torch.zeros(6)) and torch.equal(rv, torch.ones(6))


def test_empty_batches():
    w = torch.ones(3, requires_grad=True)
    x = torch.randn(0, 3, 4, requires_grad=True)
    rm, rv = torch.zeros(3), torch.ones(3)
    y = NF.batch_norm(x, rm, rv, w, None, training=True)
    assert y.shape == x.shape and torch.equal(rm, torch.zeros(3))
    y.sum().backward()
    assert torch.equal(w.grad, torch.zeros(3))
    assert NF.group_norm(torch.randn(0, 4, 3), 2).shape == (0, 4, 3)
