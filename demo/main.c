/* norma-demo: trains a small CNN on Fashion-MNIST once per norm and batch size, with norma's norms,
 * and shows the Group Normalization paper's result (Wu & He 2018, Figure 1): BatchNorm's error grows
 * as the batch shrinks; GroupNorm, LayerNorm and InstanceNorm do not depend on the batch.
 *
 *   build/norma-demo [--quick] [--full] [--epochs E] [--train N] [--test N] [--norms a,b,...]
 *                    [--batches 32,16,...] [--lr LR] [--seed S] [--data DIR] [--plot FILE.svg]
 *
 * Every run starts from the same initial weights (per norm) and sees the same images in the same
 * order; the learning rate is LR·batch/32 (the linear scaling rule), dropped tenfold for the last
 * quarter of the steps; SGD with momentum 0.9 and weight decay 5e-4. BatchNorm is evaluated with its
 * running statistics, as in the paper. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>
#include <pthread.h>

#include "idx.h"
#include "net.h"
#include "norma.h"
#include "plot.h"

#define DEFAULT_DATA "/usr/share/datasets/fashion-mnist"
#define SIDE 28
#define PIXELS (SIDE * SIDE)
#define CLASSES 10
#define EVAL_BATCH 250
#define MAX_RUNS 8

typedef struct options {
    const char *data, *plot;
    int epochs, train, test, seed, jobs;
    double lr;
    int norms[NORM_KINDS], nnorms;
    int batches[MAX_RUNS], nbatches;
} options;

typedef struct dataset {
    float *images; /* n·784, normalized */
    uint8_t *labels;
    int n;
} dataset;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ----- options -------------------------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: norma-demo [options]\n"
            "  --quick           a short run (under a minute): 1 epoch over 4000 training images, 1000 test images\n"
            "  --full            the whole dataset: 60000 training images, 10000 test images\n"
            "  --epochs E        passes over the training images (default 2)\n"
            "  --train N         training images (default 12000)\n"
            "  --test N          test images (default 2000)\n"
            "  --norms LIST      of none,batch,group,layer,instance (default: all)\n"
            "  --batches LIST    batch sizes (default 32,16,8,4,2)\n"
            "  --lr LR           learning rate at batch 32 (default 0.05)\n"
            "  --seed S          initial weights and data order (default 1)\n"
            "  --jobs J          runs trained at once, one thread each (default: the number of CPUs)\n"
            "  --data DIR        the Fashion-MNIST IDX files (default " DEFAULT_DATA ")\n"
            "  --plot FILE       the plot of test error against batch size (default norma-demo.svg)\n");
}

static int parse_list(const char *s, int *out, int max, int is_norm) {
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (n == max) return -1;
        if (is_norm) {
            norm_kind k;
            if (norm_parse(tok, &k)) return -1;
            out[n++] = (int)k;
        } else {
            char *end;
            long v = strtol(tok, &end, 10);
            if (*end || v < 1 || v > EVAL_BATCH) return -1;
            out[n++] = (int)v;
        }
    }
    return n;
}

#define VALUE_OPTIONS "--epochs --train --test --lr --seed --jobs --data --plot --norms --batches"

