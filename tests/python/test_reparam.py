"""norma's spectral normalization and weight normalization against PyTorch (float64 as the oracle),
an SVD, and PyTorch's parametrization modules."""

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrizations, parametrize

import norma
import norma.functional as NF
from f32_mode import TORCH_FACTOR

EPS32 = 2.0 ** -24
torch.manual_seed(3)


def max_err(a, ref):
    return (a.double() - ref).abs().max().item()


def assert_as_close(name, ours, theirs, ref, slack=0.01):
    """norma's largest error against float64 must not exceed PyTorch's float32 one (to `slack` of a
    float32 rounding of the scale)."""
    e_ours, e_theirs = max_err(ours, ref), max_err(theirs, ref)
    scale = ref.abs().max().item()
    assert e_ours <= TORCH_FACTOR * e_theirs + slack * EPS32 * scale, "%s: norma %.3g > torch %.3g" % (name, e_ours, e_theirs)


def as_matrix(w, dim):
    """PyTorch's _reshape_weight_to_matrix: dim to the front, the rest flattened."""
    if dim != 0:
        w = w.permute(dim, *[d for d in range(w.dim()) if d != dim])
    return w.reshape(w.shape[0], -1)


def torch_spectral(w, u, v, n, eps, dim, training=True):
    """torch.nn.utils.parametrizations._SpectralNorm.forward, written out with torch ops (u, v updated).
    In float64 (the oracle) u and v are rounded to float32 after each step, as the float32 buffers of
    both implementations hold them: the oracle is exact arithmetic on the same state."""
    m = as_matrix(w, dim)
    state = (lambda t: t.float().double()) if w.dtype == torch.float64 else (lambda t: t)
    if training:
        with torch.no_grad():
            for _ in range(n):
                u.copy_(state(F.normalize(torch.mv(m, v), dim=0, eps=eps)))
                v.copy_(state(F.normalize(torch.mv(m.t(), u), dim=0, eps=eps)))
    uc, vc = u.clone(), v.clone()
    sigma = torch.vdot(uc, torch.mv(m, vc))
    return w / sigma


def state(w, dim):
    m = as_matrix(w, dim)
    return F.normalize(torch.randn(m.shape[0]), dim=0), F.normalize(torch.randn(m.shape[1]), dim=0)


CASES = [((48, 64), 0), ((48, 64), 1), ((16, 8, 3, 3), 0), ((8, 16, 3, 3), 1), ((5, 7, 4), 2), ((6, 5, 4, 3), 3),
         ((1, 40), 0), ((40, 1), 0), ((3, 1, 5), 1), ((7, 9), -1), ((300, 200), 0)]


@pytest.mark.parametrize("shape,dim", CASES)
@pytest.mark.parametrize("n", [0, 1, 2])
def test_spectral_norm_matches_torch(shape, dim, n):
    w = torch.randn(shape)
    u0, v0 = state(w, dim % w.dim())
    ours_u, ours_v, t_u, t_v = u0.clone(), v0.clone(), u0.clone(), v0.clone()
    d_u, d_v = u0.double(), v0.double()
    g = torch.randn(shape)

    wo = w.clone().requires_grad_()
    ours = NF.spectral_norm(wo, ours_u, ours_v, n, 1e-12, dim)
    ours.backward(g)
    wt = w.clone().requires_grad_()
    theirs = torch_spectral(wt, t_u, t_v, n, 1e-12, dim % w.dim())
    theirs.backward(g)
    wd = w.double().requires_grad_()
    ref = torch_spectral(wd, d_u, d_v, n, 1e-12, dim % w.dim())
    ref.backward(g.double())

    name = "%s dim %d n %d" % (shape, dim, n)
    assert_as_close(name + " y", ours, theirs, ref.detach())
    assert_as_close(name + " u", ours_u, t_u, d_u, slack=0.5)  # one rounding of u to float
    assert_as_close(name + " v", ours_v, t_v, d_v, slack=0.5)
    assert_as_close(name + " dweight", wo.grad, wt.grad, wd.grad)


