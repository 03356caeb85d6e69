/* losses.c: fused softmax cross-entropy, binary cross-entropy with logits and MSE.
 *
 * Softmax cross-entropy works on rows of `classes` logits (the Python side moves the class
 * axis last). Per row, with m = max x, d = x - m, L = log sum e^d:
 *   class target t:       loss = L - (1 - eps) d_t - eps/C sum d
 *   probability target p: loss = L S - ((1 - eps) sum p d + eps/C sum d),  S = (1 - eps) sum p + eps
 * Every term is >= 0 for valid targets, so nothing cancels even for logits of +-1e4. The
 * forward saves (m, L) per row and the backward recomputes the softmax as e^((x - m) - L)
 * (m + L rounded to float32 would cost the softmax its precision at |x| ~ 1e4), in one sweep:
 *   grad = s (S e^(d - L) - (1 - eps) p - eps/C),   and  -= s (1 - eps) at the class t,
 * s being the row's upstream scale (0 for a row whose class is ignore_index). Asked to, the
 * forward writes that gradient too, for an upstream gradient of 1 of the mean or the sum (the
 * loss.backward() of a training step): from the (m, L) it saves, rounded as saved, by the
 * backward's own row code (xent_grad_row), so the bits are the backward's.
 * Per-row work is vectorised (AVX-512, AVX2 + FMA in losses_simd.c, portable C here: three row
 * primitives each, see ag_xent.h) and rows are split statically across threads: each row's
 * result is independent of the thread count. Class indices are checked before any work: out of range (and not ignore_index) gives
 * AG_ERR_ARG, so no index can make the kernel read outside a row.
 */
#include "ag_spans.h"
#include "ag_xent.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Below this many logits one thread does the work (a fork/join costs ~1-2 us). */
#define AG_LOSS_PARALLEL_MIN (1 << 14)

/* ------------------------------------------------------------------ portable C */

static double portable_max_f32(const void *px, int64_t n)
{
    const float *x = px;
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] > m || x[i] != x[i] ? x[i] : m;
    return m;
}

static double portable_max_f64(const void *px, int64_t n)
{
    const double *x = px;
    double m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] > m || x[i] != x[i] ? x[i] : m;
    return m;
}

static struct row_sums portable_sums_f32(const void *px, const void *pp, int64_t n, double m)
{
    const float *x = px, *p = pp;
    const float mf = (float)m;
    float e = 0, d = 0, pd = 0, ps = 0;
    for (int64_t i = 0; i < n; i++) {
        float di = x[i] - mf;
        e += expf(di);
        d += di;
        if (p) {
            pd += p[i] * di;
            ps += p[i];
        }
    }
    return (struct row_sums){e, d, pd, ps};
}

static struct row_sums portable_sums_f64(const void *px, const void *pp, int64_t n, double m)
{
    const double *x = px, *p = pp;
    double e = 0, d = 0, pd = 0, ps = 0;
    for (int64_t i = 0; i < n; i++) {
        double di = x[i] - m;
        e += exp(di);
        d += di;
        if (p) {
            pd += p[i] * di;
            ps += p[i];
        }
    }
    return (struct row_sums){e, d, pd, ps};
}

static void portable_grad_f32(const void *px, const void *pp, int64_t n, double m, double L,
                              double a, double b, double k, void *pout)
{
    const float *x = px, *p = pp;
    float *out = pout;
    const float mf = (float)m, lf = (float)L, af = (float)a, bf = (float)b, kf = (float)k;
    for (int64_t i = 0; i < n; i++)
        out[i] = af * expf((x[i] - mf) - lf) - (p ? bf * p[i] : 0.0f) - kf;
}

static void portable_grad_f64(const void *px, const void *pp, int64_t n, double m, double L,
                              double a, double b, double k, void *pout)
{
    const double *x = px, *p = pp;
    double *out = pout;
    for (int64_t i = 0; i < n; i++)
        out[i] = a * exp((x[i] - m) - L) - (p ? b * p[i] : 0.0) - k;
}

/* ------------------------------------------------------------------ driver */

static struct row_kernels pick(int is_f64)
{
#ifdef AG_SIMD_X86
    if (ag_isa() == AG_ISA_AVX512)
        return ag_xent_rows_avx512[is_f64];
    if (ag_isa() == AG_ISA_AVX2)
        return ag_xent_rows_avx2[is_f64];
#endif
    return is_f64 ? (struct row_kernels){portable_max_f64, portable_sums_f64, portable_grad_f64}
                  : (struct row_kernels){portable_max_f32, portable_sums_f32, portable_grad_f32};
}

