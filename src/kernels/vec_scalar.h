/* vec_scalar.h: the portable shim. A "vector" is VL = 16 lanes held in a plain array; every
 * operation is a loop over the lanes, which the compiler may vectorize for the baseline ISA
 * without changing a single result (lanes are independent, and no reassociation is allowed).
 *
 * The shim interface, implemented by every vec_<isa>.h:
 *   vd: 16 doubles, vf: 16 floats
 *   vd_zero, vd_set, vd_add, vd_sub, vd_mul, vd_reduce (the fixed tree), and the same for vf
 *   vd_fma(a, b, c) / vf_fma       a·b + c rounded once (IEEE fused multiply-add)
 *   vf_fms(a, b, c)          a·b - c rounded once (so a·b - round(a·b) is exact)
 *   vf_div, vf_min, vf_max   a / b (IEEE); a < b ? a : b and a > b ? a : b (so a NaN a gives b)
 *   vd_min, vd_max           the same in double
 *   vd_div, vd_sqrt          a / b and sqrt(a) in double (IEEE: correctly rounded)
 *   vf_scale2(p, n)          p·2^n rounded once (as ldexpf), for integer-valued n in [-126, 128]
 *   vd_first(a, k) / vf_first(a, k)   a with the lanes from k on set to 0
 *   vd_load(t, p, i)          elements p[i .. i+15] of dtype t, as doubles
 *   vd_load_part(t, p, i, k)  the first k < 16 of them, the other lanes 0
 *   vd_store / vd_store_part  the inverse (f32: rounded from double; bf16/f16: via float)
 *   vf_load / vf_load_part / vf_store / vf_store_part   the same in float
 *   vd_first(a, k)            a with the lanes from k on set to 0
 *   vd_from_vf, vf_from_vd    widening of 16 floats, and rounding of 16 doubles
 *   vd_load_acc / vd_store_acc: the first k of 16 doubles of an accumulator array
 *   vf_stream / vd_stream     full stores that bypass the caches where aligned (the thread pool
 *                             fences them once per call: norma_parallel_for)
 * The reduction tree adds lane l and l + 8, then l and l + 4, then l + 2, then l + 1. */
#ifndef NORMA_VEC_SCALAR_H
#define NORMA_VEC_SCALAR_H

#include <math.h>

#include "convert.h"
#include "norma.h"

#define VL 16

typedef struct { double v[VL]; } vd;
typedef struct { float v[VL]; } vf;

#define LANES(i) for (int i = 0; i < VL; i++)

static inline vd vd_zero(void) { vd r; LANES(i) r.v[i] = 0.0; return r; }
static inline vd vd_set(double a) { vd r; LANES(i) r.v[i] = a; return r; }
static inline vd vd_add(vd a, vd b) { LANES(i) a.v[i] += b.v[i]; return a; }
static inline vd vd_sub(vd a, vd b) { LANES(i) a.v[i] -= b.v[i]; return a; }
static inline vd vd_mul(vd a, vd b) { LANES(i) a.v[i] *= b.v[i]; return a; }

/* a·b + c with one rounding (IEEE fma; glibc runs it on the FMA instruction where the CPU has one) */
static inline vd vd_fma(vd a, vd b, vd c) { LANES(i) a.v[i] = fma(a.v[i], b.v[i], c.v[i]); return a; }
static inline vd vd_min(vd a, vd b) { LANES(i) a.v[i] = a.v[i] < b.v[i] ? a.v[i] : b.v[i]; return a; }
static inline vd vd_max(vd a, vd b) { LANES(i) a.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i]; return a; }
static inline vd vd_div(vd a, vd b) { LANES(i) a.v[i] /= b.v[i]; return a; }
static inline vd vd_sqrt(vd a) { LANES(i) a.v[i] = sqrt(a.v[i]); return a; }