static int parse_options(int argc, char **argv, options *o) {
    *o = (options){.data = DEFAULT_DATA, .plot = "norma-demo.svg", .epochs = 2, .train = 12000, .test = 2000,
                   .seed = 1, .jobs = (int)sysconf(_SC_NPROCESSORS_ONLN), .lr = 0.05, .nnorms = NORM_KINDS,
                   .batches = {32, 16, 8, 4, 2}, .nbatches = 5};
    for (int k = 0; k < NORM_KINDS; k++) o->norms[k] = k;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int used = 1;
        if (!strcmp(a, "--quick")) o->epochs = 1, o->train = 4000, o->test = 1000, used = 0;
        else if (!strcmp(a, "--full")) o->train = 60000, o->test = 10000, used = 0;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) return usage(stdout), 1;
        else if (strncmp(a, "--", 2) || !strstr(VALUE_OPTIONS, a))
            return fprintf(stderr, "norma-demo: unknown option %s\n", a), usage(stderr), -1;
        else if (!v) return fprintf(stderr, "norma-demo: %s needs a value\n", a), usage(stderr), -1;
        else if (!strcmp(a, "--epochs")) o->epochs = atoi(v);
        else if (!strcmp(a, "--train")) o->train = atoi(v);
        else if (!strcmp(a, "--test")) o->test = atoi(v);
        else if (!strcmp(a, "--lr")) o->lr = atof(v);
        else if (!strcmp(a, "--seed")) o->seed = atoi(v);
        else if (!strcmp(a, "--jobs")) o->jobs = atoi(v);
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--plot")) o->plot = v;
        else if (!strcmp(a, "--norms")) {
            if ((o->nnorms = parse_list(v, o->norms, NORM_KINDS, 1)) < 1)
                return fprintf(stderr, "norma-demo: bad --norms %s\n", v), -1;
        } else if (!strcmp(a, "--batches")) {
            if ((o->nbatches = parse_list(v, o->batches, MAX_RUNS, 0)) < 1)
                return fprintf(stderr, "norma-demo: bad --batches %s (sizes 1..%d, at most %d)\n", v, EVAL_BATCH,
                               MAX_RUNS), -1;
        } else return fprintf(stderr, "norma-demo: unknown option %s\n", a), usage(stderr), -1;
        i += used;
    }
    if (o->epochs < 1 || o->train < 1 || o->test < 1 || o->jobs < 1 || !(o->lr > 0))
        return fprintf(stderr, "norma-demo: --epochs, --train, --test, --jobs and --lr must be positive\n"), -1;
    return 0;
}

/* ----- data ----------------------------------------------------------------------------------- */

/* Fashion-MNIST's pixel mean and standard deviation (of the training set, on [0, 1]). */
#define PIXEL_MEAN 0.2860f
#define PIXEL_STD 0.3530f

static int load_split(const char *dir, const char *split, int limit, dataset *d) {
    char images[1024], labels[1024], err[1200];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, split);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, split);
    if (access(images, R_OK) || access(labels, R_OK)) {
        fprintf(stderr,
                "norma-demo: Fashion-MNIST not found: %s is missing.\n"
                "  On Debian: apt-get install dataset-fashion-mnist  (puts the files in " DEFAULT_DATA ")\n"
                "  Or download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz\n"
                "  and t10k-labels-idx1-ubyte.gz from https://github.com/zalandoresearch/fashion-mnist and pass\n"
                "  --data DIR.\n", access(images, R_OK) ? images : labels);
        return -1;
    }
    idx_array im, lb;
    if (idx_read(images, &im, err, sizeof err)) return fprintf(stderr, "norma-demo: %s\n", err), -1;
    if (idx_read(labels, &lb, err, sizeof err)) return idx_free(&im), fprintf(stderr, "norma-demo: %s\n", err), -1;
    int ok = im.ndim == 3 && im.dims[1] == SIDE && im.dims[2] == SIDE && lb.ndim == 1 && lb.dims[0] == im.dims[0];
    if (!ok) {
        fprintf(stderr, "norma-demo: %s and %s are not %d x %d images with one label each\n", images, labels, SIDE, SIDE);
        idx_free(&im), idx_free(&lb);
        return -1;
    }
    d->n = (int)(im.dims[0] < limit ? im.dims[0] : limit);
    d->images = malloc((size_t)d->n * PIXELS * sizeof(float));
    d->labels = malloc((size_t)d->n);
    for (int64_t i = 0; i < (int64_t)d->n * PIXELS; i++) d->images[i] = (im.data[i] / 255.0f - PIXEL_MEAN) / PIXEL_STD;
    for (int i = 0; i < d->n; i++) d->labels[i] = lb.data[i] < CLASSES ? lb.data[i] : 0;
    idx_free(&im), idx_free(&lb);
    return 0;
}

/* ----- one run -------------------------------------------------------------------------------- */

/* One (norm, batch size) experiment; its worker updates steps_done as it goes. */
typedef struct run {
    norm_kind norm;
    int batch, steps;
    _Atomic int steps_done;
    double accuracy, seconds;
} run;

