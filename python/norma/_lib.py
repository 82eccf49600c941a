"""ctypes binding of libnorma: finding the library, the C signatures, and turning a failed status
into a Python exception carrying the library's message."""

import ctypes
import ctypes.util
import os
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _candidates():
    env = os.environ.get("NORMA_LIBRARY")
    if env:
        yield Path(env)
        return
    # a build tree next to the package: <repo>/python/norma -> <repo>/build
    yield _HERE.parent.parent / "build" / "libnorma.so"
    found = ctypes.util.find_library("norma")
    if found:
        yield Path(found)


def _load():
    tried = []
    for path in _candidates():
        tried.append(str(path))
        try:
            return ctypes.CDLL(str(path))
        except OSError:
            continue
    raise ImportError(
        "norma: cannot load libnorma (tried: %s). Build it first "
        "(cmake -S . -B build && cmake --build build), or point NORMA_LIBRARY at libnorma.so."
        % ", ".join(tried or ["nothing"]))


lib = _load()

# norma_status values and the Python exceptions they become
OK, ENULL, EINVAL, EUNSUPPORTED, ENOMEM, ECOMM = 0, 1, 2, 3, 4, 5
_EXCEPTIONS = {ENULL: ValueError, EINVAL: ValueError, EUNSUPPORTED: TypeError, ENOMEM: MemoryError,
               ECOMM: RuntimeError}

# norma_dtype, norma_norm_kind, norma_layout and norma_variance values
F32, BF16, F16 = 0, 1, 2
LAYER_NORM, RMS_NORM = 0, 1
CHANNELS_FIRST, CHANNELS_LAST = 0, 1
VAR_UNBIASED, VAR_BIASED = 0, 1

_i64, _f64, _ptr, _int = ctypes.c_int64, ctypes.c_double, ctypes.c_void_p, ctypes.c_int

