/* test_sync_mpi.c: the synchronized BatchNorm over MPI, run by ctest under
 * `mpirun -np K` for K = 1..4. Every process builds the same global batch, takes its slice (unequal
 * sizes, one process with none), and checks its results against one norma_batch_norm over the whole
 * batch: bitwise in the exact mode, to rounding in the fast mode and through the three-step API.
 * Then the failure paths: processes that disagree, a process with bad arguments, a batch of one
 * value per channel: every process must get the error, none may hang. */
#include <mpi.h>

#include "oracle.h"
#include "norma_mpi.h"

static int rank, size;
static norma_mpi_comm comm;

static const char *dtype_name(norma_dtype t) { return t == NORMA_F32 ? "f32" : t == NORMA_BF16 ? "bf16" : "f16"; }

/* Per-process sample counts of a global batch: uneven, and process 1 (of 2 or more) holds none. */
static void split(int64_t total, int64_t *n, int64_t *offset) {
    int64_t left = total;
    for (int r = 0; r < size; r++) {
        int64_t share = r == size - 1 ? left : r == 1 ? 0 : (left + 1) / 2;
        if (r == rank) *n = share, *offset = total - left;
        left -= share;
    }
}

static void fill(norma_dtype t, void *p, int64_t n, double mean, double spread) {
    for (int64_t i = 0; i < n; i++) store_elem(t, p, i, (float)(mean + spread * rng_normal()));
}

static double max_rel(const float *a, const float *b, int64_t n) {
    double worst = 0.0, scale = 0.0;
    for (int64_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (int64_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]) / (scale + 1e-30));
    return worst;
}

/* Elements of a tensor as floats (for comparisons). */
static void to_floats(norma_dtype t, const void *p, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) out[i] = load_elem(t, p, i);
}

