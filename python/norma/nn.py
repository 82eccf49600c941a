"""norma.nn: drop-in modules. Each subclasses its torch.nn counterpart, so the constructor,
parameters, initialization, state_dict keys and repr are torch's; only forward runs norma."""

import torch

from . import functional as F

__all__ = ["LayerNorm", "RMSNorm"]


class LayerNorm(torch.nn.LayerNorm):
    """torch.nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, device=None,
    dtype=None), computed by norma."""

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)


class RMSNorm(torch.nn.RMSNorm):
    """torch.nn.RMSNorm(normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None),
    computed by norma. eps=None means float32's epsilon, as in torch >= 2.7."""

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)
