/* conv2d.c: a convolution's three products, image by image, each image's im2col (or col2im)
 * done in a per-thread buffer that stays in L2, instead of the whole batch's cols written
 * to memory and read back by the GEMM (8.9 MB for the seeds' second conv layer at batch 64, and
 * as much again saved for the backward pass):
 *
 *   forward       out_i = W @ cols_i                  (out_c x L)
 *   input grad    gx_i  = col2im(W^T @ gy_i)
 *   weight grad   gw    = sum over i of gy_i @ cols_i^T   (out_c x K)
 *
 * with K = c kh kw, L = oh ow, W the weights as (out_c, K) and cols_i image i's im2col (K x L,
 * conv.c's layout). Threads take whole images, each product on one thread; with fewer images
 * than threads the images run in turn and each product uses the threads. The GEMM's arithmetic
 * does not depend on its thread count, so neither do these results: the weight gradient sums
 * the images in fixed groups of AG_CONV_DW_GROUP, each group's products accumulated in order
 * into its own buffer, then the groups added in order.
 */
#include "ag_conv.h"
#include "ag_spans.h"
#include "gemm_internal.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define AG_CONV_DW_GROUP 8

struct conv {
    struct geom g;
    int64_t out_c, k, l;  /* K = c kh kw, L = oh ow */
    size_t es;
    int f64;
    int threads;          /* for each product: 1 when threads take whole images */
    int input_grad;       /* per_image's products: the input gradient, not the forward pass */
};

/* Checks the geometry and out_c (returns a status); decides how the images are shared
 * (`units`: how many can run at once): *loop_threads for the image loop (1: images in turn). */
static int setup(struct conv *cv, int64_t out_c, size_t es, int64_t units, int *loop_threads,
                 AG_GEOM_PARAMS)
{
    if (out_c < 0)
        return AG_ERR_SIZE;
    const int status = make_geom(&cv->g, AG_GEOM_ARGS);
    if (status != AG_OK)
        return status;
    cv->out_c = out_c, cv->es = es, cv->f64 = es == sizeof(double), cv->input_grad = 0;
    cv->k = mul_checked(c, kh * kw);  /* kh * kw: checked by make_geom */
    cv->l = oh * ow;
    if (cv->k < 0 || mul_checked(mul_checked(n, out_c), cv->l) < 0 || mul_checked(out_c, cv->k) < 0 ||
        mul_checked(cv->k, cv->l) < 0)
        return AG_ERR_SIZE;
    const int threads = ag_get_num_threads();
    const double flops = 2.0 * (double)n * (double)out_c * (double)cv->k * (double)cv->l;
    /* from 2 MFLOP, the GEMM's own bar for threads (a fork and join costs a few us) */
    const int split = threads > 1 && units >= threads && flops >= (double)AG_CONV_PARALLEL_MIN * 64;
    cv->threads = split ? 1 : threads;
    *loop_threads = split ? threads : 1;
    return AG_OK;
}

/* One thread's share of a call: units [lo, hi) (images, or weight-gradient groups) from the
 * inputs a and b into out. Returns AG_OK or AG_ERR_NOMEM. */
typedef int (*share_fn)(const struct conv *cv, const char *a, const char *b, void *out,
                        int64_t lo, int64_t hi);

struct shares_task {
    share_fn fn;
    const struct conv *cv;
    const void *a, *b;
    void *out;
    int64_t units;
    _Atomic int failed;
};

/* Thread t's share of the units, static and in order. */
static void run_share(void *ctx, int t, int threads)
{
    struct shares_task *s = ctx;
    if (s->fn(s->cv, s->a, s->b, s->out, s->units * t / threads, s->units * (t + 1) / threads) != AG_OK)
        atomic_store(&s->failed, 1);
}

/* fn over `units` units: on this thread (threads 1), or shared out in order on `threads`. */
static int run_shares(share_fn fn, const struct conv *cv, const void *a, const void *b, void *out,
                      int64_t units, int threads)
{
    if (threads == 1)
        return fn(cv, a, b, out, 0, units);
    struct shares_task task = {fn, cv, a, b, out, units, 0};
    ag_parallel(run_share, &task, threads);
    return atomic_load(&task.failed) ? AG_ERR_NOMEM : AG_OK;
}

