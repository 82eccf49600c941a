/* plot.h: the demo's figure, test error against batch size per norm (as Figure 1 of the Group
 * Normalization paper), as a standalone SVG file. */
#ifndef NORMA_DEMO_PLOT_H
#define NORMA_DEMO_PLOT_H

#define PLOT_MAX_POINTS 8

typedef struct plot_series {
    const char *name;
    double y[PLOT_MAX_POINTS]; /* test error in percent, one per batch size */
} plot_series;

/* Batch sizes along x in the order given (evenly spaced: they halve), error along y. 0 or -1. */
int plot_error_vs_batch(const char *path, const int *batches, int npoints, const plot_series *series, int nseries);

#endif /* NORMA_DEMO_PLOT_H */
