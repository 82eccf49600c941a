"""norma.functional and norma.nn row norms against PyTorch.

The oracle is PyTorch in float64 on the same (float32/bfloat16/float16) inputs. For float32, norma
must be at least as close to it as PyTorch's own float32 result, forward and backward."""

import math

import pytest
import torch
import torch.nn.functional as F

import norma
import norma.functional as NF
from f32_mode import TORCH_FACTOR

torch.manual_seed(0)

EPS32 = 2.0 ** -24


def max_err(a, ref):
    return (a.double() - ref).abs().max().item()


def random_case(rng):
    """A random (input shape, normalized_shape) with 1-3 leading and 1-2 normalized dimensions."""
    lead = [int(rng.integers(1, 6)) for _ in range(int(rng.integers(1, 4)))]
    norm = [int(rng.integers(1, 70)) for _ in range(int(rng.integers(1, 3)))]
    return lead + norm, norm


@pytest.fixture
def rng():
    import numpy as np
    return np.random.default_rng(1234)


def grads_f64(fn, tensors, g):
    """Gradients of sum(fn(*tensors) * g) computed by torch in float64."""
    leaves = [None if t is None else t.detach().double().requires_grad_() for t in tensors]
    fn(*leaves).backward(g.double())
    return [None if t is None else t.grad for t in leaves]


def grads_of(fn, tensors, g):
    leaves = [None if t is None else t.detach().clone().requires_grad_() for t in tensors]
    fn(*leaves).backward(g)
    return [None if t is None else t.grad for t in leaves]


def assert_as_close(name, ours, theirs, ref, scale):
    """norma's largest error must not exceed PyTorch's float32 one (to 1% of a float32 rounding)."""
    e_ours, e_theirs = max_err(ours, ref), max_err(theirs, ref)
    assert e_ours <= TORCH_FACTOR * e_theirs + 0.01 * EPS32 * scale, "%s: norma error %.3g > torch float32 error %.3g" % (
        name, e_ours, e_theirs)


# ----- LayerNorm and RMSNorm, float32, forward and backward ---------------------------------------

@pytest.mark.parametrize("op", ["layer", "rms"])
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, False)])
def test_float32_matches_float64_at_least_as_well_as_torch(rng, op, affine):
    for trial in range(12):
        shape, nshape = random_case(rng)
        x = (torch.randn(shape) * float(rng.uniform(0.1, 10)) + float(rng.normal(0, 3))).float()
        w = torch.randn(nshape) if affine[0] else None
        b = torch.randn(nshape) if affine[1] and op == "layer" else None
        eps = float(rng.choice([1e-5, 1e-6, 1e-3]))
        if op == "layer":
            ours_fn = lambda x, w, b: NF.layer_norm(x, nshape, w, b, eps)
            torch_fn = lambda x, w, b: F.layer_norm(x, nshape, w, b, eps)
        else:
            ours_fn = lambda x, w, b: NF.rms_norm(x, nshape, w, eps)
            torch_fn = lambda x, w, b: F.rms_norm(x, nshape, w, eps)
        ref = torch_fn(x.double(), None if w is None else w.double(), None if b is None else b.double())
        scale = ref.abs().max().item()
        assert_as_close("%s forward %s" % (op, shape), ours_fn(x, w, b), torch_fn(x, w, b), ref, scale)

        g = torch.randn(shape)
        refs = grads_f64(torch_fn, [x, w, b], g)
        ours = grads_of(ours_fn, [x, w, b], g)
        theirs = grads_of(torch_fn, [x, w, b], g)
        for name, o, t, r in zip(["dx", "dweight", "dbias"], ours, theirs, refs):
            if r is not None:
                assert o is not None and o.dtype == torch.float32 and o.shape == r.shape
                assert_as_close("%s %s %s" % (op, name, shape), o, t, r, r.abs().max().item())


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("op", ["layer", "rms"])
def test_16bit_within_one_rounding(rng, dtype, op):
    """bfloat16/float16: computed in float and rounded once, so within one unit in the last place of
    the float64 result (computed from the same 16-bit inputs and parameters)."""
    for trial in range(8):
        shape, nshape = random_case(rng)
        x = (torch.randn(shape) * 2 + 1).to(dtype)
        w, b = torch.randn(nshape).to(dtype), torch.randn(nshape).to(dtype)
        if op == "layer":
            ours = NF.layer_norm(x, nshape, w, b)
            ref = F.layer_norm(x.double(), nshape, w.double(), b.double())
        else:
            ours = NF.rms_norm(x, nshape, w, 1e-6)
            ref = F.rms_norm(x.double(), nshape, w.double(), 1e-6)
        assert ours.dtype == dtype
        mant = 7 if dtype == torch.bfloat16 else 10
        ulp = torch.exp2(torch.floor(torch.log2(ref.abs().clamp_min(1e-30))) - mant)
        # 1 ulp of the result, plus float32 rounding of the terms x̂·w and b that were added
        terms = (x.double().abs().max() * 10 + b.double().abs()).max().item()
        assert ((ours.double() - ref).abs() <= ulp + 4 * EPS32 * terms).all(), (op, dtype, shape)
        # and gradients within float rounding of the float64 ones
        g = torch.randn(shape).to(dtype)
        fn = (lambda x, w: NF.layer_norm(x, nshape, w)) if op == "layer" else (lambda x, w: NF.rms_norm(x, nshape, w))
        tfn = (lambda x, w: F.layer_norm(x, nshape, w)) if op == "layer" else (lambda x, w: F.rms_norm(x, nshape, w))
        rdx, rdw = grads_f64(tfn, [x, w], g)
        dx, dw = grads_of(fn, [x, w], g)
        assert dx.dtype == dtype and dw.dtype == dtype
        assert max_err(dx, rdx) <= 2 ** -(mant - 1) * rdx.abs().max().item() + 1e-6
        assert max_err(dw, rdw) <= 2 ** -(mant - 1) * rdw.abs().max().item() + 1e-6


