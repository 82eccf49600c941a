"""norma.nn.SyncBatchNorm over torch.distributed (gloo, CPU) on 2 and 3 processes, against one
torch BatchNorm over the concatenated batch."""

import os
import socket
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import norma

SHAPE_BY_DIM = {2: (12, 6), 3: (12, 6, 7), 4: (12, 6, 5, 4)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def split(total, size):
    """Uneven parts, the second process with none."""
    parts, left = [], total
    for r in range(size):
        share = left if r == size - 1 else 0 if r == 1 else (left + 1) // 2
        parts.append(share)
        left -= share
    return parts


def worker(rank, size, port, dims, channels_last, exact, errors):
    try:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=size)
        torch.manual_seed(0)
        shape = SHAPE_BY_DIM[dims]
        x = torch.randn(shape) * 2 + 1
        g = torch.randn(shape)
        parts = split(shape[0], size)
        start = sum(parts[:rank])
        fmt = torch.channels_last if channels_last else torch.contiguous_format

        theirs = torch.nn.BatchNorm1d(6) if dims < 4 else torch.nn.BatchNorm2d(6)
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5), theirs.bias.uniform_(-0.5, 0.5)
        ours = norma.nn.SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(theirs))[0]
        theirs = torch.nn.BatchNorm1d(6) if dims < 4 else torch.nn.BatchNorm2d(6)
        theirs.load_state_dict(ours.state_dict())
        assert isinstance(ours, norma.nn.SyncBatchNorm)

        xr = x.clone().requires_grad_()
        ref = theirs(xr)
        ref.backward(g)
        xs = x[start:start + parts[rank]].clone()
        if channels_last and dims == 4:
            xs = xs.contiguous(memory_format=fmt)
        xs.requires_grad_()
        y = norma.functional.sync_batch_norm(xs, ours.running_mean, ours.running_var, ours.weight, ours.bias, 0.1,
                                             1e-5, None, exact) if not exact else ours(xs)
        y.backward(g[start:start + parts[rank]])
        tol = dict(rtol=1e-5, atol=1e-6)
        assert torch.allclose(y, ref[start:start + parts[rank]], **tol), "forward"
        assert torch.allclose(xs.grad, xr.grad[start:start + parts[rank]], **tol), "dx"
        assert torch.allclose(ours.running_mean, theirs.running_mean, **tol), "running_mean"
        assert torch.allclose(ours.running_var, theirs.running_var, **tol), "running_var"
        dw, db = ours.weight.grad.clone(), ours.bias.grad.clone()
        dist.all_reduce(dw), dist.all_reduce(db)  # what data parallelism does with parameter gradients
        assert torch.allclose(dw, theirs.weight.grad, **tol), "summed dweight"
        assert torch.allclose(db, theirs.bias.grad, **tol), "summed dbias"
        # evaluation: plain BatchNorm on the (identical) running statistics
        ours.eval(), theirs.eval()
        assert torch.allclose(ours(xs.detach()), theirs(x)[start:start + parts[rank]], **tol), "eval"
        # processes that disagree (a different number of channels) all fail, none hangs
        bad = norma.nn.SyncBatchNorm(6 if rank else 4)
        try:
            bad(torch.randn(3, 6 if rank else 4))
            raise AssertionError("a mismatched SyncBatchNorm must fail")
        except ValueError as e:
            assert "disagree" in str(e)
        dist.barrier()
        dist.destroy_process_group()
    except BaseException as e:  # reported to the test
        errors.put("rank %d: %r" % (rank, e))
        raise


@pytest.mark.parametrize("size", [2, 3])
@pytest.mark.parametrize("dims,channels_last,exact", [(2, False, True), (3, False, True), (4, False, True),
                                                      (4, True, True), (4, False, False)])
def test_sync_batch_norm_matches_one_batch_norm(size, dims, channels_last, exact):
    ctx = mp.get_context("spawn")
    errors = ctx.SimpleQueue()
    mp.start_processes(worker, args=(size, free_port(), dims, channels_last, exact, errors), nprocs=size,
                       start_method="spawn")
    assert errors.empty(), errors.get()


def test_single_process_is_batch_norm():
    m = norma.nn.SyncBatchNorm(4)
    t = torch.nn.BatchNorm1d(4)
    x = torch.randn(8, 4)
    assert torch.allclose(m(x), t(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        m(torch.randn(4))
