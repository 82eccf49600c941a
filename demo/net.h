/* net.h: the demo's CNN, on NHWC float tensors, with norma's norms:
 *
 *   input (N, S, S, 1)
 *   block 1..3:  conv 3x3 -> norm -> ReLU -> pool      (2x2 max pool after blocks 1 and 2: S -> S/2 -> S/4;
 *                                                       global average pool after block 3, as ResNet's head)
 *   linear (C3 -> classes), softmax cross-entropy
 *
 * The norm is one of none, BatchNorm, GroupNorm, LayerNorm (over each sample's H, W, C, with an
 * elementwise affine, as torch.nn.LayerNorm([C, H, W])) or InstanceNorm (with affine), channels-last.
 * Convolutions run on OpenBLAS (conv.h); every norm's forward and backward is norma's. */
#ifndef NORMA_DEMO_NET_H
#define NORMA_DEMO_NET_H

#include <stdint.h>

typedef enum { NORM_NONE, NORM_BATCH, NORM_GROUP, NORM_LAYER, NORM_INSTANCE, NORM_KINDS } norm_kind;

const char *norm_name(norm_kind k);         /* "none", "batch", "group", "layer", "instance" */
int norm_parse(const char *name, norm_kind *k); /* 0, or -1 for an unknown name */

typedef struct net_config {
    norm_kind norm;
    int width[3];  /* channels of the three blocks */
    int groups;    /* GroupNorm's groups (each width must be divisible by it) */
    int image;     /* side of the square input; divisible by 4 */
    int classes;
    int max_batch; /* largest batch any call will pass */
    uint64_t seed; /* of the initial weights */
} net_config;

typedef struct net net;

/* NULL if the configuration is invalid or memory runs out (a message on stderr). */
net *net_create(const net_config *cfg);
void net_free(net *n);

/* Forward on a batch of N <= max_batch images (N·image² floats): the mean cross-entropy against
 * labels. training: BatchNorm uses (and updates the running statistics from) the batch, and the
 * pass keeps what net_backward needs; otherwise BatchNorm uses its running statistics. logits (if
 * not NULL) receives N·classes floats. */
double net_forward(net *n, int N, const float *images, const uint8_t *labels, int training, float *logits);

/* Gradients of the last training forward's loss, into every parameter's grad (overwritten). */
void net_backward(net *n);

/* SGD with momentum; weight decay on the conv and linear weights only (not on biases or norms). */
void net_sgd(net *n, float lr, float momentum, float weight_decay);

/* The parameters, for gradient checks: up to `max` of them; returns how many there are. */
typedef struct net_param {
    const char *name;
    float *value, *grad;
    int64_t size;
} net_param;
int net_params(net *n, net_param *out, int max);

#endif /* NORMA_DEMO_NET_H */
