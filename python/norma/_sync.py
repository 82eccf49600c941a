"""The synchronized BatchNorm over torch.distributed: norma's norma_sync_batch_norm_* with a
communicator whose allgather is torch.distributed.all_gather on a process group (gloo on CPU)."""

import ctypes

import torch
import torch.distributed as dist

from ._channels import _check_input, _check_vector, _grad, _stats_f32, _write_back
from ._common import _DTYPES, _channel_layout, _compute_dtype, _like, _per_channel, _ptr, _to
from ._lib import call

EXACT, FAST = 0, 1

_ALLGATHER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                              ctypes.POINTER(ctypes.c_int64))


class _CComm(ctypes.Structure):
    _fields_ = [("size", ctypes.c_int), ("rank", ctypes.c_int), ("ctx", ctypes.c_void_p), ("allgather", _ALLGATHER)]


def _doubles(address, n):
    return torch.frombuffer((ctypes.c_double * n).from_address(address), dtype=torch.float64)


class TorchComm:
    """A norma_comm over a torch.distributed process group. all_gather needs equal sizes, so every
    contribution is padded to the largest and cut back after."""

    def __init__(self, group=None):
        self.group = group
        self.size = dist.get_world_size(group)
        self.rank = dist.get_rank(group)
        self.error = None
        self._callback = _ALLGATHER(self._allgather)  # kept alive as long as the comm
        self.c = _CComm(self.size, self.rank, None, self._callback)

    def _allgather(self, ctx, send, recv, counts):
        try:
            sizes = [counts[r] for r in range(self.size)]
            width = max(max(sizes), 1)
            mine = torch.zeros(width, dtype=torch.float64)
            if sizes[self.rank]:
                mine[:sizes[self.rank]] = _doubles(send, sizes[self.rank])
            parts = [torch.empty(width, dtype=torch.float64) for _ in range(self.size)]
            dist.all_gather(parts, mine, group=self.group)
            if sum(sizes):
                _doubles(recv, sum(sizes)).copy_(torch.cat([p[:k] for p, k in zip(parts, sizes)]))
            return 0
        except Exception as e:  # reported by norma as NORMA_ECOMM, and re-raised below
            self.error = e
            return 1

    def call(self, name, *args):
        try:
            call(name, ctypes.addressof(self.c), *args)
        except Exception:
            if self.error is not None:
                error, self.error = self.error, None
                raise RuntimeError("%s: the process group's all_gather failed" % name) from error
            raise


class _SyncBatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, rm, rv, momentum, eps, comm, mode):
        layout, x, n, c, spatial = _channel_layout(x)
        y = torch.empty_like(x)
        save_mean = torch.empty(c, dtype=torch.float32)
        comm.call("norma_sync_batch_norm_fwd", mode, _DTYPES[x.dtype], layout, n, c, spatial, x.data_ptr(),
                  _ptr(weight), _ptr(bias), _ptr(rm), _ptr(rv), 1, momentum, eps, y.data_ptr(), save_mean.data_ptr(),
                  None)
        ctx.save_for_backward(x, weight, save_mean)
        ctx.args = (layout, n, c, spatial, eps, comm, mode, bias is not None)
        return y

    @staticmethod
    def backward(ctx, dy):
        x, weight, save_mean = ctx.saved_tensors
        layout, n, c, spatial, eps, comm, mode, has_bias = ctx.args
        need_dw, need_db = ctx.needs_input_grad[1:3]
        dy = _like(_to(dy, x.dtype), x)
        dx = torch.empty_like(x)  # always computed: every process must take part in the exchange
        dw = torch.empty(c, dtype=torch.float32) if need_dw else None
        db = torch.empty(c, dtype=torch.float32) if need_db and has_bias else None
        comm.call("norma_sync_batch_norm_bwd", mode, _DTYPES[x.dtype], layout, n, c, spatial, dy.data_ptr(),
                  x.data_ptr(), _ptr(weight), save_mean.data_ptr(), None, None, 1, eps, dx.data_ptr(), _ptr(dw),
                  _ptr(db))
        return dx, _grad(dw, weight), _grad(db, weight), None, None, None, None, None, None


def sync_batch_norm(input, running_mean, running_var, weight=None, bias=None, momentum=0.1, eps=1e-5,
                    process_group=None, exact=True):
    """BatchNorm in training mode with the statistics of the whole batch split over the processes of
    `process_group` (default: the world), each process passing its own part (possibly empty).
    exact=True: bitwise equal to one BatchNorm over the concatenated batch (in rank order);
    exact=False: per-process statistics merged in rank order (what PyTorch's SyncBatchNorm does).
    running_mean/running_var are updated identically on every process. Gradients: dx from the global
    statistics; dweight/dbias of this process's samples (data parallelism all-reduces them)."""
    fn = "norma.functional.sync_batch_norm"
    _check_input(fn, input)
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        _check_vector(fn, name, t, c)
    dtype = _compute_dtype(fn, input, weight=weight, bias=bias)
    x, w, b = _to(input, dtype), _per_channel(weight, dtype, c), _per_channel(bias, dtype, c)
    rm, rv = _stats_f32(running_mean), _stats_f32(running_var)
    # a comm per call (the autograd graph keeps it for the backward): none outlives its process group
    args = (w, b, rm, rv, 0.0 if momentum is None else float(momentum), float(eps), TorchComm(process_group),
            EXACT if exact else FAST)
    y = _SyncBatchNorm.apply(x, *args)
    _write_back(running_mean, rm)
    _write_back(running_var, rv)
    return _to(y, input.dtype)