static int check_rows(int64_t rows, int64_t classes, size_t elsize)
{
    if (rows < 0 || classes < 0 || (classes && (uint64_t)rows > PTRDIFF_MAX / elsize / classes))
        return AG_ERR_SIZE;
    return AG_OK;
}

/* Every label is a class or ignore_index; checked before any work is done. The same pass
 * counts the labels that are not ignore_index into *counted (when not NULL). */
static int check_labels(const int64_t *labels, int64_t rows, int64_t classes, int64_t ignore,
                        int64_t *counted)
{
    int64_t kept = 0;
    for (int64_t i = 0; i < rows; i++) {
        if ((labels[i] < 0 || labels[i] >= classes) && labels[i] != ignore)
            return AG_ERR_ARG;
        kept += labels[i] != ignore;
    }
    if (counted)
        *counted = kept;
    return AG_OK;
}

static int threads_for(int64_t work)
{
    int t = ag_get_num_threads();
    return work < AG_LOSS_PARALLEL_MIN ? 1 : t;
}

/* What a row of the forward or backward needs; the loops run over rows [lo, hi). */
struct xent_args {
    size_t es;
    struct row_kernels rk;
    const char *x, *probs, *stats;
    const int64_t *labels;
    int64_t classes, ignore;
    double eps, smooth;
    const char *scale;
    int64_t scale_stride;
    char *loss, *out;  /* forward: loss and stats (out); backward: the gradient (out) */
    char *grad;        /* forward: also the gradient for an upstream 1, scaled by grad_scale */
    double grad_scale;
};

/* Row i's gradient into out (the row's first element), for upstream scale s (rounded to the
 * dtype) and the row's saved max m and log-sum-exp L (as saved: rounded to the dtype); the
 * backward's rows, and the forward's when it writes the gradient too, so both give the same
 * bits. */
static void xent_grad_row(const struct xent_args *a, int64_t i, double s, double m, double L,
                          char *out)
{
    const size_t off = (size_t)i * (size_t)a->classes * a->es;
    const double eps = a->eps;
    if (a->labels) {
        const int64_t t = a->labels[i];
        const double st = t == a->ignore ? 0.0 : s;
        a->rk.grad(a->x + off, NULL, a->classes, m, L, st, 0.0, st * a->smooth, out);
        if (t != a->ignore) {
            if (a->es == sizeof(double))
                ((double *)out)[t] -= st * (1.0 - eps);
            else
                ((float *)out)[t] -= (float)(st * (1.0 - eps));
        }
    } else {
        const struct row_sums ps = a->rk.sums(a->probs + off, NULL, a->classes, 0.0);
        const double total = (1.0 - eps) * ps.d + eps;  /* sum of the smoothed targets */
        a->rk.grad(a->x + off, a->probs + off, a->classes, m, L, s * total, s * (1.0 - eps),
                   s * a->smooth, out);
    }
}

static void xent_forward_rows(const void *args, int64_t lo, int64_t hi)
{
    const struct xent_args *a = args;
    const size_t es = a->es;
    const int64_t classes = a->classes, ignore = a->ignore;
    const double eps = a->eps;
    for (int64_t i = lo; i < hi; i++) {
        const size_t off = (size_t)i * (size_t)classes * es;
        const double m = a->rk.max(a->x + off, classes);
        const struct row_sums s = a->rk.sums(a->x + off, a->probs ? a->probs + off : NULL, classes, m);
        const double L = log(s.e);
        double r;
        if (a->labels) {
            const int64_t t = a->labels[i];
            double xt = t == ignore ? 0.0
                        : es == sizeof(double) ? ((const double *)a->x)[i * classes + t]
                                               : ((const float *)a->x)[i * classes + t];
            r = t == ignore ? 0.0 : L - (1.0 - eps) * (xt - m) - a->smooth * s.d;
        } else {
            r = L * ((1.0 - eps) * s.p + eps) - ((1.0 - eps) * s.pd + a->smooth * s.d);
        }
        if (es == sizeof(double)) {
            ((double *)a->loss)[i] = r;
            ((double *)a->out)[2 * i] = m;
            ((double *)a->out)[2 * i + 1] = L;
        } else {
            ((float *)a->loss)[i] = (float)r;
            ((float *)a->out)[2 * i] = (float)m;
            ((float *)a->out)[2 * i + 1] = (float)L;
        }
        if (a->grad)  /* from the saved (rounded) m and L, as the backward reads them */
            xent_grad_row(a, i, a->grad_scale, es == sizeof(double) ? m : (double)(float)m,
                          es == sizeof(double) ? L : (double)(float)L, a->grad + off);
    }
}

