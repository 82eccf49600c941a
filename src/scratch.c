/* scratch.c: per-thread, grow-only scratch memory, or the caller's workspace.
 *
 * Some plans need a few partial sums per block of work (e.g. the per-block column sums of a
 * LayerNorm weight gradient). They take them from here, so no call allocates in steady state:
 * the first call of a given size allocates (and pays the first touch of fresh pages), later calls
 * reuse the warm buffer. The buffer is freed when its thread exits. A call takes it once, on the
 * calling thread, and hands parts of it to its tasks (which may run on other threads). A caller
 * may instead hand the thread a workspace (norma_set_workspace): then nothing is allocated. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

/* A thread's scratch: its own buffer, or the workspace its caller gave it, and the high-water mark. */
typedef struct {
    void *data;
    size_t bytes;
    void *workspace; /* the caller's, 64-byte aligned, or NULL */
    size_t workspace_bytes;
    size_t needed;
} scratch_state;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void free_scratch(void *p) {
    scratch_state *s = p;
    free(s->data);
    free(s);
}

static void make_key(void) { pthread_key_create(&scratch_key, free_scratch); }

static scratch_state *state(void) {
    pthread_once(&scratch_once, make_key);
    scratch_state *s = pthread_getspecific(scratch_key);
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL || pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    return s;
}

norma_status norma_scratch(const char *fn, size_t bytes, void **out) {
    scratch_state *s = state();
    if (s == NULL) return norma_fail(NORMA_ENOMEM, fn, "cannot allocate the thread's scratch state");
    if (bytes > s->needed) s->needed = bytes;
    if (s->workspace) {
        if (bytes > s->workspace_bytes)
            return norma_fail(NORMA_ENOMEM, fn, "the workspace (%zu bytes usable) is smaller than the %zu bytes of "
                                                "scratch this call needs", s->workspace_bytes, bytes);
        *out = s->workspace;
        return NORMA_OK;
    }
    if (bytes > s->bytes) {
        size_t size = (bytes + 63) / 64 * 64;
        void *data = aligned_alloc(64, size);
        if (data == NULL) return norma_fail(NORMA_ENOMEM, fn, "cannot allocate %zu bytes of scratch", bytes);
        free(s->data);
        s->data = data;
        s->bytes = size;
    }
    *out = s->data;
    return NORMA_OK;
}

norma_status norma_set_workspace(void *mem, size_t bytes) {
    static const char fn[] = "norma_set_workspace";
    if (mem == NULL && bytes > 0) return norma_fail(NORMA_ENULL, fn, "mem is NULL but bytes is %zu", bytes);
    scratch_state *s = state();
    if (s == NULL) return norma_fail(NORMA_ENOMEM, fn, "cannot allocate the thread's scratch state");
    s->workspace = NULL, s->workspace_bytes = 0, s->needed = 0;
    if (mem) { /* aligned for the kernels' vectors: the first 64-byte boundary */
        size_t skip = (64 - (uintptr_t)mem % 64) % 64;
        s->workspace = (char *)mem + (skip < bytes ? skip : bytes);
        s->workspace_bytes = skip < bytes ? bytes - skip : 0;
    }
    return NORMA_OK;
}

size_t norma_workspace_needed(void) {
    scratch_state *s = state();
    return s ? s->needed : 0;
}

norma_status norma_arena_init(norma_arena *a, const char *fn, int64_t doubles) {
    void *mem;
    TRY(norma_scratch(fn, (size_t)max_i64(doubles, 1) * sizeof(double), &mem));
    a->next = mem;
    a->end = a->next + doubles;
    return NORMA_OK;
}

double *norma_alloc(norma_arena *a, int64_t doubles) {
    double *p = a->next;
    a->next += doubles;
    return p;
}
