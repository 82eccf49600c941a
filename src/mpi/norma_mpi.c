/* norma_mpi.c: norma_comm over MPI_Allgatherv. */
#include "norma_mpi.h"

#include <limits.h>
#include <stdlib.h>

/* recv gets every process's counts[r] doubles in rank order. MPI counts are ints: larger gathers fail. */
static int mpi_allgather(void *ctx, const double *send, double *recv, const int64_t *counts) {
    const norma_mpi_comm *c = ctx;
    int size = c->base.size;
    int *n = malloc(2 * (size_t)size * sizeof(int));
    if (!n) return -1;
    int *displ = n + size;
    int64_t at = 0;
    for (int r = 0; r < size; r++) {
        if (counts[r] > INT_MAX || at > INT_MAX) {
            free(n);
            return -1;
        }
        n[r] = (int)counts[r], displ[r] = (int)at;
        at += counts[r];
    }
    /* a send buffer of zero doubles may be NULL; MPI wants a valid pointer */
    static const double none = 0.0;
    int rc = MPI_Allgatherv(send ? (const void *)send : (const void *)&none, n[c->base.rank], MPI_DOUBLE, recv, n,
                            displ, MPI_DOUBLE, c->comm);
    free(n);
    return rc == MPI_SUCCESS ? 0 : -1;
}

norma_status norma_mpi_comm_init(norma_mpi_comm *c, MPI_Comm comm) {
    int rank, size;
    if (!c) return NORMA_ENULL;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS) return NORMA_ECOMM;
    c->comm = comm;
    c->base = (norma_comm){.size = size, .rank = rank, .ctx = c, .allgather = mpi_allgather};
    return NORMA_OK;
}