static void shuffle(int *order, int n, uint64_t *state) {
    for (int i = n - 1; i > 0; i--) {
        *state = *state * 6364136223846793005u + 1442695040888963407u;
        int j = (int)((*state >> 33) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

/* Test accuracy, in batches of EVAL_BATCH, inference mode. */
static double evaluate(net *nt, const dataset *test) {
    float logits[EVAL_BATCH * CLASSES];
    int correct = 0;
    for (int i0 = 0; i0 < test->n; i0 += EVAL_BATCH) {
        int n = test->n - i0 < EVAL_BATCH ? test->n - i0 : EVAL_BATCH;
        net_forward(nt, n, test->images + (int64_t)i0 * PIXELS, NULL, 0, logits);
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int k = 1; k < CLASSES; k++)
                if (logits[i * CLASSES + k] > logits[i * CLASSES + best]) best = k;
            correct += best == test->labels[i0 + i];
        }
    }
    return (double)correct / test->n;
}

/* Trains a fresh network (the same initial weights for every batch size) and tests it. */
static void train_and_test(const options *o, run *r, const dataset *train, const dataset *test) {
    net_config cfg = {.norm = r->norm, .width = {24, 48, 48}, .groups = 4, .image = SIDE, .classes = CLASSES,
                      .max_batch = EVAL_BATCH, .seed = (uint64_t)o->seed};
    net *nt = net_create(&cfg);
    if (!nt) exit(1);
    int batch = r->batch, per_epoch = train->n / batch;
    float *x = malloc((size_t)batch * PIXELS * sizeof(float));
    uint8_t *y = malloc((size_t)batch);
    int *order = malloc((size_t)train->n * sizeof(int));
    for (int i = 0; i < train->n; i++) order[i] = i;
    uint64_t rng = 0x853c49e6748fea9bu ^ (uint64_t)o->seed; /* the same image order for every run */
    double t0 = now();
    for (int e = 0, step = 0; e < o->epochs; e++) {
        shuffle(order, train->n, &rng);
        for (int s = 0; s < per_epoch; s++, step++) {
            for (int i = 0; i < batch; i++) {
                int k = order[s * batch + i];
                memcpy(x + (int64_t)i * PIXELS, train->images + (int64_t)k * PIXELS, PIXELS * sizeof(float));
                y[i] = train->labels[k];
            }
            net_forward(nt, batch, x, y, 1, NULL);
            net_backward(nt);
            double lr = o->lr * batch / 32.0 * (step < r->steps * 3 / 4 ? 1.0 : 0.1);
            net_sgd(nt, (float)lr, 0.9f, 5e-4f);
            r->steps_done = step + 1;
        }
    }
    r->accuracy = evaluate(nt, test);
    r->seconds = now() - t0;
    free(x), free(y), free(order);
    net_free(nt);
}

/* ----- the runs, on parallel workers ------------------------------------------------------------ */

/* The runs are independent: each worker takes the next one and runs it on one thread (norma and
 * OpenBLAS both single-threaded), which keeps two cores busier than splitting these small layers. */
typedef struct pool {
    const options *o;
    const dataset *train, *test;
    run *runs;
    int nruns, next, finished;
    int *order; /* runs in the order they finished */
    pthread_mutex_t lock;
    pthread_cond_t done;
} pool;

static void *worker(void *arg) {
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        int i = p->next < p->nruns ? p->next++ : -1;
        pthread_mutex_unlock(&p->lock);
        if (i < 0) return NULL;
        train_and_test(p->o, &p->runs[i], p->train, p->test);
        pthread_mutex_lock(&p->lock);
        p->order[p->finished++] = i;
        pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->lock);
    }
}

/* The progress bar over all runs: redrawn in place on a terminal; in a log,
 * printed with each finished run. */
static void draw_bar(const pool *p, int finished, int tty) {
    long done = 0, total = 0; /* images trained on: the work, whatever the batch size */
    for (int i = 0; i < p->nruns; i++)
        done += (long)p->runs[i].steps_done * p->runs[i].batch, total += (long)p->runs[i].steps * p->runs[i].batch;
    int width = 30, fill = (int)(width * done / (total ? total : 1));
    printf("%s[", tty ? "\r  training " : "  ");
    for (int i = 0; i < width; i++) putchar(i < fill ? '#' : '.');
    printf("] %3ld%%  %2d/%d runs", 100 * done / (total ? total : 1), finished, p->nruns);
}

