/* Normalizes one row with the installed norma and checks the result. */
#include <math.h>
#include <stdio.h>

#include <norma.h>

int main(void) {
    float x[4] = {1, 2, 3, 4}, y[4];
    if (norma_layer_norm_fwd(NORMA_F32, 1, 4, x, NULL, NULL, 0.0f, y, NULL, NULL) != NORMA_OK) {
        fprintf(stderr, "norma failed: %s\n", norma_last_error());
        return 1;
    }
    /* mean 2.5, variance 1.25 */
    for (int i = 0; i < 4; i++)
        if (fabsf(y[i] - (x[i] - 2.5f) / sqrtf(1.25f)) > 1e-6f) {
            fprintf(stderr, "wrong result y[%d] = %g\n", i, (double)y[i]);
            return 1;
        }
    printf("norma %s from the installed copy: ok\n", norma_version());
    return 0;
}
