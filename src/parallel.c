/* parallel.c: a small thread pool for norma_parallel_for.
 *
 * Workers are created on the first parallel call and live until the thread count changes or the
 * process exits. One call owns the pool at a time (`busy`); a concurrent call from another thread
 * runs its tasks serially on its own thread instead of waiting, which gives the same results
 * because plans never let results depend on the task-to-thread assignment.
 *
 * A call publishes its job and bumps `generation`; workers spin briefly on `generation` (cheap
 * wake-up for back-to-back calls), then sleep on a condition variable. Tasks are handed out by an
 * atomic counter (a claim ahead for norma_parallel_for_ahead's jobs); `pending` counts the workers
 * still inside the current job. The caller is slot 0 of a job, worker i slot i + 1; workers whose slot
 * is not below the job's `slots` sit it out.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

#define MAX_THREADS 256
#define SPIN_ROUNDS 20000

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax(void) { _mm_pause(); }
/* The kernels' streaming stores are weakly ordered: each thread fences them once, after its tasks of a
 * call, before the call's result is handed on (not after every row: a fence waits for the stores to
 * reach memory, which on rows of 128 took most of the time). */
static inline void store_fence(void) { _mm_sfence(); }
#else
static inline void cpu_relax(void) {}
static inline void store_fence(void) { atomic_thread_fence(memory_order_seq_cst); }
#endif

static struct {
    pthread_mutex_t busy;  /* held by the call that owns the pool */
    pthread_mutex_t sleep; /* guards the condition variable */
    pthread_cond_t wake;
    pthread_once_t once;
    atomic_int num_threads; /* configured, including the caller (read by calls without the lock) */
    int num_workers; /* running worker threads */
    pthread_t workers[MAX_THREADS];
    atomic_uint_fast64_t generation;
    atomic_bool stop;
    /* the current job: fn, or ahead (claiming each next task before running the current one) */
    norma_task_fn fn;
    norma_task_ahead_fn ahead;
    void *ctx;
    int64_t ntasks;
    int slots;
    atomic_int_fast64_t next_task;
    atomic_int pending;
} pool = {.busy = PTHREAD_MUTEX_INITIALIZER,
          .sleep = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER,
          .once = PTHREAD_ONCE_INIT};

static int default_num_threads(void) {
    const char *env = getenv("NORMA_NUM_THREADS");
    if (env && *env) {
        long n = strtol(env, NULL, 10);
        if (n >= 1) return n > MAX_THREADS ? MAX_THREADS : (int)n;
    }
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n >= 1) return n > MAX_THREADS ? MAX_THREADS : n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* A forked child has none of the parent's workers: start from scratch. */
static void reset_after_fork(void) {
    pthread_mutex_init(&pool.busy, NULL);
    pthread_mutex_init(&pool.sleep, NULL);
    pthread_cond_init(&pool.wake, NULL);
    pool.num_workers = 0;
    atomic_store(&pool.stop, false);
}

static void init_once(void) {
    pool.num_threads = default_num_threads();
    pthread_atfork(NULL, NULL, reset_after_fork);
}

/* One step of waiting for another thread: spin a while (it is usually running and soon done), then
 * yield, in case it waits for this thread's core. */
static void wait_step(int spins) {
    if (spins < SPIN_ROUNDS) cpu_relax();
    else sched_yield();
}

static int64_t claim(void) { return atomic_fetch_add_explicit(&pool.next_task, 1, memory_order_relaxed); }

static void run_tasks(int slot) {
    if (slot >= pool.slots) return;
    if (pool.ahead) {
        for (int64_t t = claim(), next; t < pool.ntasks; t = next) {
            next = claim();
            pool.ahead(pool.ctx, t, next < pool.ntasks ? next : -1, slot);
        }
    } else {
        for (int64_t t = claim(); t < pool.ntasks; t = claim()) pool.fn(pool.ctx, t);
    }
    store_fence();
}

static void run_serially(int64_t ntasks, norma_task_fn fn, norma_task_ahead_fn ahead, void *ctx) {
    for (int64_t t = 0; t < ntasks; t++) {
        if (ahead) ahead(ctx, t, t + 1 < ntasks ? t + 1 : -1, 0);
        else fn(ctx, t);
    }
    store_fence();
}

/* A worker's start: its slot, and the generation current when it was created (it must not miss the job
 * published right after its creation, however late it starts running). */
typedef struct {
    int slot;
    uint_fast64_t generation;
} worker_start;
static worker_start starts[MAX_THREADS];

