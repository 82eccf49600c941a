"""The f32 compute mode the Python tests run under (ctest runs them in both; see tests/CMakeLists.txt).

In the default "double" mode norma's float32 results must be at least as close to float64 as
PyTorch's own float32 ones. With NORMA_F32_COMPUTE=float, norma computes float32 in float as PyTorch
does, with roundings in other places: its error may then be up to TORCH_FACTOR times PyTorch's."""

import norma

FLOAT_MODE = norma.get_f32_compute() == "float"
TORCH_FACTOR = 8.0 if FLOAT_MODE else 1.0