static char *image_of(const void *base, int64_t i, int64_t per_image, size_t es)
{
    return (char *)base + (size_t)(i * per_image) * es;
}

/* One image's planes through conv.c's plane function fn, one call per channel: im2col (x into
 * cols, K x L) or col2im (cols into x). */
static void image_planes(plane_fn fn, int to_cols, const struct conv *cv, const char *x, char *cols)
{
    const struct geom *g = &cv->g;
    for (int64_t ci = 0; ci < g->c; ci++) {
        char *plane = image_of(x, ci, g->h * g->w, cv->es);
        char *rows = image_of(cols, ci, g->kh * g->kw * cv->l, cv->es);
        void *const buf[3] = {to_cols ? plane : rows, NULL, to_cols ? rows : plane};
        fn(buf, g);
    }
}

/* Images [i0, i1) of the forward pass (a = x, out = the output: im2col into cols, then
 * W @ cols) or of the input gradient (a = gy, out = gx: W^T @ gy_i into cols, then col2im), with
 * W (or W^T) packed once for all of them. */
static int image_products(const struct conv *cv, const char *a, const char *wt, void *out,
                          int64_t i0, int64_t i1)
{
    const struct geom *g = &cv->g;
    const int grad = cv->input_grad;
    const plane_fn planes = grad ? ag_col2im_plane(cv->f64) : ag_im2col_plane(cv->f64);
    const int64_t x_size = g->c * g->h * g->w, y_size = cv->out_c * cv->l;
    char *cols = malloc((size_t)(cv->k * cv->l) * cv->es);
    struct ag_gemm_keep keep = {NULL, 0, 0};
    int status = cols ? AG_OK : AG_ERR_NOMEM;
    for (int64_t i = i0; i < i1 && status == AG_OK; i++) {
        if (grad) {
            status = ag_gemm_trusted(1, 0, cv->k, cv->l, cv->out_c, wt, cv->k,
                                     image_of(a, i, y_size, cv->es), cv->l, 0, cols, cv->l,
                                     cv->es, cv->threads, &keep);
            if (status == AG_OK)
                image_planes(planes, 0, cv, image_of(out, i, x_size, cv->es), cols);
        } else {
            image_planes(planes, 1, cv, image_of(a, i, x_size, cv->es), cols);
            status = ag_gemm_trusted(0, 0, cv->out_c, cv->l, cv->k, wt, cv->k, cols, cv->l, 0,
                                     image_of(out, i, y_size, cv->es), cv->l, cv->es,
                                     cv->threads, &keep);
        }
    }
    free(cols);
    ag_gemm_keep_free(&keep);
    return status;
}

/* The forward pass (a = x, out = the output) or the input gradient (a = gy, out = gx): images
 * shared out; an empty sum (no input channels for the forward, no output channels for the
 * input gradient) is a zero fill. */
static int per_image(int input_grad, const void *a, const void *wt, void *out, int64_t out_c,
                     size_t es, AG_GEOM_PARAMS)
{
    struct conv cv;
    int threads;
    const int status = setup(&cv, out_c, es, n, &threads, AG_GEOM_ARGS);
    if (status != AG_OK)
        return status;
    cv.input_grad = input_grad;
    const int64_t size = input_grad ? n * c * h * w : n * out_c * cv.l;
    const int64_t terms = input_grad ? out_c : cv.k;
    if (size == 0)
        return AG_OK;
    if (!out || (terms && (!a || !wt)))
        return AG_ERR_NULL;
    if (terms == 0) {
        memset(out, 0, (size_t)size * es);
        return AG_OK;
    }
    return run_shares(image_products, &cv, a, wt, out, n, threads);
}

