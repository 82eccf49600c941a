/* test_workspace.c: the caller's workspace (norma_set_workspace, norma_workspace_needed).
 *
 * For ops that need scratch, on problems large enough to run in several blocks: with a workspace too
 * small, the call fails with NORMA_ENOMEM naming the workspace and leaves every output (running
 * statistics and power-iteration vectors included) untouched, and norma_workspace_needed reports the
 * size; with a workspace of exactly that size it succeeds and its results are bitwise those of the
 * library's own scratch. */
#include "check.h"
#include "norma.h"

enum { N = 4, C = 32, S = 1024, ROWS = 256, COLS = 96, NX = N * C * S };

/* Inputs, read only; and one block holding every output, compared whole. */
static float x[NX], dy[NX], w[C], b[C], wr[COLS];
typedef struct {
    float y[NX], dx[NX];
    float mean[N * C], rstd[N * C], dw[COLS + C], db[COLS + C];
    float running_mean[C], running_var[C];
    float u[ROWS], v[NX / ROWS];
    double sigma;
} outputs;
static outputs out;

static norma_status layer_norm_bwd(void) {
    return norma_layer_norm_bwd(NORMA_F32, ROWS, COLS, dy, x, wr, x, 1e-5, out.dx, out.dw, out.db);
}
/* (f32 RMSNorm's forward needs no scratch: its weight is read as stored) */
static norma_status layer_norm_fwd(void) {
    return norma_layer_norm_fwd(NORMA_F32, ROWS, COLS, x, wr, wr, 1e-5, out.y, out.mean, out.rstd);
}
static norma_status group_norm_bwd_nhwc(void) {
    return norma_group_norm_bwd(NORMA_F32, NORMA_CHANNELS_LAST, N, C, S, 8, dy, x, w, x, 1e-5, out.dx, out.dw, out.db);
}
static norma_status batch_norm_train(void) {
    return norma_batch_norm_fwd(NORMA_F32, NORMA_CHANNELS_FIRST, N, C, S, x, w, b, out.running_mean, out.running_var, 1,
                                0.1, 1e-5, out.y, out.mean, out.rstd);
}
static norma_status channel_rms_bwd(void) {
    return norma_channel_rms_norm_silu_bwd(NORMA_F32, NORMA_CHANNELS_FIRST, N, C, S, dy, x, w, b, 1e-12, out.dx, out.dw,
                                           out.db);
}
static norma_status spectral_fwd(void) {
    return norma_spectral_norm_fwd(NORMA_F32, 1, ROWS, NX / ROWS, x, out.u, out.v, 1, 1e-12, out.y, &out.sigma);
}

static const struct {
    const char *name;
    norma_status (*run)(void);
} ops[] = {{"layer_norm_bwd", layer_norm_bwd},   {"layer_norm_fwd", layer_norm_fwd},
           {"group_norm_bwd NHWC", group_norm_bwd_nhwc}, {"batch_norm_fwd training", batch_norm_train},
           {"channel_rms_norm_silu_bwd", channel_rms_bwd}, {"spectral_norm_fwd", spectral_fwd}};

static void reset_outputs(void) {
    memset(&out, 0x5a, sizeof out);
    for (int c = 0; c < C; c++) out.running_mean[c] = 0.0f, out.running_var[c] = 1.0f;
    for (int i = 0; i < ROWS; i++) out.u[i] = (float)rng_normal();
    for (int i = 0; i < NX / ROWS; i++) out.v[i] = (float)rng_normal();
}

static void test_ops(void) {
    static outputs expected, untouched;
    char tiny[64];
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        rng_seed(7 + k);
        reset_outputs();
        untouched = out;
        CHECK_OK(ops[k].run()); /* the library's own scratch */
        expected = out;

        rng_seed(7 + k);
        reset_outputs();
        CHECK_OK(norma_set_workspace(tiny, 1)); /* less than a 64-byte boundary leaves: 0 usable bytes */
        CHECK(norma_workspace_needed() == 0, "%s: needed not reset by norma_set_workspace", ops[k].name);
        norma_status s = ops[k].run();
        size_t needed = norma_workspace_needed();
        CHECK(s == NORMA_ENOMEM && strstr(norma_last_error(), "workspace"), "%s: a too small workspace gave %s (%s)",
              ops[k].name, norma_status_name(s), norma_last_error());
        CHECK(!memcmp(&out, &untouched, sizeof out), "%s: a failed call wrote to an output", ops[k].name);
        CHECK(needed > 0, "%s: needed 0 bytes but failed", ops[k].name);

        size_t bytes = (needed + 63) / 64 * 64;
        void *mem = aligned_alloc(64, bytes);
        CHECK_OK(norma_set_workspace(mem, needed)); /* exactly the size reported */
        CHECK_OK(ops[k].run());
        CHECK(!memcmp(&out, &expected, sizeof out), "%s: results in the workspace differ", ops[k].name);
        CHECK(norma_workspace_needed() == needed, "%s: needed %zu, then %zu", ops[k].name, needed,
              norma_workspace_needed());
        CHECK_OK(norma_set_workspace(NULL, 0)); /* back to the library's own */
        free(mem);
    }
}

static void test_errors(void) {
    CHECK(norma_set_workspace(NULL, 16) == NORMA_ENULL && strstr(norma_last_error(), "mem is NULL"),
          "a NULL workspace with bytes must fail");
    /* an op without scratch needs none and runs in any workspace */
    char tiny[8];
    CHECK_OK(norma_set_workspace(tiny, sizeof tiny));
    CHECK_OK(norma_layer_norm_fwd(NORMA_F32, 4, COLS, x, NULL, NULL, 1e-5, out.y, NULL, NULL));
    CHECK(norma_workspace_needed() == 0, "LayerNorm forward without weights needs no scratch");
    CHECK_OK(norma_set_workspace(NULL, 0));
}

int main(void) {
    if (forced_kernels_unavailable()) return 77;
    rng_seed(1);
    for (int i = 0; i < NX; i++) x[i] = (float)(rng_normal() + 0.5), dy[i] = (float)rng_normal();
    for (int i = 0; i < C; i++) w[i] = (float)(1.0 + 0.3 * rng_normal()), b[i] = (float)rng_normal();
    for (int i = 0; i < COLS; i++) wr[i] = (float)(1.0 + 0.3 * rng_normal());
    test_ops();
    test_errors();
    return check_summary("test_workspace");
}