static void check_case(norma_sync_mode mode, norma_dtype t, norma_layout layout, int64_t total, int64_t C, int64_t S) {
    size_t es = norma_dtype_size(t);
    int64_t n = 0, off = 0, all = total * C * S;
    split(total, &n, &off);
    rng_seed(1234 + (uint64_t)(total * 31 + C * 7 + S));
    char *x = xmalloc((size_t)all * es), *dy = xmalloc((size_t)all * es), *w = xmalloc((size_t)C * es),
         *b = xmalloc((size_t)C * es);
    fill(t, x, all, 2.0, 1.5), fill(t, dy, all, 0.0, 1.0), fill(t, w, C, 1.0, 0.3), fill(t, b, C, 0.0, 0.3);
    /* one BatchNorm over the whole batch: the reference */
    char *y_ref = xmalloc((size_t)all * es), *dx_ref = xmalloc((size_t)all * es);
    float *rm_ref = xmalloc((size_t)C * 4), *rv_ref = xmalloc((size_t)C * 4), *sm_ref = xmalloc((size_t)C * 4),
          *sr_ref = xmalloc((size_t)C * 4), *dw_ref = xmalloc((size_t)C * 4), *db_ref = xmalloc((size_t)C * 4);
    for (int64_t c = 0; c < C; c++) rm_ref[c] = 0.5f, rv_ref[c] = 2.0f;
    CHECK_OK(norma_batch_norm_fwd(t, layout, total, C, S, x, w, b, rm_ref, rv_ref, 1, 0.1, 1e-5, y_ref, sm_ref, sr_ref));
    CHECK_OK(norma_batch_norm_bwd(t, layout, total, C, S, dy, x, w, sm_ref, NULL, NULL, 1, 1e-5, dx_ref, dw_ref, db_ref));
    /* this process's slice (samples are contiguous in both layouts) */
    size_t at = (size_t)(off * C * S) * es, bytes = (size_t)(n * C * S) * es;
    char *y = xmalloc(bytes + 1), *dx = xmalloc(bytes + 1);
    float *rm = xmalloc((size_t)C * 4), *rv = xmalloc((size_t)C * 4), *sm = xmalloc((size_t)C * 4),
          *sr = xmalloc((size_t)C * 4), *dw = xmalloc((size_t)C * 4), *db = xmalloc((size_t)C * 4);
    for (int64_t c = 0; c < C; c++) rm[c] = 0.5f, rv[c] = 2.0f;
    CHECK_OK(norma_sync_batch_norm_fwd(&comm.base, mode, t, layout, n, C, S, x + at, w, b, rm, rv, 1, 0.1, 1e-5, y, sm,
                                       sr));
    CHECK_OK(norma_sync_batch_norm_bwd(&comm.base, mode, t, layout, n, C, S, dy + at, x + at, w, sm, NULL, NULL, 1, 1e-5,
                                       dx, dw, db));
    /* the parameter gradients are each process's part: their sum is the whole batch's */
    double part[2 * 64], sum[2 * 64];
    for (int64_t c = 0; c < C; c++) part[c] = dw[c], part[C + c] = db[c];
    MPI_Allreduce(part, sum, (int)(2 * C), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    float dws[64], dbs[64];
    for (int64_t c = 0; c < C; c++) dws[c] = (float)sum[c], dbs[c] = (float)sum[C + c];
    const char *what = mode == NORMA_SYNC_EXACT ? "exact" : "fast";
    CHECK(max_rel(dws, dw_ref, C) <= 1e-6 && max_rel(dbs, db_ref, C) <= 1e-6,
          "rank %d/%d %s %s: summed dweight/dbias off by %.3g/%.3g", rank, size, what, dtype_name(t),
          max_rel(dws, dw_ref, C), max_rel(dbs, db_ref, C));
    if (mode == NORMA_SYNC_EXACT) {
        CHECK(!memcmp(y, y_ref + at, bytes) && !memcmp(dx, dx_ref + at, bytes),
              "rank %d/%d exact %s layout %d N=%lld C=%lld S=%lld: y or dx not bitwise equal to one BatchNorm", rank,
              size, dtype_name(t), (int)layout, (long long)total, (long long)C, (long long)S);
        CHECK(!memcmp(sm, sm_ref, (size_t)C * 4) && !memcmp(sr, sr_ref, (size_t)C * 4) &&
                  !memcmp(rm, rm_ref, (size_t)C * 4) && !memcmp(rv, rv_ref, (size_t)C * 4),
              "rank %d/%d exact %s: statistics not bitwise equal to one BatchNorm", rank, size, dtype_name(t));
    } else {
        float *a = xmalloc((size_t)(n * C * S + 1) * 4), *r = xmalloc((size_t)(n * C * S + 1) * 4);
        double tol = t == NORMA_F32 ? 1e-6 : 1e-2;
        to_floats(t, y, n * C * S, a), to_floats(t, y_ref + at, n * C * S, r);
        double ey = max_rel(a, r, n * C * S);
        to_floats(t, dx, n * C * S, a), to_floats(t, dx_ref + at, n * C * S, r);
        double edx = max_rel(a, r, n * C * S);
        CHECK(ey <= tol && edx <= tol && max_rel(sm, sm_ref, C) <= 1e-6 && max_rel(sr, sr_ref, C) <= 1e-6 &&
                  max_rel(rm, rm_ref, C) <= 1e-6 && max_rel(rv, rv_ref, C) <= 1e-6,
              "rank %d/%d fast %s: y %.3g, dx %.3g off", rank, size, dtype_name(t), ey, edx);
        free(a), free(r);
    }
    free(x), free(dy), free(w), free(b), free(y_ref), free(dx_ref), free(y), free(dx);
    free(rm_ref), free(rv_ref), free(sm_ref), free(sr_ref), free(dw_ref), free(db_ref);
    free(rm), free(rv), free(sm), free(sr), free(dw), free(db);
}

/* The three-step API with MPI as the middle step equals the fast mode. */
static void check_three_steps(void) {
    int64_t total = 9, C = 5, S = 13, n = 0, off = 0;
    split(total, &n, &off);
    rng_seed(77);
    float *x = xmalloc((size_t)(total * C * S) * 4), *dy = xmalloc((size_t)(total * C * S) * 4), w[5] = {1, 2, 0.5f, 1, -1};
    fill(NORMA_F32, x, total * C * S, 1.0, 2.0), fill(NORMA_F32, dy, total * C * S, 0.0, 1.0);
    float *xs = x + off * C * S, *dys = dy + off * C * S;
    float *y1 = xmalloc((size_t)(n * C * S + 1) * 4), *y2 = xmalloc((size_t)(n * C * S + 1) * 4);
    float *dx1 = xmalloc((size_t)(n * C * S + 1) * 4), *dx2 = xmalloc((size_t)(n * C * S + 1) * 4);
    float sm1[5], sr1[5], sm2[5], sr2[5], dw1[5], dw2[5], db1[5], db2[5];
    CHECK_OK(norma_sync_batch_norm_fwd(&comm.base, NORMA_SYNC_FAST, NORMA_F32, NORMA_CHANNELS_FIRST, n, C, S, xs, w, NULL,
                                       NULL, NULL, 1, 0.1, 1e-5, y1, sm1, sr1));
    double mine[15], parts[15 * 8], stats[15], sums[20], total_sums[20];
    CHECK_OK(norma_batch_norm_stats(NORMA_F32, NORMA_CHANNELS_FIRST, n, C, S, xs, mine));
    MPI_Allgather(mine, 15, MPI_DOUBLE, parts, 15, MPI_DOUBLE, MPI_COMM_WORLD);
    CHECK_OK(norma_batch_norm_merge_stats(C, size, parts, stats));
    CHECK_OK(norma_batch_norm_apply_stats(NORMA_F32, NORMA_CHANNELS_FIRST, n, C, S, xs, w, NULL, stats, NULL, NULL, 0.1,
                                          1e-5, y2, sm2, sr2));
    CHECK(!memcmp(y1, y2, (size_t)(n * C * S) * 4) && !memcmp(sm1, sm2, sizeof sm1) && !memcmp(sr1, sr2, sizeof sr1),
          "rank %d/%d: the three-step forward differs from the fast mode", rank, size);
    CHECK_OK(norma_sync_batch_norm_bwd(&comm.base, NORMA_SYNC_FAST, NORMA_F32, NORMA_CHANNELS_FIRST, n, C, S, dys, xs, w,
                                       sm1, NULL, NULL, 1, 1e-5, dx1, dw1, db1));
    CHECK_OK(norma_batch_norm_bwd_sums(NORMA_F32, NORMA_CHANNELS_FIRST, n, C, S, dys, xs, sm1, sums));
    MPI_Allreduce(sums, total_sums, 20, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    CHECK_OK(norma_batch_norm_bwd_apply(NORMA_F32, NORMA_CHANNELS_FIRST, n, C, S, dys, xs, w, sm1, total_sums,
                                        (double)(total * S), 1e-5, dx2, dw2, db2));
    CHECK(max_rel(dx2, dx1, n * C * S) <= 1e-6 && max_rel(dw2, dw1, C) <= 1e-6 && !memcmp(db1, db2, sizeof db1),
          "rank %d/%d: the three-step backward differs from the fast mode by %.3g", rank, size,
          max_rel(dx2, dx1, n * C * S));
    free(x), free(dy), free(y1), free(y2), free(dx1), free(dx2);
}

/* Every process gets `expected` with a message containing `what`, and nothing hangs. */
static void expect_all_fail(norma_status got, norma_status expected, const char *what, const char *label) {
    int bad = got != expected || !strstr(norma_last_error(), what), any;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    CHECK(!bad, "rank %d/%d %s: got %s \"%s\", expected %s naming \"%s\"", rank, size, label, norma_status_name(got),
          norma_last_error(), norma_status_name(expected), what);
    CHECK(!any, "%s: some process did not fail as expected", label);
}

static void check_failures(void) {
    float x[2 * 8 * 3] = {0}, y[2 * 8 * 3], sm[8], sr[8], rm[8] = {0}, rv[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    for (int i = 0; i < 48; i++) x[i] = (float)(i % 7);
    norma_status s;
    if (size > 1) { /* a different C on the last process */
        int64_t c = rank == size - 1 ? 8 : 4;
        s = norma_sync_batch_norm_fwd(&comm.base, NORMA_SYNC_EXACT, NORMA_F32, NORMA_CHANNELS_FIRST, 2, c, 3, x, NULL,
                                      NULL, rm, rv, 1, 0.1, 1e-5, y, sm, sr);
        expect_all_fail(s, NORMA_EINVAL, "processes disagree", "mismatched c");
        s = norma_sync_batch_norm_bwd(&comm.base, NORMA_SYNC_FAST, NORMA_F32, NORMA_CHANNELS_LAST, 2, c, 3, x, x, NULL,
                                      sm, NULL, NULL, 1, 1e-5, y, NULL, NULL);
        expect_all_fail(s, NORMA_EINVAL, "disagree", "mismatched c, backward");
        /* a different eps: the running statistics would drift apart */
        s = norma_sync_batch_norm_fwd(&comm.base, NORMA_SYNC_FAST, NORMA_F32, NORMA_CHANNELS_FIRST, 2, 4, 3, x, NULL,
                                      NULL, rm, rv, 1, 0.1, rank ? 1e-3 : 1e-5, y, sm, sr);
        expect_all_fail(s, NORMA_EINVAL, "eps", "mismatched eps");
    }
    if (size > 1) { /* a process without samples may give any layout; processes with samples must agree */
        int64_t mine = rank == 1 ? 0 : 2;
        norma_layout any = rank == 1 ? NORMA_CHANNELS_LAST : NORMA_CHANNELS_FIRST;
        CHECK_OK(norma_sync_batch_norm_fwd(&comm.base, NORMA_SYNC_EXACT, NORMA_F32, any, mine, 4, 3, x, NULL, NULL, rm,
                                           rv, 1, 0.1, 1e-5, y, sm, sr));
        norma_layout differ = rank == size - 1 && rank != 1 ? NORMA_CHANNELS_LAST : NORMA_CHANNELS_FIRST;
        if (size > 2) {
            s = norma_sync_batch_norm_fwd(&comm.base, NORMA_SYNC_EXACT, NORMA_F32, differ, 2, 4, 3, x, NULL, NULL, rm,
                                          rv, 1, 0.1, 1e-5, y, sm, sr);
            expect_all_fail(s, NORMA_EINVAL, "layout", "mismatched layouts");
        }
    }
    /* bad arguments on the last process only: it reports them, the others learn it */
    s = norma_sync_batch_norm_fwd(&comm.base, NORMA_SYNC_EXACT, NORMA_F32, NORMA_CHANNELS_FIRST, 2, 4, 3,
                                  rank == size - 1 ? NULL : x, NULL, NULL, rm, rv, 1, 0.1, 1e-5, y, sm, sr);
    expect_all_fail(s, rank == size - 1 ? NORMA_ENULL : NORMA_EINVAL, rank == size - 1 ? "x is NULL" : "rejected",
                    "one process's NULL x");
    /* one value per channel over the whole batch */
    int64_t n = rank == 0 ? 1 : 0;
    s = norma_sync_batch_norm_fwd(&comm.base, NORMA_SYNC_EXACT, NORMA_F32, NORMA_CHANNELS_FIRST, n, 4, 1, x, NULL, NULL,
                                  rm, rv, 1, 0.1, 1e-5, y, sm, sr);
    expect_all_fail(s, NORMA_EINVAL, "more than 1 value", "one value per channel");
    /* an empty batch everywhere: nothing changes */
    float rm0[8];
    memcpy(rm0, rm, sizeof rm);
    CHECK_OK(norma_sync_batch_norm_fwd(&comm.base, NORMA_SYNC_EXACT, NORMA_F32, NORMA_CHANNELS_FIRST, 0, 4, 3, NULL,
                                       NULL, NULL, rm, rv, 1, 0.1, 1e-5, NULL, sm, sr));
    CHECK(!memcmp(rm0, rm, sizeof rm), "an empty batch changed the running mean");
    /* local checks that need no communication */
    CHECK(norma_sync_batch_norm_fwd(NULL, NORMA_SYNC_EXACT, NORMA_F32, NORMA_CHANNELS_FIRST, 2, 4, 3, x, NULL, NULL, rm,
                                    rv, 1, 0.1, 1e-5, y, sm, sr) == NORMA_ENULL, "a NULL comm must fail");
    double none[3] = {0};
    CHECK(norma_batch_norm_merge_stats(0, 1, none, none) == NORMA_EINVAL, "merge_stats: c = 0");
    double st[3] = {1, 0, 0};
    CHECK(norma_batch_norm_apply_stats(NORMA_F32, NORMA_CHANNELS_FIRST, 1, 1, 1, x, NULL, NULL, st, NULL, NULL, 0.1, 1e-5,
                                       y, NULL, NULL) == NORMA_EINVAL, "apply_stats: a count of 1");
    double sums[4] = {0};
    CHECK(norma_batch_norm_bwd_apply(NORMA_F32, NORMA_CHANNELS_FIRST, 2, 1, 3, x, x, NULL, sm, sums, 7.0, 1e-5, y, NULL,
                                     NULL) == NORMA_EINVAL, "bwd_apply: a count that is not a multiple of spatial");
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK_OK(norma_mpi_comm_init(&comm, MPI_COMM_WORLD));
    static const norma_dtype dtypes[] = {NORMA_F32, NORMA_BF16, NORMA_F16};
    for (int mode = 0; mode < 2; mode++)
        for (int d = 0; d < 3; d++)
            for (int layout = 0; layout < 2; layout++) {
                check_case((norma_sync_mode)mode, dtypes[d], (norma_layout)layout, 7, 5, 37);
                check_case((norma_sync_mode)mode, dtypes[d], (norma_layout)layout, 5, 3, 1); /* BatchNorm1d on (N, C) */
            }
    /* a large plane: several cells per sample (K > 1) in both layouts */
    check_case(NORMA_SYNC_EXACT, NORMA_F32, NORMA_CHANNELS_FIRST, 5, 2, 300000);
    check_case(NORMA_SYNC_EXACT, NORMA_F32, NORMA_CHANNELS_LAST, 5, 64, 5000);
    check_three_steps();
    check_failures();
    int failed = check_summary(rank == 0 ? "test_sync_mpi" : "test_sync_mpi (other rank)");
    MPI_Finalize();
    return failed;
}
