/* status.c: error messages, argument checks, dtypes, version. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

#define STR2(x) #x
#define STR(x) STR2(x)

static _Thread_local char last_error[512];

const char *norma_last_error(void) { return last_error; }

norma_status norma_fail(norma_status status, const char *fn, const char *fmt, ...) {
    int n = snprintf(last_error, sizeof last_error, "%s: ", fn);
    if (n < 0 || (size_t)n >= sizeof last_error) n = 0;
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, args);
    va_end(args);
    return status;
}

const char *norma_status_name(norma_status status) {
    switch (status) {
    case NORMA_OK: return "NORMA_OK";
    case NORMA_ENULL: return "NORMA_ENULL";
    case NORMA_EINVAL: return "NORMA_EINVAL";
    case NORMA_EUNSUPPORTED: return "NORMA_EUNSUPPORTED";
    case NORMA_ENOMEM: return "NORMA_ENOMEM";
    case NORMA_ECOMM: return "NORMA_ECOMM";
    }
    return "unknown norma_status";
}

const char *norma_version(void) {
    return STR(NORMA_VERSION_MAJOR) "." STR(NORMA_VERSION_MINOR) "." STR(NORMA_VERSION_PATCH);
}

size_t norma_dtype_size(norma_dtype dtype) {
    switch (dtype) {
    case NORMA_F32: return 4;
    case NORMA_BF16:
    case NORMA_F16: return 2;
    }
    return 0;
}

norma_status norma_check_dtype(const char *fn, norma_dtype dtype) {
    if (norma_dtype_size(dtype) == 0)
        return norma_fail(NORMA_EUNSUPPORTED, fn, "unknown dtype %d (expected NORMA_F32, NORMA_BF16 or NORMA_F16)",
                          (int)dtype);
    return NORMA_OK;
}

norma_status norma_check_count(const char *fn, const char *name, int64_t value, int64_t min) {
    if (value < min)
        return norma_fail(NORMA_EINVAL, fn, "%s must be >= %lld (got %lld)", name, (long long)min,
                          (long long)value);
    return NORMA_OK;
}

norma_status norma_check_eps(const char *fn, double eps) {
    if (!(eps >= 0.0) || isinf(eps))
        return norma_fail(NORMA_EINVAL, fn, "eps must be a finite number >= 0 (got %g)", eps);
    return NORMA_OK;
}

norma_status norma_check_ptr(const char *fn, const char *name, const void *ptr) {
    if (ptr == NULL) return norma_fail(NORMA_ENULL, fn, "%s is NULL", name);
    return NORMA_OK;
}

norma_status norma_check_numel(const char *fn, int64_t *numel, int count, const int64_t *sizes,
                         const char *const *names) {
    /* every size alone too (a parameter vector of c elements must be addressable even when n = 0),
     * in units of 8 bytes, the largest element of any array sized by it (doubles, in scratch) */
    int64_t limit = PTRDIFF_MAX / 8;
    int64_t product = 1;
    for (int i = 0; i < count; i++) {
        if (sizes[i] < 0) return norma_check_count(fn, names[i], sizes[i], 0);
        if (sizes[i] > limit || (sizes[i] != 0 && product > limit / sizes[i])) {
            char shape[256];
            int n = 0;
            for (int j = 0; j < count && n < (int)sizeof shape - 32; j++)
                n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%s=%lld", j ? " x " : "", names[j],
                              (long long)sizes[j]);
            return norma_fail(NORMA_EINVAL, fn, "tensor too large: %s overflows the address space", shape);
        }
        product *= sizes[i];
    }
    *numel = product;
    return NORMA_OK;
}
