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
 * s being the row's upstream scale (0 for a row whose class is ignore_index).
 * Per-row work is vectorised (AVX-512, AVX2 + FMA in losses_simd.c, portable C here: three row
 * primitives each, see ag_xent.h) and rows are split statically across threads: each row's
 * result is independent of the thread count. Class indices are checked before any work: out of range (and not ignore_index) gives
 * AG_ERR_ARG, so no index can make the kernel read outside a row.
 */
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

/* Every label is a class or ignore_index; checked before any work is done. */
static int check_labels(const int64_t *labels, int64_t rows, int64_t classes, int64_t ignore)
{
    for (int64_t i = 0; i < rows; i++)
        if ((labels[i] < 0 || labels[i] >= classes) && labels[i] != ignore)
            return AG_ERR_ARG;
    return AG_OK;
}

static int threads_for(int64_t work)
{
    int t = ag_get_num_threads();
    return work < AG_LOSS_PARALLEL_MIN ? 1 : t;
}

static int xent_forward(size_t es, const void *x, int64_t rows, int64_t classes,
                        const int64_t *labels, const void *probs, double eps, int64_t ignore,
                        void *loss, void *stats)
{
    int status = check_rows(rows, classes, es);
    if (status != AG_OK || rows == 0)
        return status;
    if (!x || !loss || !stats || (!labels == !probs) || classes == 0)
        return classes == 0 ? AG_ERR_ARG : AG_ERR_NULL;
    if (labels && (status = check_labels(labels, rows, classes, ignore)) != AG_OK)
        return status;
    const struct row_kernels rk = pick(es == sizeof(double));
    const char *cx = x, *cp = probs;
    const double smooth = eps / (double)classes;
#pragma omp parallel for num_threads(threads_for(rows * classes)) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const size_t off = (size_t)i * (size_t)classes * es;
        const double m = rk.max(cx + off, classes);
        const struct row_sums s = rk.sums(cx + off, probs ? cp + off : NULL, classes, m);
        const double L = log(s.e);
        double r;
        if (labels) {
            const int64_t t = labels[i];
            double xt = t == ignore ? 0.0
                        : es == sizeof(double) ? ((const double *)x)[i * classes + t]
                                               : ((const float *)x)[i * classes + t];
            r = t == ignore ? 0.0 : L - (1.0 - eps) * (xt - m) - smooth * s.d;
        } else {
            r = L * ((1.0 - eps) * s.p + eps) - ((1.0 - eps) * s.pd + smooth * s.d);
        }
        if (es == sizeof(double)) {
            ((double *)loss)[i] = r;
            ((double *)stats)[2 * i] = m;
            ((double *)stats)[2 * i + 1] = L;
        } else {
            ((float *)loss)[i] = (float)r;
            ((float *)stats)[2 * i] = (float)m;
            ((float *)stats)[2 * i + 1] = (float)L;
        }
    }
    return AG_OK;
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
    if (labels && (status = check_labels(labels, rows, classes, ignore)) != AG_OK)
        return status;
    const struct row_kernels rk = pick(es == sizeof(double));
    const int f64 = es == sizeof(double);
    const char *cx = x, *cp = probs;
    char *cg = grad;
    const double smooth = eps / (double)classes;
#pragma omp parallel for num_threads(threads_for(rows * classes)) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const size_t off = (size_t)i * (size_t)classes * es;
        const int64_t si = i * scale_stride;
        const double s = f64 ? ((const double *)scale)[si] : ((const float *)scale)[si];
        const double m = f64 ? ((const double *)stats)[2 * i] : ((const float *)stats)[2 * i];
        const double L = f64 ? ((const double *)stats)[2 * i + 1] : ((const float *)stats)[2 * i + 1];
        if (labels) {
            const int64_t t = labels[i];
            const double st = t == ignore ? 0.0 : s;
            rk.grad(cx + off, NULL, classes, m, L, st, 0.0, st * smooth, cg + off);
            if (t != ignore) {
                if (f64)
                    ((double *)grad)[i * classes + t] -= st * (1.0 - eps);
                else
                    ((float *)grad)[i * classes + t] -= (float)(st * (1.0 - eps));
            }
        } else {
            const struct row_sums ps = rk.sums(cp + off, NULL, classes, 0.0);
            const double total = (1.0 - eps) * ps.d + eps;  /* sum of the smoothed targets */
            rk.grad(cx + off, cp + off, classes, m, L, s * total, s * (1.0 - eps), s * smooth,
                    cg + off);
        }
    }
    return AG_OK;
}

/* ------------------------------------------------------------------ elementwise losses */

enum pair_op { BCE, BCE_BACKWARD, MSE, MSE_BACKWARD };

static int pair_loss(enum pair_op op, size_t es, const void *x, const void *t, void *out,
                     int64_t n)
{
    if (n < 0 || (uint64_t)n > PTRDIFF_MAX / es)
        return AG_ERR_SIZE;
    if (n == 0)
        return AG_OK;
    if (!x || !t || !out)
        return AG_ERR_NULL;
    const int f64 = es == sizeof(double);
#pragma omp parallel for num_threads(threads_for(n * 4)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const double a = f64 ? ((const double *)x)[i] : ((const float *)x)[i];
        const double b = f64 ? ((const double *)t)[i] : ((const float *)t)[i];
        double r;
        switch (op) {
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
            ((double *)out)[i] = r;
        else
            ((float *)out)[i] = (float)r;
    }
    return AG_OK;
}

/* ------------------------------------------------------------------ exports */
int ag_softmax_xent_f32(const float *x, int64_t rows, int64_t classes, const int64_t *labels,
                        const float *probs, double label_smoothing, int64_t ignore_index,
                        float *loss, float *stats)
{
    return xent_forward(sizeof *x, x, rows, classes, labels, probs, label_smoothing,
                        ignore_index, loss, stats);
}
int ag_softmax_xent_f64(const double *x, int64_t rows, int64_t classes, const int64_t *labels,
                        const double *probs, double label_smoothing, int64_t ignore_index,
                        double *loss, double *stats)
{
    return xent_forward(sizeof *x, x, rows, classes, labels, probs, label_smoothing,
                        ignore_index, loss, stats);
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
