/* norma-bench-sync: the cost of synchronizing BatchNorm across processes. Run under MPI:
 *
 *   mpirun -np P build/norma-bench-sync [--reps N] [--n N] [--c C] [--hw HW]
 *
 * Each process holds n samples of (c, hw, hw), channels-first (default: a ResNet-50 stage, 8 x 256 x
 * 28 x 28). Timed, median of N repetitions (the variants alternating, a barrier before each, the
 * slowest process's time counting): the forward and backward of
 * local BatchNorm (norma_batch_norm_*, no communication) and of the synchronized one in the exact and
 * the fast mode. Printed by rank 0: each time and the overhead over local BatchNorm. On a machine with
 * fewer cores than processes the processes also compete for the cores. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norma_mpi.h"

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void must(norma_status s) {
    if (s != NORMA_OK) {
        fprintf(stderr, "norma-bench-sync: %s\n", norma_last_error());
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size, reps = 21;
    int64_t n = 8, c = 256, hw = 28;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--n")) n = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--c")) c = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--hw")) hw = atoll(argv[i + 1]);
    }
    if (reps < 1 || reps > 1000) reps = 21;
    norma_mpi_comm comm;
    must(norma_mpi_comm_init(&comm, MPI_COMM_WORLD));
    int64_t S = hw * hw, elems = n * c * S;
    float *x = malloc((size_t)elems * 4), *dy = malloc((size_t)elems * 4), *y = malloc((size_t)elems * 4);
    float *dx = malloc((size_t)elems * 4), *w = malloc((size_t)c * 4), *stats = malloc((size_t)c * 4 * 6);
    for (int64_t i = 0; i < elems; i++) x[i] = (float)((i * 7919 + rank) % 1000) * 1e-3f, dy[i] = (float)(i % 13) * 0.1f;
    for (int64_t i = 0; i < c; i++) w[i] = 1.0f, stats[4 * c + i] = 0.0f, stats[5 * c + i] = 1.0f;
    float *sm = stats, *sr = stats + c, *dw = stats + 2 * c, *db = stats + 3 * c, *rm = stats + 4 * c, *rv = stats + 5 * c;
    static const char *names[3] = {"local BatchNorm (no communication)", "synchronized, exact mode", "synchronized, fast mode"};
    double med[3], *t = malloc((size_t)(3 * reps) * sizeof(double));
    for (int r = -2; r < reps; r++) /* the three variants alternate, so that all see the same machine */
        for (int v = 0; v < 3; v++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            if (v == 0) {
                must(norma_batch_norm_fwd(NORMA_F32, NORMA_CHANNELS_FIRST, n, c, S, x, w, w, rm, rv, 1, 0.1, 1e-5, y, sm, sr));
                must(norma_batch_norm_bwd(NORMA_F32, NORMA_CHANNELS_FIRST, n, c, S, dy, x, w, sm, NULL, NULL, 1, 1e-5, dx,
                                          dw, db));
            } else {
                norma_sync_mode mode = v == 1 ? NORMA_SYNC_EXACT : NORMA_SYNC_FAST;
                must(norma_sync_batch_norm_fwd(&comm.base, mode, NORMA_F32, NORMA_CHANNELS_FIRST, n, c, S, x, w, w, rm,
                                               rv, 1, 0.1, 1e-5, y, sm, sr));
                must(norma_sync_batch_norm_bwd(&comm.base, mode, NORMA_F32, NORMA_CHANNELS_FIRST, n, c, S, dy, x, w, sm,
                                               NULL, NULL, 1, 1e-5, dx, dw, db));
            }
            double dt = MPI_Wtime() - t0, slowest;
            MPI_Allreduce(&dt, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD); /* a step waits for the slowest */
            if (r >= 0) t[v * reps + r] = slowest;
        }
    for (int v = 0; v < 3; v++) {
        qsort(t + v * reps, (size_t)reps, sizeof(double), cmp);
        med[v] = t[v * reps + reps / 2];
    }
    free(t);
    if (rank == 0) {
        printf("norma-bench-sync: %d processes, each (%lld, %lld, %lld, %lld) f32, forward + backward, median of %d, "
               "norma %d threads per process\n", size, (long long)n, (long long)c, (long long)hw, (long long)hw, reps,
               norma_get_num_threads());
        for (int v = 0; v < 3; v++)
            printf("  %-36s %8.3f ms   %+6.1f%% over local\n", names[v], med[v] * 1e3, 100.0 * (med[v] / med[0] - 1.0));
    }
    free(x), free(dy), free(y), free(dx), free(w), free(stats);
    MPI_Finalize();
    return 0;
}