/* grad (or NULL): also the gradient for an upstream gradient of 1, of the mean (grad_mean) or
 * of the sum: what the backward computes from the same stats with scale 1 / count or 1 (count:
 * the rows whose class is not ignore_index, or every row for probabilities), rounded to the
 * dtype as the caller's scale is. */
static int xent_forward(size_t es, const void *x, int64_t rows, int64_t classes,
                        const int64_t *labels, const void *probs, double eps, int64_t ignore,
                        void *loss, void *stats, double *summary, int grad_mean, void *grad)
{
    int status = check_rows(rows, classes, es);
    if (status == AG_OK && rows == 0 && summary)
        summary[0] = summary[1] = 0.0;
    if (status != AG_OK || rows == 0)
        return status;
    if (!x || !loss || !stats || (!labels == !probs) || classes == 0)
        return classes == 0 ? AG_ERR_ARG : AG_ERR_NULL;
    int64_t counted = rows;  /* the rows "mean" divides by */
    if (labels && (status = check_labels(labels, rows, classes, ignore, &counted)) != AG_OK)
        return status;
    double grad_scale = 1.0;
    if (grad && grad_mean)  /* 1 / counted in the dtype (counted 0: inf, unused: all ignored) */
        grad_scale = es == sizeof(double) ? 1.0 / (double)counted : (double)(1.0f / (float)counted);
    const struct xent_args a = {
        .es = es, .rk = pick(es == sizeof(double)), .x = x, .probs = probs, .labels = labels,
        .classes = classes, .ignore = ignore, .eps = eps, .smooth = eps / (double)classes,
        .loss = loss, .out = stats, .grad = grad, .grad_scale = grad_scale,
    };
    ag_run_spans(xent_forward_rows, &a, rows, threads_for(rows * classes), 1);
    if (summary) {  /* in row order after the rows are done: the same on any thread count */
        double total = 0.0;
        for (int64_t i = 0; i < rows; i++)
            total += es == sizeof(double) ? ((const double *)loss)[i] : ((const float *)loss)[i];
        summary[0] = total, summary[1] = (double)counted;
    }
    return AG_OK;
}

static void xent_backward_rows(const void *args, int64_t lo, int64_t hi)
{
    const struct xent_args *a = args;
    const int f64 = a->es == sizeof(double);
    for (int64_t i = lo; i < hi; i++) {
        const int64_t si = i * a->scale_stride;
        const double s = f64 ? ((const double *)a->scale)[si] : ((const float *)a->scale)[si];
        const double m = f64 ? ((const double *)a->stats)[2 * i] : ((const float *)a->stats)[2 * i];
        const double L = f64 ? ((const double *)a->stats)[2 * i + 1] : ((const float *)a->stats)[2 * i + 1];
        xent_grad_row(a, i, s, m, L, a->out + (size_t)i * (size_t)a->classes * a->es);
    }
}

static int xent_backward(size_t es, const void *x, const void *stats, int64_t rows,
                         int64_t classes, const int64_t *labels, const void *probs, double eps,
                         int64_t ignore, const void *scale, int64_t scale_stride, void *grad)
{
    int status = check_rows(rows, classes, es);
    if (status != AG_OK || rows == 0 || classes == 0)
        return status;
    if (!x || !stats || !scale || !grad || (!labels == !probs))
        return AG_ERR_NULL;
    if (scale_stride < 0)
        return AG_ERR_ARG;
    if (labels && (status = check_labels(labels, rows, classes, ignore, NULL)) != AG_OK)
        return status;
    const struct xent_args a = {
        .es = es, .rk = pick(es == sizeof(double)), .x = x, .probs = probs, .stats = stats,
        .labels = labels, .classes = classes, .ignore = ignore, .eps = eps,
        .smooth = eps / (double)classes, .scale = scale, .scale_stride = scale_stride, .out = grad,
    };
    ag_run_spans(xent_backward_rows, &a, rows, threads_for(rows * classes), 1);
    return AG_OK;
}

/* ------------------------------------------------------------------ elementwise losses */

enum pair_op { BCE, BCE_BACKWARD, MSE, MSE_BACKWARD };

struct pair_args {
    enum pair_op op;
    int f64;
    const void *x, *t;
    void *out;
};

