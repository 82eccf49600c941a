/* test_parallel.c: the thread pool (src/parallel.c). Every task runs exactly once, on any thread count,
 * serial or not; with norma_parallel_for_ahead each task's `next` is the task the same thread runs
 * after it (or -1 after its last), which is what lets a task fetch its successor's inputs, and its slot
 * is below the job's cap and belongs to one thread alone, which is what lets tasks share a slot's
 * scratch. */
#include <pthread.h>
#include <stdatomic.h>

#include "check.h"
#include "internal.h"
#include "norma.h"

#define MAX_TASKS 300

static atomic_int runs[MAX_TASKS];
static atomic_long clock_now;
static long started[MAX_TASKS];
static pthread_t thread_of[MAX_TASKS];
static int64_t next_of[MAX_TASKS];
static int slot_of[MAX_TASKS];
static volatile double sink; /* the tasks' work, kept */

/* A task: logs itself, then works a little so that every thread gets some. */
static void log_task(int64_t t, int64_t next, int slot) {
    atomic_fetch_add(&runs[t], 1);
    slot_of[t] = slot;
    started[t] = atomic_fetch_add(&clock_now, 1);
    thread_of[t] = pthread_self();
    next_of[t] = next;
    double s = 0.0;
    for (int i = 0; i < 20000; i++) s += i * 1e-9;
    sink = s;
}
static void plain_task(void *ctx, int64_t t) { (void)ctx, log_task(t, -2, -2); }
static void ahead_task(void *ctx, int64_t t, int64_t next, int slot) { (void)ctx, log_task(t, next, slot); }

/* An ahead job's slots: each below the cap, each slot one thread's and each thread one slot's. */
static void check_slots(int64_t ntasks, int slots, int threads) {
    int ok = 1;
    for (int64_t t = 0; t < ntasks; t++) {
        ok &= slot_of[t] >= 0 && slot_of[t] < slots;
        for (int64_t u = 0; u < t; u++)
            ok &= (slot_of[t] == slot_of[u]) == (pthread_equal(thread_of[t], thread_of[u]) != 0);
    }
    CHECK(ok, "ahead, %lld tasks, %d slots, %d threads: a slot out of range or shared by two threads",
          (long long)ntasks, slots, threads);
}

static void check_job(int64_t ntasks, bool serial, bool ahead, int threads, int slots) {
    for (int64_t t = 0; t < MAX_TASKS; t++) atomic_store(&runs[t], 0), next_of[t] = -3;
    if (ahead) norma_parallel_for_ahead(ntasks, serial, slots, ahead_task, NULL);
    else norma_parallel_for(ntasks, serial, plain_task, NULL);
    int once = 1, chained = 1, lasts = 0, firsts = 0, predecessors[MAX_TASKS] = {0};
    for (int64_t t = 0; t < MAX_TASKS; t++) once &= atomic_load(&runs[t]) == (t < ntasks);
    for (int64_t t = 0; ahead && t < ntasks; t++) {
        int64_t n = next_of[t];
        if (n == -1) {
            lasts++;
            continue;
        }
        chained &= n >= 0 && n < ntasks && pthread_equal(thread_of[t], thread_of[n]) && started[n] > started[t];
        if (n >= 0 && n < ntasks) predecessors[n]++;
    }
    for (int64_t t = 0; ahead && t < ntasks; t++) chained &= predecessors[t] <= 1, firsts += predecessors[t] == 0;
    CHECK(once, "%s, %lld tasks, serial %d, %d threads: not every task ran exactly once", ahead ? "ahead" : "plain",
          (long long)ntasks, serial, threads);
    if (ahead) check_slots(ntasks, slots, threads);
    if (ahead && ntasks > 0)
        CHECK(chained && lasts == firsts && lasts >= 1 && lasts <= threads && lasts <= slots,
              "ahead, %lld tasks, serial %d, %d threads: next is not each thread's following task "
              "(%d chains ended, %d began)", (long long)ntasks, serial, threads, lasts, firsts);
}

int main(void) {
    static const int threads[] = {1, 2, 3, 7};
    static const int64_t counts[] = {0, 1, 2, 5, 64, MAX_TASKS};
    for (size_t k = 0; k < sizeof threads / sizeof threads[0]; k++) {
        CHECK_OK(norma_set_num_threads(threads[k]));
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
            for (int serial = 0; serial < 2; serial++) {
                for (int ahead = 0; ahead < 2; ahead++) check_job(counts[c], serial, ahead, threads[k], threads[k]);
                for (int slots = 1; slots <= 3; slots++) check_job(counts[c], serial, true, threads[k], slots);
            }
    }
    /* serially the chain is the task order */
    check_job(10, true, true, 1, 1);
    int in_order = 1;
    for (int64_t t = 0; t < 10; t++) in_order &= next_of[t] == (t < 9 ? t + 1 : -1);
    CHECK(in_order, "serial ahead: next must be t + 1, then -1");
    CHECK(norma_l2_bytes() >= 4096, "norma_l2_bytes: %lld", (long long)norma_l2_bytes());
    return check_summary("test_parallel");
}