def test_spectral_norm_converges_to_the_largest_singular_value():
    for shape, dim in [((60, 40), 0), ((20, 6, 5), 1), ((12, 30), 1)]:
        m = torch.randn(shape)
        # a planted leading singular value, well apart from the rest
        a, b = torch.randn(shape[dim]), torch.randn(m.numel() // shape[dim])
        spike = (8.0 * torch.outer(a / a.norm(), b / b.norm()))
        if dim != 0:
            rest = [s for i, s in enumerate(shape) if i != dim]
            spike = spike.reshape(shape[dim], *rest).movedim(0, dim)
        w = (m * 0.1 + spike.reshape(shape)).contiguous()
        u, v = state(w, dim)
        y = NF.spectral_norm(w, u, v, 100, 1e-12, dim)
        exact = torch.linalg.svdvals(as_matrix(w.double(), dim))[0]
        sigma = (w.double() / y.double()).flatten()[0]
        assert abs(sigma - exact) / exact < 1e-5, (shape, dim, sigma.item(), exact.item())


def test_spectral_norm_inference_keeps_state():
    w = torch.randn(10, 12)
    u, v = state(w, 0)
    u0, v0 = u.clone(), v.clone()
    y = NF.spectral_norm(w, u, v, 3, training=False)
    assert torch.equal(u, u0) and torch.equal(v, v0)
    assert torch.allclose(y, w / torch.dot(u, w @ v), rtol=1e-6)


def test_spectral_norm_one_dimensional_weight_is_exact():
    w = torch.randn(17, dtype=torch.float64).float().requires_grad_()
    wt = w.detach().clone().requires_grad_()
    g = torch.randn(17)
    y = NF.spectral_norm(w, None, None)
    yt = F.normalize(wt, dim=0, eps=1e-12)
    y.backward(g), yt.backward(g)
    ref = F.normalize(w.detach().double(), dim=0)
    assert max_err(y, ref) <= max_err(yt, ref) + 0.01 * EPS32
    assert torch.allclose(w.grad, wt.grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_spectral_norm_16bit(dtype):
    w = torch.randn(32, 24).to(dtype)
    u, v = state(w.float(), 0)
    ud, vd = u.double(), v.double()
    ours = NF.spectral_norm(w, u, v, 2)
    ref = torch_spectral(w.double(), ud, vd, 2, 1e-12, 0)
    assert ours.dtype == dtype
    # one rounding to the 16-bit type
    assert max_err(ours, ref) <= 0.51 * torch.finfo(dtype).eps * ref.abs().max().item()
    assert max_err(u, ud) < 1e-6 and max_err(v, vd) < 1e-6
    # bf16 state buffers (as a module converted with .to(bfloat16) would hold) are updated too
    ub, vb = u.to(dtype), v.to(dtype)
    uf, vf = ub.float(), vb.float()
    NF.spectral_norm(w, ub, vb, 1)
    NF.spectral_norm(w, uf, vf, 1)
    assert ub.dtype == dtype and torch.equal(ub, uf.to(dtype)) and torch.equal(vb, vf.to(dtype))
    assert not torch.equal(ub, u.to(dtype))


@pytest.mark.parametrize("make", [lambda: torch.nn.Linear(20, 30), lambda: torch.nn.Conv2d(3, 8, 3),
                                  lambda: torch.nn.ConvTranspose2d(4, 6, 3), lambda: torch.nn.Conv1d(5, 7, 2)])
def test_spectral_norm_module_is_drop_in(make):
    torch.manual_seed(11)
    ours = make()
    theirs = make()
    theirs.load_state_dict(ours.state_dict())
    torch.manual_seed(5)
    norma.nn.utils.spectral_norm(ours)
    torch.manual_seed(5)
    parametrizations.spectral_norm(theirs)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    for key in ("_u", "_v"):
        a = getattr(ours.parametrizations.weight[0], key)
        b = getattr(theirs.parametrizations.weight[0], key)
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-4), key  # 15 warm-up steps, float vs double sums
    ndim = ours.parametrizations.weight.original.dim()  # (reading ours.weight would run an iteration)
    shape = (2, 20) if isinstance(ours, torch.nn.Linear) else (2, ours.in_channels) + (9,) * (ndim - 2)
    x = torch.randn(shape)
    for step in range(3):
        yo, yt = ours(x), theirs(x)
        assert torch.allclose(yo, yt, rtol=1e-4, atol=1e-5)
        yo.square().sum().backward(), yt.square().sum().backward()
        go, gt = ours.parametrizations.weight.original.grad, theirs.parametrizations.weight.original.grad
        assert torch.allclose(go, gt, rtol=1e-3, atol=1e-5)
    ours.eval(), theirs.eval()
    u = ours.parametrizations.weight[0]._u.clone()
    assert torch.allclose(ours(x), theirs(x), rtol=1e-4, atol=1e-5)
    assert torch.equal(u, ours.parametrizations.weight[0]._u)
    parametrize.remove_parametrizations(ours, "weight")
    assert isinstance(ours.weight, torch.nn.Parameter)


def test_spectral_norm_module_one_dimensional_weight():
    m = torch.nn.Module()
    m.weight = torch.nn.Parameter(torch.randn(9))
    norma.nn.utils.spectral_norm(m)
    assert torch.allclose(m.weight, F.normalize(m.parametrizations.weight.original.detach(), dim=0))


@pytest.mark.parametrize("shape,dim", [((16, 8, 3, 3), 0), ((16, 8), 1), ((6, 7, 5), 1), ((6, 7, 5), 2),
                                       ((6, 7, 5), -2), ((12, 9), None), ((12, 9), -1), ((30,), 0), ((1, 1), 0),
                                       ((500, 300), 0), ((300, 500), 1)])
def test_weight_norm_matches_torch(shape, dim):
    v = torch.randn(shape) + 0.1
    torch_dim = -1 if dim is None else dim
    if dim is None or dim == -1:
        gshape = ()
    else:
        gshape = [1] * len(shape)
        gshape[dim] = shape[dim]
    g = torch.randn(gshape) + 1
    dw = torch.randn(shape)
    leaves = {}
    for name, dtype in [("ours", torch.float32), ("theirs", torch.float32), ("ref", torch.float64)]:
        vv = v.to(dtype).clone().requires_grad_()
        gg = g.to(dtype).clone().requires_grad_()
        if name == "ours":
            w = NF.weight_norm(vv, gg, dim)
        else:
            w = torch._weight_norm(vv, gg, torch_dim)
        w.backward(dw.to(dtype))
        leaves[name] = (w.detach(), vv.grad, gg.grad)
    for i, what in enumerate(["w", "dv", "dg"]):
        assert leaves["ours"][i].shape == leaves["theirs"][i].shape
        assert_as_close("%s dim %s %s" % (shape, dim, what), leaves["ours"][i], leaves["theirs"][i], leaves["ref"][i],
                        slack=0.05)


def test_weight_norm_zero_slice_is_nan():
    v = torch.randn(4, 5)
    v[2] = 0
    w = NF.weight_norm(v, torch.ones(4, 1), 0)
    assert torch.isnan(w[2]).all() and torch.isfinite(w[[0, 1, 3]]).all()
    assert torch.isnan(torch._weight_norm(v, torch.ones(4, 1), 0)[2]).all()  # as PyTorch


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_weight_norm_16bit(dtype):
    v = torch.randn(8, 33).to(dtype)
    g = torch.rand(8, 1).to(dtype) + 0.5
    w = NF.weight_norm(v, g, 0)
    ref = torch._weight_norm(v.double(), g.double(), 0)
    assert w.dtype == dtype
    assert max_err(w, ref) <= 0.51 * torch.finfo(dtype).eps * ref.abs().max().item() * 2


@pytest.mark.parametrize("make", [lambda: torch.nn.Linear(20, 30), lambda: torch.nn.Conv2d(3, 8, 3)])
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_module_is_drop_in(make, dim):
    torch.manual_seed(2)
    ours, theirs = make(), make()
    theirs.load_state_dict(ours.state_dict())
    norma.nn.utils.weight_norm(ours, dim=dim)
    parametrizations.weight_norm(theirs, dim=dim)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    for k, t in theirs.state_dict().items():
        assert torch.allclose(ours.state_dict()[k], t, rtol=1e-6), k
    x = torch.randn((2, 20) if isinstance(ours, torch.nn.Linear) else (2, 3, 7, 7))
    yo, yt = ours(x), theirs(x)
    assert torch.allclose(yo, yt, rtol=1e-5, atol=1e-6)
    yo.square().sum().backward(), yt.square().sum().backward()
    for p in ("original0", "original1"):
        a = getattr(ours.parametrizations.weight, p).grad
        b = getattr(theirs.parametrizations.weight, p).grad
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6), p


