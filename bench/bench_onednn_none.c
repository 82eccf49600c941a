/* Built when oneDNN is not found: no peer to compare with. */
#include "bench.h"

int bench_onednn_available(void) { return 0; }
double bench_onednn_time(bench_case *c, int reps) {
    (void)c, (void)reps;
    return 0.0;
}
