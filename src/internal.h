/* internal.h: what every plan in src/ shares: error reporting, argument checks, the thread pool
 * and per-thread scratch. Nothing here is public. */
#ifndef NORMA_INTERNAL_H
#define NORMA_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "norma.h"

#if defined(__GNUC__)
#define NORMA_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define NORMA_PRINTF(fmt, args)
#endif

/* ----- errors ------------------------------------------------------------------------------- */

/* Records "<fn>: <message>" as the calling thread's last error and returns `status`. */
norma_status norma_fail(norma_status status, const char *fn, const char *fmt, ...) NORMA_PRINTF(3, 4);

/* Argument checks. Each returns NORMA_OK or records an error naming `fn` and the argument. */
norma_status norma_check_dtype(const char *fn, norma_dtype dtype);
norma_status norma_check_count(const char *fn, const char *name, int64_t value, int64_t min);
norma_status norma_check_eps(const char *fn, double eps);
norma_status norma_check_ptr(const char *fn, const char *name, const void *ptr);
/* *product = a · b (· c ...), failing with NORMA_EINVAL when it, or any one size, exceeds the largest
 * tensor norma accepts: one whose size in bytes fits in a ptrdiff_t for elements of up to 8 bytes
 * (the doubles of per-element scratch), whatever the dtype. */
norma_status norma_check_numel(const char *fn, int64_t *numel, int count, const int64_t *sizes,
                         const char *const *names);

/* The first non-OK status of a sequence of checks: `TRY(check_x(...));` */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        norma_status try_status_ = (expr);                                                         \
        if (try_status_ != NORMA_OK) return try_status_;                                           \
    } while (0)

/* ----- threads ------------------------------------------------------------------------------ */

/* Runs fn(ctx, t) for every task t in [0, ntasks), on up to norma_get_num_threads() threads (the
 * caller included), and returns when all are done. Tasks must be independent; which thread runs
 * which task is unspecified, so results must not depend on it. Runs serially when `serial` is true
 * (small problems), when one thread is configured, or when the pool is busy with another call.
 * Every thread fences its stores after its tasks: kernels may store past the caches (the stream flag
 * of their outputs) only inside tasks. */
typedef void (*norma_task_fn)(void *ctx, int64_t task);
void norma_parallel_for(int64_t ntasks, bool serial, norma_task_fn fn, void *ctx);

/* The same, where each thread claims its next task before it starts the current one and passes it:
 * fn(ctx, t, next, slot), next the task this thread runs after t, or -1 if none. A task can then fetch
 * the inputs of the next one while it works (channel_norm.c: sets larger than a task's run). At the end
 * a thread may hold one claimed task while another is idle: for a few large tasks, not many small ones.
 * The call runs on at most `slots` (>= 1) threads, and slot, in [0, slots), tells them apart: the tasks
 * of one slot run one after another, so a task may work in scratch of its slot's (sized by the caller,
 * e.g. for min(norma_get_num_threads(), ntasks) slots: a concurrent norma_set_num_threads cannot make
 * more threads take part). */
typedef void (*norma_task_ahead_fn)(void *ctx, int64_t task, int64_t next, int slot);
void norma_parallel_for_ahead(int64_t ntasks, bool serial, int slots, norma_task_ahead_fn fn, void *ctx);

/* Returns once *flag is nonzero, set by another thread that is running (an acquire: what that thread
 * stored before setting it is seen). */
void norma_wait_flag(const atomic_int *flag);

/* Bytes of one core's L2 cache (sysconf; 1 MiB where unknown), read once. */
int64_t norma_l2_bytes(void);

/* Problems smaller than this many bytes of traffic stay on the calling thread: waking the pool
 * costs more than it saves. */
#define NORMA_SERIAL_BYTES ((int64_t)1 << 18)

/* ----- scratch ------------------------------------------------------------------------------ */

/* *out = `bytes` bytes of scratch, 64-byte aligned: the calling thread's workspace if the caller set
 * one (norma_set_workspace), else its own grow-only buffer. Fails with NORMA_ENOMEM (naming fn) if the
 * workspace is too small or allocation fails. Take it once per call, on the calling thread; tasks get
 * parts of it. Never keep the pointer across calls. */
norma_status norma_scratch(const char *fn, size_t bytes, void **out);

/* Doubles from the call's scratch, carved in order: norma_arena_init takes all a call needs at once
 * (failing with NORMA_ENOMEM, naming fn), norma_alloc hands out consecutive parts. */
typedef struct norma_arena {
    double *next, *end;
} norma_arena;
norma_status norma_arena_init(norma_arena *a, const char *fn, int64_t doubles);
double *norma_alloc(norma_arena *a, int64_t doubles);

/* ----- small helpers ------------------------------------------------------------------------ */

static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }

/* Splits `n` items into `blocks` nearly equal, contiguous blocks; the begin of block `i`
 * (block i is [block_begin(n, blocks, i), block_begin(n, blocks, i + 1)). */
static inline int64_t block_begin(int64_t n, int64_t blocks, int64_t i) {
    int64_t base = n / blocks, extra = n % blocks;
    return i * base + min_i64(i, extra);
}

#endif /* NORMA_INTERNAL_H */