@pytest.mark.filterwarnings("ignore:.*deprecated")
def test_weight_norm_module_loads_old_keys():
    old = torch.nn.utils.weight_norm(torch.nn.Linear(4, 3))  # the deprecated API: weight_g, weight_v
    ours = norma.nn.utils.weight_norm(torch.nn.Linear(4, 3))
    ours.load_state_dict(old.state_dict())
    assert torch.allclose(ours.weight, old.weight)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(8, 4), (512, 256)])
def test_backward_of_an_expanded_gradient(shape, dtype):
    """y.sum().backward() hands the backward an expanded (stride 0) gradient, which the wrappers copy to
    a dense one: the copy must live through the C call (it was a temporary, freed before the call read
    it: gradients off by up to 1e36). The same gradients as from a dense gradient of ones."""
    torch.manual_seed(1)
    w0, u0, v0, g0 = (torch.randn(*s).to(dtype) for s in (shape, shape[:1], shape[1:], (shape[0], 1)))
    calls = {"weight_norm": lambda w, g: NF.weight_norm(w, g, 0),
             "spectral_norm": lambda w, g: NF.spectral_norm(w, u0.clone(), v0.clone()),
             "spectral_norm 1-D": lambda w, g: NF.spectral_norm(w[0], u0[:1].clone(), v0[:1].clone())}
    for name, call in calls.items():
        grads = []
        for dense in (False, True):
            w, g = w0.clone().requires_grad_(), g0.clone().requires_grad_()
            y = call(w, g)
            (y * torch.ones_like(y) if dense else y).sum().backward()
            grads.append([t.grad for t in (w, g) if t.grad is not None])
        assert all(torch.equal(a, b) for a, b in zip(*grads)), name