def test_mixed_dtype_runs_in_float32():
    x = torch.randn(6, 40).to(torch.bfloat16)
    w, b = torch.randn(40), torch.randn(40)
    ours, theirs = NF.layer_norm(x, (40,), w, b), F.layer_norm(x, (40,), w, b)
    assert ours.dtype == torch.bfloat16
    ref = F.layer_norm(x.double(), (40,), w.double(), b.double())
    assert max_err(ours, ref) <= max_err(theirs, ref) + 1e-6
    with pytest.raises(TypeError, match="mixed dtypes"):
        NF.layer_norm(torch.randn(3, 4), (4,), torch.ones(4, dtype=torch.bfloat16))


# ----- numerical extremes ----------------------------------------------------------------------

@pytest.mark.parametrize("mean,std", [(1e4, 1e-2), (1e5, 1e-2), (-1e6, 1e-1), (0.0, 1e30), (1e30, 1e29)])
def test_extreme_rows_stay_accurate(mean, std):
    """Rows PyTorch loses (a large mean over a small spread; |x| ~ 1e30, where x² overflows float32)
    normalize to 1e-4 of float64 in norma."""
    x = (torch.randn(8, 3072, dtype=torch.float64) * std + mean).float()
    for op in ("layer", "rms"):
        if op == "layer":
            ours, ref = NF.layer_norm(x, (3072,)), F.layer_norm(x.double(), (3072,))
        else:
            ours, ref = NF.rms_norm(x, (3072,), eps=1e-6), F.rms_norm(x.double(), (3072,), eps=1e-6)
        rel = max_err(ours, ref) / ref.abs().max().item()
        assert rel <= 1e-4, (op, mean, std, rel)


def test_nan_stays_in_its_row():
    x = torch.randn(4, 50)
    x[2, 7] = float("nan")
    y = NF.layer_norm(x, (50,))
    assert torch.isnan(y[2]).all()
    clean = NF.layer_norm(x[[0, 1, 3]], (50,))
    assert torch.equal(y[[0, 1, 3]], clean)


# ----- AdaLN modulation ------------------------------------------------------------------------

def ada_ref(x, shift, scale, eps, norm):
    D = x.shape[-1]
    n = F.layer_norm(x, (D,), eps=eps) if norm == "layer" else F.rms_norm(x, (D,), eps=eps)

    def b(t):
        return t if t is None or t.dim() == 3 else t[:, None, :]

    out = n * (1 + b(scale)) if scale is not None else n
    return out + b(shift) if shift is not None else out


