/* scratch.c: per-thread, grow-only scratch memory.
 *
 * Some plans need a few partial sums per block of work (e.g. the per-block column sums of a
 * LayerNorm weight gradient). They take them from here, so no call allocates in steady state:
 * the first call of a given size allocates (and pays the first touch of fresh pages), later calls
 * reuse the warm buffer. The buffer is freed when its thread exits. A call takes it once, on the
 * calling thread, and hands parts of it to its tasks (which may run on other threads). */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"

typedef struct {
    void *data;
    size_t bytes;
} scratch_buffer;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *p) {
    scratch_buffer *s = p;
    free(s->data);
    free(s);
}

static void make_key(void) { pthread_key_create(&scratch_key, free_scratch); }

void *norma_scratch(size_t bytes) {
    pthread_once(&scratch_once, make_key);
    scratch_buffer *s = pthread_getspecific(scratch_key);
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL || pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (bytes > s->bytes) {
        size_t size = (bytes + 63) / 64 * 64;
        void *data = aligned_alloc(64, size);
        if (data == NULL) return NULL;
        free(s->data);
        s->data = data;
        s->bytes = size;
    }
    return s->data;
}

norma_status norma_arena_init(norma_arena *a, const char *fn, int64_t doubles) {
    a->next = norma_scratch((size_t)max_i64(doubles, 1) * sizeof(double));
    if (!a->next)
        return norma_fail(NORMA_ENOMEM, fn, "cannot allocate %lld bytes of scratch", (long long)doubles * 8);
    a->end = a->next + doubles;
    return NORMA_OK;
}

double *norma_alloc(norma_arena *a, int64_t doubles) {
    double *p = a->next;
    a->next += doubles;
    return p;
}