static inline vf vf_zero(void) { vf r; LANES(i) r.v[i] = 0.0f; return r; }
static inline vf vf_set(float a) { vf r; LANES(i) r.v[i] = a; return r; }
static inline vf vf_add(vf a, vf b) { LANES(i) a.v[i] += b.v[i]; return a; }
static inline vf vf_sub(vf a, vf b) { LANES(i) a.v[i] -= b.v[i]; return a; }
static inline vf vf_mul(vf a, vf b) { LANES(i) a.v[i] *= b.v[i]; return a; }
static inline vf vf_fma(vf a, vf b, vf c) { LANES(i) a.v[i] = fmaf(a.v[i], b.v[i], c.v[i]); return a; }
static inline vf vf_fms(vf a, vf b, vf c) { LANES(i) a.v[i] = fmaf(a.v[i], b.v[i], -c.v[i]); return a; }
static inline vf vf_div(vf a, vf b) { LANES(i) a.v[i] /= b.v[i]; return a; }
static inline vf vf_min(vf a, vf b) { LANES(i) a.v[i] = a.v[i] < b.v[i] ? a.v[i] : b.v[i]; return a; }
static inline vf vf_max(vf a, vf b) { LANES(i) a.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i]; return a; }
static inline vf vf_scale2(vf p, vf n) { LANES(i) p.v[i] = ldexpf(p.v[i], (int)n.v[i]); return p; }

static inline float vf_reduce(vf a) {
    for (int width = VL / 2; width >= 1; width /= 2)
        for (int i = 0; i < width; i++) a.v[i] += a.v[i + width];
    return a.v[0];
}

static inline vf vf_first(vf a, int k) {
    for (int l = k; l < VL; l++) a.v[l] = 0.0f;
    return a;
}

static inline double vd_reduce(vd a) {
    for (int width = VL / 2; width >= 1; width /= 2)
        for (int i = 0; i < width; i++) a.v[i] += a.v[i + width];
    return a.v[0];
}

static inline vf vf_load_part(norma_dtype t, const void *p, int64_t i, int k) {
    vf r = vf_zero();
    for (int l = 0; l < k; l++) r.v[l] = load_elem(t, p, i + l);
    return r;
}
static inline vf vf_load(norma_dtype t, const void *p, int64_t i) { return vf_load_part(t, p, i, VL); }

static inline void vf_store_part(norma_dtype t, void *p, int64_t i, int k, vf a) {
    for (int l = 0; l < k; l++) store_elem(t, p, i + l, a.v[l]);
}
static inline void vf_store(norma_dtype t, void *p, int64_t i, vf a) { vf_store_part(t, p, i, VL, a); }

static inline vd vd_load_part(norma_dtype t, const void *p, int64_t i, int k) {
    vd r = vd_zero();
    for (int l = 0; l < k; l++) r.v[l] = (double)load_elem(t, p, i + l);
    return r;
}
static inline vd vd_load(norma_dtype t, const void *p, int64_t i) { return vd_load_part(t, p, i, VL); }

static inline void vd_store_part(norma_dtype t, void *p, int64_t i, int k, vd a) {
    for (int l = 0; l < k; l++) store_elem(t, p, i + l, (float)a.v[l]);
}
static inline void vd_store(norma_dtype t, void *p, int64_t i, vd a) { vd_store_part(t, p, i, VL, a); }

static inline vd vd_first(vd a, int k) {
    for (int l = k; l < VL; l++) a.v[l] = 0.0;
    return a;
}

static inline vf vf_from_vd(vd a) {
    vf r;
    for (int l = 0; l < VL; l++) r.v[l] = (float)a.v[l];
    return r;
}

static inline vd vd_from_vf(vf a) {
    vd r;
    for (int l = 0; l < VL; l++) r.v[l] = (double)a.v[l];
    return r;
}

/* Streaming stores (non-temporal, where the ISA has them) and the fence that orders them: plain C has
 * neither, so they are ordinary stores here. Same values in every variant. */
static inline void vf_stream(norma_dtype t, void *p, int64_t i, vf a) { vf_store(t, p, i, a); }
static inline void vd_stream(norma_dtype t, void *p, int64_t i, vd a) { vd_store(t, p, i, a); }

static inline vd vd_load_acc(const double *p, int k) {
    vd r = vd_zero();
    for (int l = 0; l < k; l++) r.v[l] = p[l];
    return r;
}
static inline void vd_store_acc(double *p, int k, vd a) {
    for (int l = 0; l < k; l++) p[l] = a.v[l];
}

#undef LANES
#endif /* NORMA_VEC_SCALAR_H */