@pytest.mark.parametrize("norm", ["layer", "rms"])
@pytest.mark.parametrize("layout", ["per_sample", "per_sample_3d", "per_token", "flux_chunks", "broadcast_batch",
                                    "shift_only", "scale_only"])
def test_ada_layer_norm(norm, layout):
    B, L, D = 3, 17, 40
    x = torch.randn(B, L, D) * 2 + 0.5
    mod = None
    if layout == "per_sample":
        shift, scale = torch.randn(B, D), torch.randn(B, D)
    elif layout == "per_sample_3d":
        shift, scale = torch.randn(B, 1, D), torch.randn(B, 1, D)
    elif layout == "per_token":
        shift, scale = torch.randn(B, L, D), torch.randn(B, L, D)
    elif layout == "flux_chunks":  # FLUX: Linear(silu(vec)) -> (B, 6D) -> chunk: (shift, scale, gate) x 2
        mod = torch.randn(B, 6 * D)
        shift, scale = mod.chunk(6, dim=-1)[3:5]
    elif layout == "broadcast_batch":
        shift, scale = torch.randn(1, D), torch.randn(1, 1, D)
    elif layout == "shift_only":
        shift, scale = torch.randn(B, D), None
    else:
        shift, scale = None, torch.randn(B, L, D)
    ours = NF.ada_layer_norm(x, shift, scale, eps=1e-6, norm=norm)
    theirs = ada_ref(x, shift, scale, 1e-6, norm)
    ref = ada_ref(x.double(), *(None if t is None else t.double() for t in (shift, scale)), 1e-6, norm)
    assert_as_close("ada forward", ours, theirs, ref, ref.abs().max().item())

    leaves = [x, mod if mod is not None else shift, scale if mod is None else None]

    def ours_fn(x, a, c):
        s, t = (a.chunk(6, dim=-1)[3:5]) if mod is not None else (a, c)
        return NF.ada_layer_norm(x, s, t, eps=1e-6, norm=norm)

    def torch_fn(x, a, c):
        s, t = (a.chunk(6, dim=-1)[3:5]) if mod is not None else (a, c)
        return ada_ref(x, s, t, 1e-6, norm)

    g = torch.randn(B, L, D)
    refs = grads_f64(torch_fn, leaves, g)
    ours_g, theirs_g = grads_of(ours_fn, leaves, g), grads_of(torch_fn, leaves, g)
    for name, o, t, r in zip(["dx", "dshift", "dscale"], ours_g, theirs_g, refs):
        if r is not None:
            assert o.shape == r.shape, (name, o.shape, r.shape)
            assert_as_close("ada %s %s" % (name, layout), o, t, r, r.abs().max().item())


def test_ada_layer_norm_bf16():
    B, L, D = 2, 9, 64
    x = torch.randn(B, L, D).to(torch.bfloat16)
    shift, scale = torch.randn(B, D).to(torch.bfloat16), torch.randn(B, D).to(torch.bfloat16)
    ours = NF.ada_layer_norm(x, shift, scale)
    ref = ada_ref(x.double(), shift.double(), scale.double(), 1e-6, "layer")
    assert ours.dtype == torch.bfloat16
    assert max_err(ours, ref) <= 2 ** -7 * ref.abs().max().item()


# ----- modules ---------------------------------------------------------------------------------

