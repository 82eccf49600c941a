/* plot.c: a small SVG line chart. */
#include "plot.h"

#include <math.h>
#include <stdio.h>

static const char *const colors[] = {"#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"};

int plot_error_vs_batch(const char *path, const int *batches, int npoints, const plot_series *series, int nseries) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const double W = 640, H = 420, left = 70, right = 150, top = 40, bottom = 60;
    const double pw = W - left - right, ph = H - top - bottom;
    /* y from a multiple of 5 below the lowest error to one above the highest */
    double ymin = INFINITY, ymax = -INFINITY;
    for (int s = 0; s < nseries; s++)
        for (int i = 0; i < npoints; i++) ymin = fmin(ymin, series[s].y[i]), ymax = fmax(ymax, series[s].y[i]);
    ymin = fmax(0.0, floor((ymin - 0.5) / 5.0) * 5.0), ymax = fmax(ymin + 5.0, ceil((ymax + 0.5) / 5.0) * 5.0);
    double step = ymax - ymin <= 30 ? 5 : 10;
#define X(i) (left + (npoints > 1 ? pw * (i) / (npoints - 1) : pw / 2))
#define Y(v) (top + ph * (1.0 - ((v) - ymin) / (ymax - ymin)))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
               "font-size=\"13\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">Fashion-MNIST test error vs batch "
               "size (norma)</text>\n", left + pw / 2);
    for (double v = ymin; v <= ymax + 1e-9; v += step) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, Y(v), left + pw, Y(v));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.0f</text>\n", left - 8, Y(v) + 4, v);
    }
    for (int i = 0; i < npoints; i++)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", X(i), top + ph + 20, batches[i]);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"black\"/>\n", left, top,
            pw, ph);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">batch size (images per step)</text>\n", left + pw / 2,
            H - 15);
    fprintf(f, "<text transform=\"translate(20 %.1f) rotate(-90)\" text-anchor=\"middle\">test error (%%)</text>\n",
            top + ph / 2);
    for (int s = 0; s < nseries; s++) {
        const char *c = colors[s % 6];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", c);
        for (int i = 0; i < npoints; i++) fprintf(f, "%.1f,%.1f ", X(i), Y(series[s].y[i]));
        fprintf(f, "\"/>\n");
        for (int i = 0; i < npoints; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n", X(i), Y(series[s].y[i]), c);
        double ly = top + 10 + 22 * s;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                left + pw + 15, ly, left + pw + 40, ly, c);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", left + pw + 46, ly + 4, series[s].name);
    }
    fprintf(f, "</svg>\n");
#undef X
#undef Y
    return fclose(f) == 0 ? 0 : -1;
}
