/* conv.h: 3x3 convolution, stride 1, zero padding 1, on NHWC float tensors, as im2col + sgemm.
 *
 * Weights are (Cout, 3, 3, Cin) row-major: w[co][(ky·3 + kx)·Cin + ci], bias Cout. `cols` is scratch
 * of N·H·W·9·Cin floats: row p (an output pixel) holds the 3x3xCin input patch around it, so
 *   forward:   y (NHW x Cout) = cols (NHW x 9Cin) · wᵀ (9Cin x Cout) + b
 *   backward:  dw = dyᵀ · cols,  db = Σ dy,  dcols = dy · w,  dx = col2im(dcols)
 * and the output is NHWC, the channels-last layout norma's channel norms take directly. */
#ifndef NORMA_DEMO_CONV_H
#define NORMA_DEMO_CONV_H

#include <stdint.h>

typedef struct conv_shape {
    int n, h, w, cin, cout;
} conv_shape;

/* y = conv(x) + b; leaves the patches of x in cols for the backward. */
void conv3x3_forward(conv_shape s, const float *x, const float *w, const float *b, float *cols, float *y);

/* From dy and the cols of the forward: dw, db (overwritten), and dx if not NULL (dcols: scratch of
 * the size of cols, needed only for dx). */
void conv3x3_backward(conv_shape s, const float *dy, const float *cols, const float *w, float *dw, float *db,
                      float *dcols, float *dx);

#endif /* NORMA_DEMO_CONV_H */
