"""norma.functional: the normalization layers as functions of torch tensors, with autograd through
norma's C backward passes. Signatures follow torch.nn.functional where torch has the op.

Tensors must be on the CPU, of dtype float32, bfloat16 or float16 (parameters may be float32 for a
bfloat16/float16 input: the op then runs in float32 and rounds the result to the input's dtype, as
PyTorch's mixed-dtype CPU kernels do). Channel norms read channels-last inputs (torch.channels_last,
channels_last_3d, or any NHWC-ordered strides) in place and return outputs in the input's memory
format; other non-contiguous inputs are copied first. Bad arguments raise ValueError, TypeError or
RuntimeError with a message naming the problem.
"""

from ._channels import (adaptive_instance_norm, ada_group_norm, batch_norm, channel_rms_norm, channel_rms_norm_silu,
                        group_norm, group_norm_silu, instance_norm)
from ._reparam import spectral_norm, spectral_norm_power_iteration, weight_norm
from ._rows import ada_layer_norm, add_layer_norm, add_rms_norm, gated_ada_layer_norm, layer_norm, rms_norm
from ._sync import sync_batch_norm

__all__ = ["layer_norm", "rms_norm", "add_layer_norm", "add_rms_norm", "ada_layer_norm", "gated_ada_layer_norm", "batch_norm", "instance_norm",
           "group_norm", "group_norm_silu", "ada_group_norm", "adaptive_instance_norm", "channel_rms_norm", "channel_rms_norm_silu", "spectral_norm", "spectral_norm_power_iteration",
           "weight_norm", "sync_batch_norm"]
