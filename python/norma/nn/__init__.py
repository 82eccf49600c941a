"""norma.nn: drop-in modules. Each subclasses its torch.nn counterpart, so the constructor,
parameters, buffers, initialization, state_dict keys and repr are torch's; only the computation is
norma's."""

import torch

from .. import functional as F
from . import utils

__all__ = ["LayerNorm", "RMSNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "InstanceNorm1d",
           "InstanceNorm2d", "InstanceNorm3d", "GroupNorm", "GroupNormSiLU", "utils"]


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


def _batch_norm_mode(module):
    """torch.nn.modules.batchnorm._BatchNorm.forward's bookkeeping (counting the batch): the momentum
    factor (None: cumulative average over num_batches_tracked), whether the batch's statistics are used,
    and the running statistics to read or update (None, None when they are not)."""
    factor = 0.0 if module.momentum is None else module.momentum
    if module.training and module.track_running_stats and module.num_batches_tracked is not None:
        module.num_batches_tracked.add_(1)
        factor = 1.0 / float(module.num_batches_tracked) if module.momentum is None else module.momentum
    use_batch_stats = module.training or (module.running_mean is None and module.running_var is None)
    keep = not module.training or module.track_running_stats
    running = (module.running_mean, module.running_var) if keep else (None, None)
    return factor, use_batch_stats, running


class _BatchNormForward:
    """torch.nn.modules.batchnorm._BatchNorm.forward, with norma's batch_norm: the same momentum,
    training and running-statistics logic."""

    def forward(self, input):
        self._check_input_dim(input)
        factor, use_batch_stats, (running_mean, running_var) = _batch_norm_mode(self)
        return F.batch_norm(input, running_mean, running_var, self.weight, self.bias, use_batch_stats, factor,
                            self.eps)


class BatchNorm1d(_BatchNormForward, torch.nn.BatchNorm1d):
    """torch.nn.BatchNorm1d, computed by norma."""


class BatchNorm2d(_BatchNormForward, torch.nn.BatchNorm2d):
    """torch.nn.BatchNorm2d, computed by norma (channels_last inputs are read in place)."""


class BatchNorm3d(_BatchNormForward, torch.nn.BatchNorm3d):
    """torch.nn.BatchNorm3d, computed by norma."""


class SyncBatchNorm(torch.nn.SyncBatchNorm):
    """torch.nn.SyncBatchNorm(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
    process_group=None), computed by norma, on CPU tensors over torch.distributed (gloo): in training,
    with more than one process, the statistics are those of the whole batch (norma's exact mode:
    bitwise equal to one BatchNorm over the concatenated batch). Otherwise it is BatchNorm. Gradients
    as torch's: dweight/dbias are this process's, all-reduced by DistributedDataParallel."""

    def forward(self, input):
        self._check_input_dim(input)
        self._check_non_zero_input_channels(input)
        factor, use_batch_stats, (running_mean, running_var) = _batch_norm_mode(self)
        group = self.process_group
        sync = (use_batch_stats and self.training and torch.distributed.is_available()
                and torch.distributed.is_initialized() and torch.distributed.get_world_size(group) > 1)
        if not sync:
            return F.batch_norm(input, running_mean, running_var, self.weight, self.bias, use_batch_stats, factor,
                                self.eps)
        return F.sync_batch_norm(input, running_mean, running_var, self.weight, self.bias, factor, self.eps, group)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """As torch.nn.SyncBatchNorm.convert_sync_batchnorm: every BatchNorm*D layer of `module` becomes a
        norma.nn.SyncBatchNorm with the same parameters and buffers."""
        out = module
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            out = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      process_group)
            if module.affine:
                with torch.no_grad():
                    out.weight = module.weight
                    out.bias = module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
            if hasattr(module, "qconfig"):
                out.qconfig = module.qconfig
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        del module
        return out


class _InstanceNormApply:
    """torch's _InstanceNorm keeps its input checks and unbatched handling; the norm is norma's."""

    def _apply_instance_norm(self, input):
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats,
                               self.momentum if self.momentum is not None else 0.0, self.eps)


class InstanceNorm1d(_InstanceNormApply, torch.nn.InstanceNorm1d):
    """torch.nn.InstanceNorm1d, computed by norma."""


class InstanceNorm2d(_InstanceNormApply, torch.nn.InstanceNorm2d):
    """torch.nn.InstanceNorm2d, computed by norma."""


class InstanceNorm3d(_InstanceNormApply, torch.nn.InstanceNorm3d):
    """torch.nn.InstanceNorm3d, computed by norma."""


class GroupNorm(torch.nn.GroupNorm):
    """torch.nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True), computed by norma."""

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)


class GroupNormSiLU(torch.nn.GroupNorm):
    """nn.Sequential(nn.GroupNorm(num_groups, num_channels, eps, affine), nn.SiLU()) as one fused module
    (norma.functional.group_norm_silu). Its parameters and state_dict are GroupNorm's: load a GroupNorm's
    weights into it, or its weights into a GroupNorm."""

    def forward(self, input):
        return F.group_norm_silu(input, self.num_groups, self.weight, self.bias, self.eps)
