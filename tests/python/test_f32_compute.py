"""norma.set_f32_compute("float"): float32 tensors computed in float, as bfloat16/float16 ones are.

Every op, forward and backward, against the same op in the default mode ("double": each result within
about half a float32 ulp of exact, so the float64 truth to this test's precision): outputs and
gradients within TOL float32 roundings of the problem's scale, and not all equal to the double mode's
(the mode really switched). The scale is the largest magnitude among all of a case's results: the
inputs, parameters and upstream gradients are all of order 1 here, so it measures the terms that
results add, also where a gradient cancels to a small value or sums many rows. (The per-op tests run
in float mode too, against PyTorch: f32_mode.py.) Then the mode's API: its errors, and that it
applies from the next call on."""

import pytest
import torch
import torch.nn.functional as F

import norma
import norma.functional as NF

EPS32 = 2.0 ** -24
TOL = 8  # float32 roundings of the scale (at most 2.1 measured when written)


def randn(*shape, channels_last=False, requires_grad=True):
    t = torch.randn(*shape, dtype=torch.float32) * 1.5 + 0.25
    if channels_last:
        t = t.contiguous(memory_format=torch.channels_last)
    return t.requires_grad_(requires_grad)


def _cases():
    """(name, make inputs, run inputs -> output tensor or tuple)"""
    row = lambda: randn(6, 5, 300)
    vec = lambda n: randn(n)
    mod = lambda: randn(6, 1, 300) * 0.1
    img = lambda cl: randn(3, 32, 9, 11, channels_last=cl)
    cases = [
        ("layer_norm", lambda: (row(), vec(300), vec(300)), lambda x, w, b: NF.layer_norm(x, (300,), w, b)),
        ("rms_norm", lambda: (row(), vec(300)), lambda x, w: NF.rms_norm(x, (300,), w, eps=1e-6)),
        ("rms_norm QK", lambda: (randn(2, 4, 33, 128), vec(128)), lambda x, w: NF.rms_norm(x, (128,), w, eps=1e-6)),
        ("add_layer_norm", lambda: (row(), row(), vec(300), vec(300)),
         lambda x, r, w, b: NF.add_layer_norm(x, r, (300,), w, b)),
        ("add_rms_norm", lambda: (row(), row(), vec(300)), lambda x, r, w: NF.add_rms_norm(x, r, (300,), w, eps=1e-6)),
        ("ada_layer_norm", lambda: (row(), mod(), mod()), lambda x, sh, sc: NF.ada_layer_norm(x, sh, sc)),
        ("gated_ada_layer_norm", lambda: (row(), row(), mod(), mod(), mod()),
         lambda x, r, gt, sh, sc: NF.gated_ada_layer_norm(x, r, gt, sh, sc)),
    ]
    for cl in (False, True):
        tag = " NHWC" if cl else ""
        cases += [
            ("group_norm" + tag, lambda cl=cl: (img(cl), vec(32), vec(32)), lambda x, w, b: NF.group_norm(x, 8, w, b)),
            ("group_norm_silu" + tag, lambda cl=cl: (img(cl), vec(32), vec(32)),
             lambda x, w, b: NF.group_norm_silu(x, 8, w, b)),
            ("batch_norm" + tag, lambda cl=cl: (img(cl), vec(32), vec(32)),
             lambda x, w, b: NF.batch_norm(x, None, None, w, b, training=True)),
            ("instance_norm" + tag, lambda cl=cl: (img(cl), vec(32), vec(32)),
             lambda x, w, b: NF.instance_norm(x, weight=w, bias=b)),
            ("channel_rms_norm" + tag, lambda cl=cl: (img(cl), randn(32, 1, 1), randn(32, 1, 1)),
             lambda x, w, b: NF.channel_rms_norm(x, w, b)),
            ("channel_rms_norm_silu" + tag, lambda cl=cl: (img(cl), randn(32, 1, 1), randn(32, 1, 1)),
             lambda x, w, b: NF.channel_rms_norm_silu(x, w, b)),
            ("ada_group_norm" + tag, lambda cl=cl: (img(cl), randn(3, 32) * 0.1, randn(3, 32) * 0.1),
             lambda x, sh, sc: NF.ada_group_norm(x, 8, sh, sc)),
            ("adaptive_instance_norm" + tag, lambda cl=cl: (img(cl), img(cl)), lambda c, s: NF.adaptive_instance_norm(c, s)),
        ]
    cases += [
        ("weight_norm", lambda: (randn(64, 3, 3, 3), randn(64, 1, 1, 1)), lambda v, g: NF.weight_norm(v, g, 0)),
        ("spectral_norm", lambda: (randn(48, 70), torch.randn(48), torch.randn(70)),
         lambda w, u, v: NF.spectral_norm(w, F.normalize(u, dim=0), F.normalize(v, dim=0))),
    ]
    return cases


CASES = _cases()


def run(mode, make_args, fn, seed):
    """fn's outputs and the gradients of its inputs that take them, in the given f32 mode."""
    torch.manual_seed(seed)
    args = make_args()
    before = norma.get_f32_compute()
    norma.set_f32_compute(mode)
    try:
        out = fn(*args)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum((o * torch.randn(o.shape)).sum() for o in outs)
        loss.backward()
    finally:
        norma.set_f32_compute(before)
    grads = [a.grad for a in args if isinstance(a, torch.Tensor) and a.grad is not None]
    return [o.detach() for o in outs] + grads


@pytest.mark.parametrize("name,make_args,fn", CASES, ids=[c[0] for c in CASES])
def test_float_mode_close_to_double_mode(name, make_args, fn):
    exact = run("double", make_args, fn, 11)
    fast = run("float", make_args, fn, 11)
    assert len(exact) == len(fast) and len(exact) >= 2
    differs = False
    scale = max(e.abs().max().item() for e in exact)
    for i, (e, f) in enumerate(zip(exact, fast)):
        err = (f.double() - e.double()).abs().max().item()
        assert err <= TOL * EPS32 * scale, "%s: result %d differs by %.3g = %.1f float32 roundings of the scale %.3g" % (
            name, i, err, err / (EPS32 * scale), scale)
        differs = differs or not torch.equal(e, f)
    assert differs, "%s: the float mode gave the double mode's bits everywhere" % name


def test_mode_api():
    before = norma.get_f32_compute()  # "double" unless NORMA_F32_COMPUTE says otherwise
    assert before in ("double", "float")
    with pytest.raises(ValueError, match="'double' or 'float'"):
        norma.set_f32_compute("half")
    assert norma.get_f32_compute() == before
    x = torch.randn(4, 1000) * 3 + 1
    xb = x.bfloat16()
    try:
        norma.set_f32_compute("float")
        assert norma.get_f32_compute() == "float"
        fast, fast_b = NF.layer_norm(x, (1000,)), NF.layer_norm(xb, (1000,))
        norma.set_f32_compute("double")
        assert norma.get_f32_compute() == "double"
        exact, exact_b = NF.layer_norm(x, (1000,)), NF.layer_norm(xb, (1000,))
        assert not torch.equal(fast, exact)
        assert torch.equal(fast_b, exact_b)  # bfloat16 is computed in float in both modes
        assert torch.equal(NF.layer_norm(x, (1000,)), exact)  # each mode deterministic
        norma.set_f32_compute("float")
        assert torch.equal(NF.layer_norm(x, (1000,)), fast)
    finally:
        norma.set_f32_compute(before)