static void *worker_main(void *arg) {
    const worker_start *start = arg;
    const int slot = start->slot;
    uint_fast64_t seen = start->generation;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&pool.generation, memory_order_acquire) == seen &&
               !atomic_load_explicit(&pool.stop, memory_order_acquire) && spins < SPIN_ROUNDS) {
            cpu_relax();
            spins++;
        }
        if (spins == SPIN_ROUNDS) {
            pthread_mutex_lock(&pool.sleep);
            while (atomic_load_explicit(&pool.generation, memory_order_acquire) == seen &&
                   !atomic_load_explicit(&pool.stop, memory_order_acquire))
                pthread_cond_wait(&pool.wake, &pool.sleep);
            pthread_mutex_unlock(&pool.sleep);
        }
        if (atomic_load_explicit(&pool.stop, memory_order_acquire)) return NULL;
        seen = atomic_load_explicit(&pool.generation, memory_order_acquire);
        run_tasks(slot);
        atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_release);
    }
}

static void wake_workers(void) {
    pthread_mutex_lock(&pool.sleep);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.sleep);
}

/* With `busy` held: stop and join every worker. */
static void stop_workers(void) {
    if (pool.num_workers == 0) return;
    atomic_store_explicit(&pool.stop, true, memory_order_release);
    wake_workers();
    for (int i = 0; i < pool.num_workers; i++) pthread_join(pool.workers[i], NULL);
    pool.num_workers = 0;
    atomic_store_explicit(&pool.stop, false, memory_order_release);
}

/* With `busy` held: make sure num_threads - 1 workers run. Fewer is fine if creation fails. */
static void start_workers(void) {
    while (pool.num_workers < pool.num_threads - 1) {
        worker_start *start = &starts[pool.num_workers];
        *start = (worker_start){.slot = pool.num_workers + 1, .generation = atomic_load(&pool.generation)};
        if (pthread_create(&pool.workers[pool.num_workers], NULL, worker_main, start) != 0) break;
        pool.num_workers++;
    }
}

norma_status norma_set_num_threads(int n) {
    pthread_once(&pool.once, init_once);
    if (n < 1 || n > MAX_THREADS)
        return norma_fail(NORMA_EINVAL, "norma_set_num_threads", "n must be in [1, %d] (got %d)", MAX_THREADS, n);
    pthread_mutex_lock(&pool.busy);
    if (n != pool.num_threads) {
        stop_workers();
        pool.num_threads = n;
    }
    pthread_mutex_unlock(&pool.busy);
    return NORMA_OK;
}

static int64_t l2_bytes;
static pthread_once_t l2_once = PTHREAD_ONCE_INIT;
static void read_l2(void) {
    long n = sysconf(_SC_LEVEL2_CACHE_SIZE);
    l2_bytes = n > 0 ? n : (int64_t)1 << 20;
}
int64_t norma_l2_bytes(void) {
    pthread_once(&l2_once, read_l2);
    return l2_bytes;
}

int norma_get_num_threads(void) {
    pthread_once(&pool.once, init_once);
    return pool.num_threads;
}

/* Either entry point: exactly one of fn and ahead is set. */
static void parallel_for(int64_t ntasks, bool serial, int slots, norma_task_fn fn, norma_task_ahead_fn ahead,
                         void *ctx) {
    pthread_once(&pool.once, init_once);
    if (ntasks <= 0) return;
    if (serial || ntasks == 1 || slots == 1 || atomic_load_explicit(&pool.num_threads, memory_order_relaxed) == 1 ||
        pthread_mutex_trylock(&pool.busy) != 0) {
        run_serially(ntasks, fn, ahead, ctx);
        return;
    }
    start_workers();
    if (pool.num_workers == 0) {
        pthread_mutex_unlock(&pool.busy);
        run_serially(ntasks, fn, ahead, ctx);
        return;
    }
    pool.fn = fn;
    pool.ahead = ahead;
    pool.ctx = ctx;
    pool.ntasks = ntasks;
    pool.slots = slots;
    atomic_store_explicit(&pool.next_task, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.pending, pool.num_workers, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    wake_workers();
    run_tasks(0);
    for (int spins = 0; atomic_load_explicit(&pool.pending, memory_order_acquire) > 0; spins++) wait_step(spins);
    pthread_mutex_unlock(&pool.busy);
}

void norma_parallel_for(int64_t ntasks, bool serial, norma_task_fn fn, void *ctx) {
    parallel_for(ntasks, serial, MAX_THREADS, fn, NULL, ctx);
}

void norma_parallel_for_ahead(int64_t ntasks, bool serial, int slots, norma_task_ahead_fn fn, void *ctx) {
    parallel_for(ntasks, serial, slots, NULL, fn, ctx);
}

/* The flag is usually set soon by a thread that is running: see wait_step. */
void norma_wait_flag(const atomic_int *flag) {
    for (int spins = 0; !atomic_load_explicit(flag, memory_order_acquire); spins++) wait_step(spins);
}