def test_modules_are_drop_in():
    for ours, theirs in [(norma.nn.LayerNorm(24), torch.nn.LayerNorm(24)),
                         (norma.nn.LayerNorm([4, 6], bias=False), torch.nn.LayerNorm([4, 6], bias=False)),
                         (norma.nn.LayerNorm(24, elementwise_affine=False), torch.nn.LayerNorm(24, elementwise_affine=False)),
                         (norma.nn.RMSNorm(24), torch.nn.RMSNorm(24)),
                         (norma.nn.RMSNorm([4, 6], eps=1e-6), torch.nn.RMSNorm([4, 6], eps=1e-6))]:
        assert list(ours.state_dict().keys()) == list(theirs.state_dict().keys())
        assert repr(ours) == repr(theirs)
        with torch.no_grad():
            for p in theirs.parameters():
                p.copy_(torch.randn_like(p))
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(5, *theirs.normalized_shape)
        assert torch.allclose(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
        if list(ours.parameters()):
            ours(x).sum().backward()
        for p in ours.parameters():
            assert p.grad is not None and p.grad.shape == p.shape


# ----- inference: the same values without autograd --------------------------------------------

@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_no_grad_calls_match_autograd_calls(dtype):
    """Without gradients the wrappers call the forward directly (no autograd node, no saved mean):
    bitwise the outputs of the same call with gradients."""
    B, L, D = 2, 3, 40
    x, r, w, b = (torch.randn(B, L, D).to(dtype) for _ in range(4))
    w, b = w[0, 0], b[0, 0]
    mod = [torch.randn(B, D).to(dtype) for _ in range(3)]
    calls = [lambda x, r: NF.layer_norm(x, (D,), w, b), lambda x, r: NF.rms_norm(x, (D,), w),
             lambda x, r: NF.add_layer_norm(x, r, (D,), w, b), lambda x, r: NF.add_rms_norm(x, r, (D,), w),
             lambda x, r: NF.ada_layer_norm(x, mod[1], mod[2]),
             lambda x, r: NF.ada_layer_norm(x, mod[1], mod[2], norm="rms"),
             lambda x, r: NF.gated_ada_layer_norm(x, r, *mod),
             lambda x, r: NF.gated_ada_layer_norm(x, r, *mod, norm="rms")]
    for i, call in enumerate(calls):
        with torch.no_grad():
            plain = call(x, r)
        graded = call(x.clone().requires_grad_(), r.clone().requires_grad_())
        plain, graded = (plain, graded) if isinstance(plain, tuple) else ((plain,), (graded,))
        assert all(g.grad_fn is not None for g in graded), i
        assert all(torch.equal(p, g.detach()) for p, g in zip(plain, graded)), i


# ----- layouts, empty tensors, threads ----------------------------------------------------------

def test_non_contiguous_input_is_read_correctly():
    x = torch.randn(30, 20).t()  # (20, 30) with strides (1, 20)
    assert not x.is_contiguous()
    assert torch.equal(NF.layer_norm(x, (30,)), NF.layer_norm(x.contiguous(), (30,)))
    y = torch.randn(4, 8, 64)[:, :, ::2]
    assert torch.equal(NF.rms_norm(y, (32,)), NF.rms_norm(y.contiguous(), (32,)))


def test_empty_tensors():
    w = torch.ones(7, requires_grad=True)
    x = torch.randn(0, 7, requires_grad=True)
    y = NF.layer_norm(x, (7,), w)
    assert y.shape == (0, 7)
    y.sum().backward()
    assert torch.equal(w.grad, torch.zeros(7))
    assert NF.rms_norm(torch.randn(3, 0), (0,)).shape == (3, 0)


def test_thread_count_does_not_change_results():
    x = torch.randn(300, 1000)
    w = torch.randn(1000, requires_grad=True)
    old = norma.get_num_threads()
    outs = []
    for n in (1, 2, 3):
        norma.set_num_threads(n)
        assert norma.get_num_threads() == n
        w.grad = None
        y = NF.layer_norm(x, (1000,), w)
        y.backward(torch.ones_like(y))
        outs.append((y, w.grad.clone()))
    norma.set_num_threads(old)
    for y, g in outs[1:]:
        assert torch.equal(y, outs[0][0]) and torch.equal(g, outs[0][1])


# ----- bad arguments -----------------------------------------------------------------------------

def test_bad_arguments_raise_clear_errors():
    x = torch.randn(2, 4)
    with pytest.raises(RuntimeError, match=r"expected input with shape \[\*, 5\]"):
        NF.layer_norm(x, (5,))
    with pytest.raises(RuntimeError, match="Expected weight to be of same shape"):
        NF.layer_norm(x, (4,), torch.ones(3))
    with pytest.raises(RuntimeError, match="Expected bias to be of same shape"):
        NF.layer_norm(x, (4,), None, torch.ones(3))
    with pytest.raises(RuntimeError, match="at least 1-dimensional"):
        NF.rms_norm(x, [])
    with pytest.raises(TypeError, match="float64"):
        NF.layer_norm(x.double(), (4,))
    with pytest.raises(TypeError, match="int64"):
        NF.rms_norm(torch.ones(2, 4, dtype=torch.int64), (4,))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        NF.layer_norm([[1.0, 2.0]], (2,))
    with pytest.raises(ValueError, match="device meta"):
        NF.layer_norm(torch.empty(2, 4, device="meta"), (4,))
    with pytest.raises(ValueError, match="eps must be a finite number"):
        NF.layer_norm(x, (4,), eps=-1.0)
    with pytest.raises(ValueError, match="eps must be a finite number"):
        NF.rms_norm(x, (4,), eps=float("nan"))
    with pytest.raises(ValueError, match="input must have shape"):
        NF.ada_layer_norm(x, None, None)
    with pytest.raises(ValueError, match="norm must be"):
        NF.ada_layer_norm(torch.randn(2, 3, 4), None, None, norm="group")
    with pytest.raises(ValueError, match="scale must have shape"):
        NF.ada_layer_norm(torch.randn(2, 3, 4), None, torch.randn(2, 5))
    with pytest.raises(ValueError, match="n must be in"):
        norma.set_num_threads(0)
    with pytest.raises(TypeError):
        norma.set_num_threads(2.5)


@pytest.mark.parametrize("rms", [False, True])
@pytest.mark.parametrize("shape", [(4, 7, 64), (3, 3072), (5, 1)])
def test_fused_residual_add(rms, shape):
    d = shape[-1]
    x, r = torch.randn(shape), torch.randn(shape) * 3
    w, b = torch.randn(d), torch.randn(d)
    gy, gs = torch.randn(shape), torch.randn(shape)

    def ours(x, r, w, b):
        if rms:
            return NF.add_rms_norm(x, r, (d,), w, 1e-6)
        return NF.add_layer_norm(x, r, (d,), w, b, 1e-5)

    def theirs(x, r, w, b):
        s = r + x
        if s.dtype == torch.float64:  # the oracle normalizes the sum both float32 results hold: rounded once
            s = s.float().double()
        return (F.rms_norm(s, (d,), w, 1e-6) if rms else F.layer_norm(s, (d,), w, b, 1e-5)), s

    results = []
    for fn, dtype in ((ours, torch.float32), (theirs, torch.float32), (theirs, torch.float64)):
        leaves = [t.to(dtype).clone().requires_grad_() for t in (x, r, w, b)]
        y, s = fn(*leaves)
        (y * gy.to(dtype)).sum().add((s * gs.to(dtype)).sum()).backward()
        results.append([y.detach(), s.detach()] + [t.grad if t.grad is not None else torch.zeros_like(t)
                                                   for t in leaves])
    names = ["y", "sum", "dx", "dresidual", "dweight", "dbias"]
    for i, name in enumerate(names):
        if rms and name == "dbias":
            continue
        ref = results[2][i]
        assert_as_close("add %s %s %s" % ("rms" if rms else "layer", shape, name), results[0][i], results[1][i], ref,
                        ref.abs().max().item())


# ----- gated residual fused with the next modulated norm -------------------------------------------

def gated_ref(h, r, gate, shift, scale, eps, norm):
    s = r + (h * (gate if gate is None or gate.dim() == 3 else gate[:, None, :]) if gate is not None else h)
    return ada_ref(s, shift, scale, eps, norm), s


@pytest.mark.parametrize("norm", ["layer", "rms"])
@pytest.mark.parametrize("layout", ["per_sample", "per_token", "flux_chunks", "broadcast_batch", "no_gate",
                                    "gate_only"])
def test_gated_ada_layer_norm(norm, layout):
    """Forward and every gradient (through y and sum) against PyTorch's composition, float32 at least as
    close to float64 as PyTorch's own."""
    B, L, D = 3, 11, 48
    h, r = torch.randn(B, L, D) * 2, torch.randn(B, L, D) * 3 + 1
    mod = torch.randn(B, 6 * D) * 0.5
    gate, shift, scale = torch.randn(B, D), torch.randn(B, D), torch.randn(B, D)
    if layout == "per_token":
        gate, shift, scale = torch.randn(B, L, D), torch.randn(B, L, D), torch.randn(B, L, D)
    elif layout == "broadcast_batch":
        gate, shift, scale = torch.randn(1, D), torch.randn(1, 1, D), torch.randn(1, D)
    elif layout == "no_gate":
        gate = None
    elif layout == "gate_only":
        shift = scale = None
    gy, gs = torch.randn(B, L, D), torch.randn(B, L, D)

    def split(m, g, sh, sc):  # FLUX: (shift, scale, gate) of the first half gate the residual, the second modulate
        if layout != "flux_chunks":
            return g, sh, sc
        c = m.chunk(6, dim=-1)
        return c[2], c[3], c[4]

    def ours(h, r, m, g, sh, sc):
        return NF.gated_ada_layer_norm(h, r, *split(m, g, sh, sc), eps=1e-6, norm=norm)

    def theirs(h, r, m, g, sh, sc):
        return gated_ref(h, r, *split(m, g, sh, sc), 1e-6, norm)

    results = []
    for fn, dtype in ((ours, torch.float32), (theirs, torch.float32), (theirs, torch.float64)):
        leaves = [None if t is None else t.to(dtype).clone().requires_grad_() for t in (h, r, mod, gate, shift, scale)]
        y, s = fn(*leaves)
        (y * gy.to(dtype)).sum().add((s * gs.to(dtype)).sum()).backward()
        results.append([y.detach(), s.detach()] + [None if t is None else t.grad for t in leaves])
    names = ["y", "sum", "dh", "dresidual", "dmod", "dgate", "dshift", "dscale"]
    for i, name in enumerate(names):
        ref = results[2][i]
        if ref is None:
            assert results[0][i] is None, name
            continue
        assert results[0][i].shape == ref.shape, (name, results[0][i].shape, ref.shape)
        assert_as_close("gated %s %s %s" % (norm, layout, name), results[0][i], results[1][i], ref,
                        ref.abs().max().item())


def test_gated_ada_layer_norm_bf16_and_mixed():
    B, L, D = 2, 9, 64
    h, r = torch.randn(B, L, D).bfloat16(), torch.randn(B, L, D).bfloat16()
    gate, shift, scale = (torch.randn(B, D).bfloat16() for _ in range(3))
    y, s = NF.gated_ada_layer_norm(h, r, gate, shift, scale)
    ry, rs = gated_ref(*(t.double() for t in (h, r, gate, shift, scale)), 1e-6, "layer")
    assert y.dtype == s.dtype == torch.bfloat16
    assert max_err(s, rs) <= 2 ** -8 * rs.abs().max().item()  # one rounding of the sum
    assert max_err(y, ry) <= 2 ** -7 * ry.abs().max().item()
    # float32 modulation of a bfloat16 stream: computed in float32, rounded to bfloat16
    y32, s32 = NF.gated_ada_layer_norm(h, r, gate.float(), shift.float(), scale.float())
    assert y32.dtype == torch.bfloat16 and torch.equal(s32, s)


def test_gated_ada_layer_norm_errors_and_empty():
    h = torch.randn(2, 3, 4)
    with pytest.raises(ValueError, match="residual"):
        NF.gated_ada_layer_norm(h, torch.randn(2, 3, 5), None, None, None)
    with pytest.raises(ValueError, match="gate"):
        NF.gated_ada_layer_norm(h, h, torch.randn(2, 5), None, None)
    with pytest.raises(ValueError, match="norm"):
        NF.gated_ada_layer_norm(h, h, None, None, None, norm="group")
    with pytest.raises(ValueError, match="B, L, D"):
        NF.gated_ada_layer_norm(torch.randn(3, 4), torch.randn(3, 4), None, None, None)
    e = torch.randn(2, 0, 4, requires_grad=True)
    g = torch.randn(2, 4, requires_grad=True)
    y, s = NF.gated_ada_layer_norm(e, e.detach().clone(), g, None, None)
    assert y.shape == s.shape == (2, 0, 4)
    (y.sum() + s.sum()).backward()
    assert torch.equal(g.grad, torch.zeros(2, 4))