def test_errors():
    w = torch.randn(4, 6)
    u, v = torch.randn(4), torch.randn(6)
    with pytest.raises(ValueError, match="u must have 4 elements"):
        NF.spectral_norm(w, torch.randn(5), v)
    with pytest.raises(ValueError, match="v must have 6 elements"):
        NF.spectral_norm(w, u, torch.randn(4))
    with pytest.raises(IndexError, match="Dimension out of range"):
        NF.spectral_norm(w, u, v, dim=2)
    with pytest.raises(IndexError, match="Dimension out of range"):
        NF.spectral_norm(w, u, v, dim=-3)
    with pytest.raises(ValueError, match="n_power_iterations"):
        NF.spectral_norm(w, u, v, n_power_iterations=-1)
    with pytest.raises(ValueError, match="eps"):
        NF.spectral_norm(w, u, v, eps=-1.0)
    with pytest.raises(TypeError, match="weight must be a torch.Tensor"):
        NF.spectral_norm([1.0], u, v)
    with pytest.raises(TypeError, match="dtype"):
        NF.spectral_norm(w.double(), u, v)
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        norma.nn.utils.spectral_norm(torch.nn.Linear(3, 4), n_power_iterations=0)
    with pytest.raises(ValueError, match="no parameter or buffer"):
        norma.nn.utils.spectral_norm(torch.nn.Linear(3, 4), name="nope")
    with pytest.raises(ValueError, match="g must have 4 elements"):
        NF.weight_norm(w, torch.randn(3), 0)
    with pytest.raises(ValueError, match="g must have 1 element"):
        NF.weight_norm(w, torch.randn(3), None)
    with pytest.raises(IndexError, match="Dimension out of range"):
        NF.weight_norm(w, torch.randn(4), 5)
    with pytest.raises(TypeError, match="mixed dtypes"):
        NF.weight_norm(w, torch.randn(4, dtype=torch.float16), 0)
