"""Every public function against bad arguments: only ValueError, TypeError, RuntimeError or IndexError,
with a message, never a crash; failed calls leave running statistics and power-iteration vectors
untouched; inputs in layouts norma does not read in place (strided, transposed) give the same
results as their contiguous copies."""

import itertools

import pytest
import torch

import norma.functional as NF

ALLOWED = (ValueError, TypeError, RuntimeError, IndexError)


def x4():
    return torch.randn(2, 4, 3, 5)


# (name, function of one "bad" value that it substitutes into an otherwise valid call)
CALLS = {
    "layer_norm": lambda v: NF.layer_norm(v, (5,)),
    "rms_norm": lambda v: NF.rms_norm(v, (5,)),
    "ada_layer_norm": lambda v: NF.ada_layer_norm(v, torch.randn(2, 5), torch.randn(2, 5)),
    "gated_ada_layer_norm": lambda v: NF.gated_ada_layer_norm(v, torch.randn(2, 3, 5), torch.randn(2, 5), None, None),
    "gated_ada_layer_norm (residual)": lambda v: NF.gated_ada_layer_norm(torch.randn(2, 3, 5), v, None, None, None),
    "batch_norm": lambda v: NF.batch_norm(v, torch.zeros(4), torch.ones(4), training=True),
    "instance_norm": lambda v: NF.instance_norm(v),
    "group_norm": lambda v: NF.group_norm(v, 2),
    "group_norm_silu": lambda v: NF.group_norm_silu(v, 2),
    "ada_group_norm": lambda v: NF.ada_group_norm(v, 2, torch.randn(2, 4), torch.randn(2, 4)),
    "adaptive_instance_norm": lambda v: NF.adaptive_instance_norm(v, x4()),
    "channel_rms_norm": lambda v: NF.channel_rms_norm(v),
    "channel_rms_norm_silu": lambda v: NF.channel_rms_norm_silu(v),
    "spectral_norm": lambda v: NF.spectral_norm(v, torch.randn(2), torch.randn(60)),
    "weight_norm": lambda v: NF.weight_norm(v, torch.ones(2), 0),
}

BAD_INPUTS = {
    "a list": [[1.0, 2.0]],
    "None": None,
    "a number": 3.0,
    "float64": x4().double(),
    "int64": torch.ones(2, 4, 3, 5, dtype=torch.int64),
    "complex": torch.randn(2, 4, 3, 5, dtype=torch.complex64),
    "bool": torch.ones(2, 4, 3, 5, dtype=torch.bool),
    "meta device": torch.empty(2, 4, 3, 5, device="meta"),
    "0-d": torch.tensor(1.0),
    "wrong channels": torch.randn(2, 7, 3, 5),
}


@pytest.mark.parametrize("name,bad", list(itertools.product(CALLS, BAD_INPUTS)))
def test_bad_input_raises_a_python_error(name, bad):
    value = BAD_INPUTS[bad]
    try:
        CALLS[name](value)
    except ALLOWED as e:
        assert str(e), "%s with %s: an error without a message" % (name, bad)
    # some of these are valid for some functions (e.g. any channel count for layer_norm over the last
    # dimension): then the call must simply have worked


@pytest.mark.parametrize("eps", [float("nan"), -1.0, float("inf")])
def test_bad_eps(eps):
    x = x4()
    for fn in (lambda: NF.layer_norm(x, (5,), eps=eps), lambda: NF.rms_norm(x, (5,), eps=eps),
               lambda: NF.group_norm(x, 2, eps=eps), lambda: NF.group_norm_silu(x, 2, eps=eps),
               lambda: NF.instance_norm(x, eps=eps),
               lambda: NF.channel_rms_norm(x, eps=eps),
               lambda: NF.spectral_norm(x.view(8, 15), torch.randn(8), torch.randn(15), eps=eps)):
        with pytest.raises(ValueError, match="eps"):
            fn()


def test_failed_calls_leave_state_untouched():
    x = x4()
    rm, rv = torch.randn(4), torch.rand(4) + 0.5
    rm0, rv0 = rm.clone(), rv.clone()
    for bad in (dict(eps=-1.0), dict(momentum=float("nan")), dict(weight=torch.ones(3))):
        with pytest.raises(ALLOWED):
            NF.batch_norm(x, rm, rv, training=True, **bad)
        with pytest.raises(ALLOWED):
            NF.instance_norm(x, rm, rv, use_input_stats=True, **bad)
        assert torch.equal(rm, rm0) and torch.equal(rv, rv0), bad
    w = torch.randn(6, 10)
    u, v = torch.randn(6), torch.randn(10)
    u0, v0 = u.clone(), v.clone()
    with pytest.raises(ALLOWED):
        NF.spectral_norm(w, u, v, eps=-1.0)
    with pytest.raises(ALLOWED):
        NF.spectral_norm(w, u, v, n_power_iterations=-2)
    assert torch.equal(u, u0) and torch.equal(v, v0)


def strided_views():
    """Inputs norma cannot read in place: they must be copied, with the same results."""
    base = torch.randn(4, 6, 10, 12)
    yield base[:, :, ::2, ::3]                    # strided
    yield base.transpose(2, 3)                    # neither NCHW nor NHWC
    yield base.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)[:, :, 1:]  # sliced channels-last


@pytest.mark.parametrize("view", list(strided_views()), ids=["strided", "transposed", "sliced-nhwc"])
def test_non_contiguous_inputs(view):
    dense = view.contiguous()
    c = view.shape[1]
    pairs = [
        (lambda t: NF.layer_norm(t, t.shape[-1:]), "layer_norm"),
        (lambda t: NF.rms_norm(t, t.shape[-2:]), "rms_norm"),
        (lambda t: NF.group_norm(t, 3), "group_norm"),
        (lambda t: NF.group_norm_silu(t, 3), "group_norm_silu"),
        (lambda t: NF.instance_norm(t), "instance_norm"),
        (lambda t: NF.batch_norm(t, torch.zeros(c), torch.ones(c), training=True), "batch_norm"),
        (lambda t: NF.channel_rms_norm(t), "channel_rms_norm"),
    ]
    for fn, name in pairs:
        assert torch.allclose(fn(view), fn(dense), rtol=1e-6, atol=1e-6), name