/* Groups [q0, q1) of the weight gradient: group q's images accumulated in order into sums[q]. */
static int weight_grad_groups(const struct conv *cv, const char *x, const char *gy, void *out,
                              int64_t q0, int64_t q1)
{
    char *const *sums = out;
    const struct geom *g = &cv->g;
    const plane_fn im2col = ag_im2col_plane(cv->f64);
    char *cols = malloc((size_t)(cv->k * cv->l) * cv->es);
    int status = cols ? AG_OK : AG_ERR_NOMEM;
    for (int64_t q = q0; q < q1 && status == AG_OK; q++) {
        const int64_t first = q * AG_CONV_DW_GROUP;
        const int64_t end = first + AG_CONV_DW_GROUP < g->n ? first + AG_CONV_DW_GROUP : g->n;
        for (int64_t i = first; i < end && status == AG_OK; i++) {
            image_planes(im2col, 1, cv, image_of(x, i, g->c * g->h * g->w, cv->es), cols);
            status = ag_gemm_trusted(0, 1, cv->out_c, cv->k, cv->l,
                                     image_of(gy, i, cv->out_c * cv->l, cv->es), cv->l, cols,
                                     cv->l, i > first, sums[q], cv->k, cv->es, cv->threads, NULL);
        }
    }
    free(cols);
    return status;
}

static int weight_grad(const void *x, const void *gy, void *gw, int64_t out_c, size_t es,
                       AG_GEOM_PARAMS)
{
    struct conv cv;
    const int64_t groups = (n + AG_CONV_DW_GROUP - 1) / AG_CONV_DW_GROUP;
    int threads;
    const int status = setup(&cv, out_c, es, groups, &threads, AG_GEOM_ARGS);
    if (status != AG_OK)
        return status;
    const int64_t size = out_c * cv.k;
    if (size == 0)
        return AG_OK;
    if (!gw || (n && (!x || !gy)))
        return AG_ERR_NULL;
    if (n == 0) {  /* no images: an empty sum */
        memset(gw, 0, (size_t)size * es);
        return AG_OK;
    }
    /* group 0 sums straight into gw, the others into a buffer each */
    char *extra = groups > 1 ? malloc((size_t)((groups - 1) * size) * es) : NULL;
    char **sums = malloc((size_t)groups * sizeof *sums);
    if (!sums || (groups > 1 && !extra)) {
        free(extra);
        free(sums);
        return AG_ERR_NOMEM;
    }
    sums[0] = gw;
    for (int64_t q = 1; q < groups; q++)
        sums[q] = image_of(extra, q - 1, size, es);
    const int failed = run_shares(weight_grad_groups, &cv, x, gy, sums, groups, threads) != AG_OK;
    for (int64_t q = 1; q < groups && !failed; q++) {  /* gw = ((s0 + s1) + s2) + ... */
        if (cv.f64) {
            double *restrict d = gw;
            const double *restrict s = (const double *)sums[q];
            for (int64_t j = 0; j < size; j++)
                d[j] += s[j];
        } else {
            float *restrict d = gw;
            const float *restrict s = (const float *)sums[q];
            for (int64_t j = 0; j < size; j++)
                d[j] += s[j];
        }
    }
    free(extra);
    free(sums);
    return failed ? AG_ERR_NOMEM : AG_OK;
}

/* ------------------------------------------------------------------ exports */

int ag_conv2d_f32(const float *x, const float *wt, float *out, AG_GEOM_PARAMS, int64_t out_c)
{
    return per_image(0, x, wt, out, out_c, sizeof(float), AG_GEOM_ARGS);
}
int ag_conv2d_f64(const double *x, const double *wt, double *out, AG_GEOM_PARAMS, int64_t out_c)
{
    return per_image(0, x, wt, out, out_c, sizeof(double), AG_GEOM_ARGS);
}
int ag_conv2d_grad_input_f32(const float *gy, const float *wt, float *gx, AG_GEOM_PARAMS,
                             int64_t out_c)
{
    return per_image(1, gy, wt, gx, out_c, sizeof(float), AG_GEOM_ARGS);
}
int ag_conv2d_grad_input_f64(const double *gy, const double *wt, double *gx, AG_GEOM_PARAMS,
                             int64_t out_c)
{
    return per_image(1, gy, wt, gx, out_c, sizeof(double), AG_GEOM_ARGS);
}
int ag_conv2d_grad_weight_f32(const float *x, const float *gy, float *gw, AG_GEOM_PARAMS,
                              int64_t out_c)
{
    return weight_grad(x, gy, gw, out_c, sizeof(float), AG_GEOM_ARGS);
}
int ag_conv2d_grad_weight_f64(const double *x, const double *gy, double *gw, AG_GEOM_PARAMS,
                              int64_t out_c)
{
    return weight_grad(x, gy, gw, out_c, sizeof(double), AG_GEOM_ARGS);
}