_SIGNATURES = {
    "norma_last_error": ([], ctypes.c_char_p),
    "norma_status_name": ([_int], ctypes.c_char_p),
    "norma_version": ([], ctypes.c_char_p),
    "norma_kernels": ([], ctypes.c_char_p),
    "norma_set_num_threads": ([_int], _int),
    "norma_get_num_threads": ([], _int),
    "norma_set_f32_compute": ([_int], _int),
    "norma_get_f32_compute": ([], _int),
    "norma_layer_norm_fwd": ([_int, _i64, _i64, _ptr, _ptr, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_layer_norm_bwd": ([_int, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_rms_norm_fwd": ([_int, _i64, _i64, _ptr, _ptr, _f64, _ptr, _ptr], _int),
    "norma_rms_norm_bwd": ([_int, _i64, _i64, _ptr, _ptr, _ptr, _f64, _ptr, _ptr], _int),
    "norma_add_layer_norm_fwd": ([_int, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_add_rms_norm_fwd": ([_int, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _f64, _ptr, _ptr], _int),
    "norma_add_layer_norm_bwd": ([_int, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_add_rms_norm_bwd": ([_int, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _f64, _ptr, _ptr], _int),
    "norma_ada_layer_norm_fwd": (
        [_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _i64, _i64, _f64, _ptr, _ptr, _ptr], _int),
    "norma_ada_layer_norm_bwd": (
        [_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _i64, _i64, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_gated_ada_layer_norm_fwd": (
        [_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr, _i64, _i64, _f64, _ptr, _ptr, _ptr], _int),
    "norma_gated_ada_layer_norm_bwd": (
        [_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr, _i64, _i64, _ptr, _f64, _ptr, _ptr, _ptr,
         _ptr, _ptr], _int),
    # (dtype, layout, n, c, spatial, ...)
    "norma_batch_norm_fwd": (
        [_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _int, _f64, _f64, _ptr, _ptr, _ptr], _int),
    "norma_batch_norm_bwd": (
        [_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr, _int, _f64, _ptr, _ptr, _ptr], _int),
    "norma_instance_norm_fwd": (
        [_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _int, _f64, _f64, _ptr, _ptr, _ptr], _int),
    "norma_instance_norm_bwd": (
        [_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr, _int, _f64, _ptr, _ptr, _ptr], _int),
    "norma_group_norm_fwd": ([_int, _int, _i64, _i64, _i64, _i64, _ptr, _ptr, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_group_norm_bwd": (
        [_int, _int, _i64, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_group_norm_silu_fwd": (
        [_int, _int, _i64, _i64, _i64, _i64, _ptr, _ptr, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_group_norm_silu_bwd": (
        [_int, _int, _i64, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_ada_group_norm_fwd": (
        [_int, _int, _i64, _i64, _i64, _i64, _ptr, _ptr, _ptr, _i64, _f64, _ptr, _ptr, _ptr], _int),
    "norma_ada_group_norm_bwd": (
        [_int, _int, _i64, _i64, _i64, _i64, _ptr, _ptr, _ptr, _i64, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_adain_fwd": ([_int, _int, _i64, _i64, _i64, _i64, _ptr, _ptr, _int, _f64, _ptr, _ptr, _ptr], _int),
    "norma_adain_bwd": (
        [_int, _int, _i64, _i64, _i64, _i64, _ptr, _ptr, _ptr, _int, _ptr, _f64, _ptr, _ptr], _int),
    "norma_channel_rms_norm_fwd": ([_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _f64, _ptr], _int),
    "norma_channel_rms_norm_bwd": ([_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    "norma_channel_rms_norm_silu_fwd": ([_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _f64, _ptr], _int),
    "norma_channel_rms_norm_silu_bwd": (
        [_int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _f64, _ptr, _ptr, _ptr], _int),
    # (comm, mode, dtype, layout, n, c, spatial, ...)
    "norma_sync_batch_norm_fwd": (
        [_ptr, _int, _int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _int, _f64, _f64, _ptr, _ptr, _ptr],
        _int),
    "norma_sync_batch_norm_bwd": (
        [_ptr, _int, _int, _int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr, _ptr, _int, _f64, _ptr, _ptr, _ptr],
        _int),
    # (dtype, outer, rows, inner, ...)
    "norma_spectral_norm_fwd": ([_int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _i64, _f64, _ptr, _ptr], _int),
    "norma_spectral_norm_bwd": ([_int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _f64, _ptr], _int),
    "norma_spectral_norm_power_iteration": ([_int, _i64, _i64, _i64, _ptr, _i64, _f64, _ptr, _ptr], _int),
    "norma_spectral_norm_init": ([_int, _i64, _i64, _i64, _ptr, ctypes.c_uint64, _f64, _ptr, _ptr], _int),
    "norma_l2_normalize_fwd": ([_int, _i64, _i64, _ptr, _f64, _ptr], _int),
    "norma_l2_normalize_bwd": ([_int, _i64, _i64, _ptr, _ptr, _f64, _ptr], _int),
    "norma_weight_norm_fwd": ([_int, _i64, _i64, _i64, _ptr, _ptr, _ptr], _int),
    "norma_weight_norm_bwd": ([_int, _i64, _i64, _i64, _ptr, _ptr, _ptr, _ptr, _ptr], _int),
}

for _name, (_args, _res) in _SIGNATURES.items():
    _fn = getattr(lib, _name)
    _fn.argtypes = _args
    _fn.restype = _res


def call(name, *args):
    """Calls a norma function; raises ValueError/TypeError/MemoryError/RuntimeError on failure."""
    status = getattr(lib, name)(*args)
    if status != OK:
        message = lib.norma_last_error().decode()
        raise _EXCEPTIONS.get(status, RuntimeError)(message)


def set_num_threads(n):
    """Number of threads norma uses per call (results do not depend on it)."""
    if not isinstance(n, int) or isinstance(n, bool):
        raise TypeError("norma.set_num_threads: n must be an int, got %s" % type(n).__name__)
    call("norma_set_num_threads", n)


def get_num_threads():
    return lib.norma_get_num_threads()


_F32_COMPUTE = ("double", "float")


def set_f32_compute(mode):
    """How float32 tensors are computed, for every later call: "double" (the default; each result within
    about half a float32 ulp of exact) or "float" (float arithmetic as for bfloat16/float16 tensors: a
    few float32 roundings from exact, faster on CPUs without AVX-512). See norma_set_f32_compute in
    norma.h; the environment variable NORMA_F32_COMPUTE sets the initial value."""
    if mode not in _F32_COMPUTE:
        raise ValueError("norma.set_f32_compute: mode must be 'double' or 'float', got %r" % (mode,))
    call("norma_set_f32_compute", _F32_COMPUTE.index(mode))


def get_f32_compute():
    return _F32_COMPUTE[lib.norma_get_f32_compute()]


def kernels():
    """The kernel variant in use: "reference", "avx2", "avx512" or "avx512bf16"."""
    return lib.norma_kernels().decode()


def version():
    return lib.norma_version().decode()
