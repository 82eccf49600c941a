"""norma.nn.utils: spectral_norm and weight_norm for modules, as torch.nn.utils.parametrizations'
versions (registered with torch.nn.utils.parametrize, so the parametrized attribute, the state_dict
keys and parametrize.remove_parametrizations are torch's), computed by norma."""

import torch
from torch.nn.utils import parametrize

from .. import functional as F
from .._reparam import _check_dim

__all__ = ["spectral_norm", "weight_norm"]

_TRANSPOSED = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)


class _SpectralNorm(torch.nn.Module):
    """The parametrization: buffers _u and _v (PyTorch's names), drawn from torch's generator as
    PyTorch draws them, normalized, then 15 power iterations (norma's)."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        self.dim = _check_dim("norma.nn.utils.spectral_norm", weight, dim)
        self.eps = float(eps)
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            rows = weight.shape[self.dim]
            cols = weight.numel() // rows
            u = weight.new_empty(rows).normal_(0, 1)
            v = weight.new_empty(cols).normal_(0, 1)
            self.register_buffer("_u", torch.nn.functional.normalize(u, dim=0, eps=self.eps))
            self.register_buffer("_v", torch.nn.functional.normalize(v, dim=0, eps=self.eps))
            F.spectral_norm_power_iteration(weight.detach(), self._u, self._v, 15, self.eps, self.dim)

    def forward(self, weight):
        if weight.ndim == 1:
            return F.spectral_norm(weight, None, None, 0, self.eps, 0)
        return F.spectral_norm(weight, self._u, self._v, self.n_power_iterations, self.eps, self.dim,
                               training=self.training)

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """torch.nn.utils.parametrizations.spectral_norm(module, name, n_power_iterations, eps, dim), computed
    by norma: module.<name> becomes weight / sigma, sigma the largest singular value of the weight
    viewed as a matrix with `dim` as rows (dim=None: 1 for ConvTranspose modules, 0 otherwise),
    estimated by power iteration in training mode."""
    weight = getattr(module, name, None)
    if not isinstance(weight, torch.Tensor):
        raise ValueError("Module '{}' has no parameter or buffer with name '{}'".format(module, name))
    if not isinstance(n_power_iterations, int) or n_power_iterations <= 0:
        raise ValueError("Expected n_power_iterations to be positive, but got n_power_iterations={}"
                         .format(n_power_iterations))
    if dim is None:
        dim = 1 if isinstance(module, _TRANSPOSED) else 0
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


class _WeightNorm(torch.nn.Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return F.weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return torch.norm_except_dim(weight, 2, self.dim), weight


def _weight_norm_compat_hook(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                             error_msgs, name):
    """Loads the old torch.nn.utils.weight_norm keys (<name>_g, <name>_v), as PyTorch's hook does."""
    g_key, v_key = prefix + name + "_g", prefix + name + "_v"
    if g_key in state_dict and v_key in state_dict:
        base = prefix + "parametrizations." + name + "."
        state_dict[base + "original0"] = state_dict.pop(g_key)
        state_dict[base + "original1"] = state_dict.pop(v_key)


def weight_norm(module, name="weight", dim=0):
    """torch.nn.utils.parametrizations.weight_norm(module, name, dim), computed by norma: module.<name>
    becomes g * v / ||v||, with parametrizations.<name>.original0 = g (the norms over every dimension
    but dim; dim=None: one norm over the whole tensor) and original1 = v."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def hook(*args):
        _weight_norm_compat_hook(*args, name=name)

    module._register_load_state_dict_pre_hook(hook)
    return module
