/* idx.c: IDX files through zlib's gz* interface, which reads gzip and plain files alike. */
#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static int fail(char *err, size_t errlen, const char *path, const char *what) {
    snprintf(err, errlen, "%s: %s", path, what);
    return -1;
}

static int read_all(gzFile f, void *buf, size_t n) {
    char *p = buf;
    while (n > 0) {
        unsigned chunk = n > (1u << 30) ? 1u << 30 : (unsigned)n;
        int got = gzread(f, p, chunk);
        if (got <= 0) return -1;
        p += got, n -= (size_t)got;
    }
    return 0;
}

int idx_read(const char *path, idx_array *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    gzFile f = gzopen(path, "rb");
    if (!f) return fail(err, errlen, path, errno ? strerror(errno) : "cannot open");
    uint8_t head[4];
    int rc = -1;
    if (read_all(f, head, 4)) {
        fail(err, errlen, path, "too short for an IDX header");
    } else if (head[0] != 0 || head[1] != 0) {
        fail(err, errlen, path, "not an IDX file (bad magic number)");
    } else if (head[2] != 0x08) {
        fail(err, errlen, path, "IDX data type is not unsigned byte (0x08)");
    } else if (head[3] < 1 || head[3] > IDX_MAX_DIMS) {
        fail(err, errlen, path, "IDX file has an unsupported number of dimensions");
    } else {
        out->ndim = head[3];
        out->count = 1;
        rc = 0;
        for (int i = 0; i < out->ndim && rc == 0; i++) {
            uint8_t d[4];
            if (read_all(f, d, 4)) {
                rc = fail(err, errlen, path, "truncated IDX header");
                break;
            }
            out->dims[i] = (int64_t)d[0] << 24 | (int64_t)d[1] << 16 | (int64_t)d[2] << 8 | d[3];
            if (out->dims[i] <= 0 || out->dims[i] > (1 << 28)) rc = fail(err, errlen, path, "IDX dimension out of range");
            else out->count *= out->dims[i];
        }
        if (rc == 0 && out->count > ((int64_t)1 << 32)) rc = fail(err, errlen, path, "IDX file too large");
        if (rc == 0) {
            out->data = malloc((size_t)out->count);
            if (!out->data) rc = fail(err, errlen, path, "out of memory");
            else if (read_all(f, out->data, (size_t)out->count)) rc = fail(err, errlen, path, "truncated IDX data");
        }
    }
    gzclose(f);
    if (rc) idx_free(out);
    return rc;
}

void idx_free(idx_array *a) {
    free(a->data);
    memset(a, 0, sizeof *a);
}

int idx_write(const char *path, int ndim, const int64_t *dims, const uint8_t *data) {
    gzFile f = gzopen(path, "wb");
    if (!f) return -1;
    uint8_t head[4] = {0, 0, 0x08, (uint8_t)ndim};
    int64_t count = 1;
    int ok = gzwrite(f, head, 4) == 4;
    for (int i = 0; i < ndim; i++) {
        uint8_t d[4] = {(uint8_t)(dims[i] >> 24), (uint8_t)(dims[i] >> 16), (uint8_t)(dims[i] >> 8), (uint8_t)dims[i]};
        ok = ok && gzwrite(f, d, 4) == 4;
        count *= dims[i];
    }
    ok = ok && (count == 0 || gzwrite(f, data, (unsigned)count) == (int)count);
    return gzclose(f) == Z_OK && ok ? 0 : -1;
}
