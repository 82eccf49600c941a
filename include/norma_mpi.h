/*
 * norma_mpi.h: norma's communicator over MPI, for the synchronized BatchNorm (norma.h,
 * norma_sync_batch_norm_*). Link with -lnorma_mpi -lnorma and the MPI library.
 *
 *     norma_mpi_comm comm;
 *     norma_mpi_comm_init(&comm, MPI_COMM_WORLD);
 *     norma_sync_batch_norm_fwd(&comm.base, NORMA_SYNC_EXACT, ...);
 *
 * The gathers are MPI_Allgatherv calls on the given communicator (collective: every process of it
 * must call norma_sync_batch_norm_* in the same order).
 */
#ifndef NORMA_MPI_H
#define NORMA_MPI_H

#include <mpi.h>

#include "norma.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct norma_mpi_comm {
    norma_comm base; /* what norma_sync_batch_norm_* take: &comm.base */
    MPI_Comm comm;
} norma_mpi_comm;

/* Fills c for an MPI communicator (MPI must be initialized; the communicator must outlive c).
 * NORMA_ECOMM if MPI cannot give the communicator's rank and size. */
NORMA_API norma_status norma_mpi_comm_init(norma_mpi_comm *c, MPI_Comm comm);

#ifdef __cplusplus
}
#endif

#endif /* NORMA_MPI_H */