static void pair_span(const void *args, int64_t lo, int64_t hi)
{
    const struct pair_args *p = args;
    const int f64 = p->f64;
    for (int64_t i = lo; i < hi; i++) {
        const double a = f64 ? ((const double *)p->x)[i] : ((const float *)p->x)[i];
        const double b = f64 ? ((const double *)p->t)[i] : ((const float *)p->t)[i];
        double r;
        switch (p->op) {
        case BCE:  /* (1 - t) x + log(1 + e^-x), as max(x, 0) - x t + log1p(e^-|x|) */
            r = fmax(a, 0.0) - a * b + log1p(exp(-fabs(a)));
            break;
        case BCE_BACKWARD: {  /* sigmoid(x) - t, two branches so that exp never overflows */
            const double z = exp(-fabs(a));
            r = (a < 0.0 ? z : 1.0) / (1.0 + z) - b;
            break;
        }
        case MSE: r = (a - b) * (a - b); break;
        default: r = 2.0 * (a - b); break;
        }
        if (f64)
            ((double *)p->out)[i] = r;
        else
            ((float *)p->out)[i] = (float)r;
    }
}

static int pair_loss(enum pair_op op, size_t es, const void *x, const void *t, void *out,
                     int64_t n)
{
    if (n < 0 || (uint64_t)n > PTRDIFF_MAX / es)
        return AG_ERR_SIZE;
    if (n == 0)
        return AG_OK;
    if (!x || !t || !out)
        return AG_ERR_NULL;
    const struct pair_args p = {op, es == sizeof(double), x, t, out};
    ag_run_spans(pair_span, &p, n, threads_for(n * 4), 1);
    return AG_OK;
}

/* ------------------------------------------------------------------ exports */
int ag_softmax_xent_f32(const float *x, int64_t rows, int64_t classes, const int64_t *labels,
                        const float *probs, double label_smoothing, int64_t ignore_index,
                        float *loss, float *stats, double *summary, int grad_mean, float *grad)
{
    return xent_forward(sizeof *x, x, rows, classes, labels, probs, label_smoothing,
                        ignore_index, loss, stats, summary, grad_mean, grad);
}
int ag_softmax_xent_f64(const double *x, int64_t rows, int64_t classes, const int64_t *labels,
                        const double *probs, double label_smoothing, int64_t ignore_index,
                        double *loss, double *stats, double *summary, int grad_mean, double *grad)
{
    return xent_forward(sizeof *x, x, rows, classes, labels, probs, label_smoothing,
                        ignore_index, loss, stats, summary, grad_mean, grad);
}
int ag_softmax_xent_backward_f32(const float *x, const float *stats, int64_t rows, int64_t classes,
                                 const int64_t *labels, const float *probs,
                                 double label_smoothing, int64_t ignore_index,
                                 const float *scale, int64_t scale_stride, float *grad)
{
    return xent_backward(sizeof *x, x, stats, rows, classes, labels, probs, label_smoothing,
                         ignore_index, scale, scale_stride, grad);
}
int ag_softmax_xent_backward_f64(const double *x, const double *stats, int64_t rows, int64_t classes,
                                 const int64_t *labels, const double *probs,
                                 double label_smoothing, int64_t ignore_index,
                                 const double *scale, int64_t scale_stride, double *grad)
{
    return xent_backward(sizeof *x, x, stats, rows, classes, labels, probs, label_smoothing,
                         ignore_index, scale, scale_stride, grad);
}
int ag_bce_with_logits_f32(const float *x, const float *target, float *out, int64_t n)
{
    return pair_loss(BCE, sizeof *x, x, target, out, n);
}
int ag_bce_with_logits_f64(const double *x, const double *target, double *out, int64_t n)
{
    return pair_loss(BCE, sizeof *x, x, target, out, n);
}
int ag_bce_with_logits_backward_f32(const float *x, const float *target, float *out, int64_t n)
{
    return pair_loss(BCE_BACKWARD, sizeof *x, x, target, out, n);
}
int ag_bce_with_logits_backward_f64(const double *x, const double *target, double *out, int64_t n)
{
    return pair_loss(BCE_BACKWARD, sizeof *x, x, target, out, n);
}
int ag_mse_f32(const float *x, const float *target, float *out, int64_t n)
{
    return pair_loss(MSE, sizeof *x, x, target, out, n);
}
int ag_mse_f64(const double *x, const double *target, double *out, int64_t n)
{
    return pair_loss(MSE, sizeof *x, x, target, out, n);
}
int ag_mse_backward_f32(const float *x, const float *target, float *out, int64_t n)
{
    return pair_loss(MSE_BACKWARD, sizeof *x, x, target, out, n);
}
int ag_mse_backward_f64(const double *x, const double *target, double *out, int64_t n)
{
    return pair_loss(MSE_BACKWARD, sizeof *x, x, target, out, n);
}