static void run_all(const options *o, run *runs, int nruns, const dataset *train, const dataset *test, int jobs) {
    pool p = {.o = o, .train = train, .test = test, .runs = runs, .nruns = nruns, .order = calloc((size_t)nruns, sizeof(int))};
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.done, NULL);
    pthread_t threads[16];
    if (jobs > 16) jobs = 16;
    for (int j = 0; j < jobs; j++) pthread_create(&threads[j], NULL, worker, &p);
    int tty = isatty(1), shown = 0;
    pthread_mutex_lock(&p.lock);
    while (shown < nruns) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&p.done, &p.lock, &until);
        for (; shown < p.finished; shown++) {
            const run *r = &runs[p.order[shown]];
            if (tty) printf("\r%*s\r", 72, "");
            else draw_bar(&p, shown + 1, 0);
            printf("  %-8s batch %2d: test accuracy %5.2f%%  (%d steps, %.1f s)\n", norm_name(r->norm), r->batch,
                   100.0 * r->accuracy, r->steps, r->seconds);
        }
        if (tty) draw_bar(&p, shown, 1);
        fflush(stdout);
    }
    pthread_mutex_unlock(&p.lock);
    if (tty) printf("\r%*s\r", 72, "");
    for (int j = 0; j < jobs; j++) pthread_join(threads[j], NULL);
    free(p.order);
}

/* ----- report --------------------------------------------------------------------------------- */

static void print_table(const options *o, double acc[NORM_KINDS][MAX_RUNS]) {
    printf("\nTest accuracy (%%) on %d Fashion-MNIST test images, after %d epoch%s over %d training images:\n\n",
           o->test, o->epochs, o->epochs > 1 ? "s" : "", o->train);
    printf("| norm \\ batch |");
    for (int b = 0; b < o->nbatches; b++) printf(" %5d |", o->batches[b]);
    printf("\n|---|");
    for (int b = 0; b < o->nbatches; b++) printf("---:|");
    printf("\n");
    for (int i = 0; i < o->nnorms; i++) {
        printf("| %-12s |", norm_name((norm_kind)o->norms[i]));
        for (int b = 0; b < o->nbatches; b++) printf(" %5.2f |", 100.0 * acc[i][b]);
        printf("\n");
    }
}

int main(int argc, char **argv) {
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc) return rc < 0 ? 2 : 0;
    dataset train, test;
    if (load_split(o.data, "train", o.train, &train) || load_split(o.data, "t10k", o.test, &test)) return 1;
    o.train = train.n, o.test = test.n;
    printf("norma-demo: a 3-block CNN (conv 3x3 -> norm -> ReLU -> pool; 24, 48, 48 channels; GroupNorm with 4 "
           "groups)\non Fashion-MNIST: %d training and %d test images, %d epoch%s; norma %s (%s kernels); %d runs "
           "at a time\n\n", train.n, test.n, o.epochs, o.epochs > 1 ? "s" : "", norma_version(), norma_kernels(), o.jobs);
    fflush(stdout);
    run runs[NORM_KINDS * MAX_RUNS];
    int nruns = 0;
    for (int i = 0; i < o.nnorms; i++)
        for (int b = 0; b < o.nbatches; b++)
            runs[nruns++] = (run){.norm = (norm_kind)o.norms[i], .batch = o.batches[b],
                                  .steps = train.n / o.batches[b] * o.epochs};
    /* one thread per run: norma and OpenBLAS each on the calling thread */
    norma_set_num_threads(1);
    openblas_set_num_threads(1);
    double t0 = now();
    run_all(&o, runs, nruns, &train, &test, o.jobs);
    double acc[NORM_KINDS][MAX_RUNS];
    for (int i = 0; i < o.nnorms; i++)
        for (int b = 0; b < o.nbatches; b++) acc[i][b] = runs[i * o.nbatches + b].accuracy;
    print_table(&o, acc);
    plot_series series[NORM_KINDS];
    for (int i = 0; i < o.nnorms; i++) {
        series[i].name = norm_name((norm_kind)o.norms[i]);
        for (int b = 0; b < o.nbatches; b++) series[i].y[b] = 100.0 * (1.0 - acc[i][b]);
    }
    if (plot_error_vs_batch(o.plot, o.batches, o.nbatches, series, o.nnorms) == 0)
        printf("\nplot of test error against batch size: %s\n", o.plot);
    else
        fprintf(stderr, "norma-demo: cannot write %s\n", o.plot);
    printf("total time %.0f s\n", now() - t0);
    free(train.images), free(train.labels), free(test.images), free(test.labels);
    return 0;
}
