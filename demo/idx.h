/* idx.h: reading the IDX files of (Fashion-)MNIST, gzip-compressed or not (zlib reads both).
 *
 * IDX: two zero bytes, a type byte (0x08: unsigned bytes, the only type these datasets use), the
 * number of dimensions, each dimension as a big-endian 32-bit integer, then the data, row-major. */
#ifndef NORMA_DEMO_IDX_H
#define NORMA_DEMO_IDX_H

#include <stddef.h>
#include <stdint.h>

#define IDX_MAX_DIMS 4

typedef struct idx_array {
    int ndim;
    int64_t dims[IDX_MAX_DIMS];
    int64_t count; /* product of dims */
    uint8_t *data;
} idx_array;

/* Reads `path` into *out. Returns 0, or -1 with a message in err (a missing file, a bad header, a
 * short file, a type other than unsigned bytes). */
int idx_read(const char *path, idx_array *out, char *err, size_t errlen);
void idx_free(idx_array *a);

/* Writes a gzip-compressed IDX file of unsigned bytes (for tests). Returns 0 or -1. */
int idx_write(const char *path, int ndim, const int64_t *dims, const uint8_t *data);

#endif /* NORMA_DEMO_IDX_H */
