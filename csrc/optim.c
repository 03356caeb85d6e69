/* optim.c: the Adam / AdamW update, the SGD update (momentum, dampening, Nesterov, weight decay),
 * and out = x + alpha * y (RMSprop's and Adadelta's parameter step), each in one pass
 * over the parameter and its state.
 *
 * numpy needs about ten passes over every buffer for one Adam step (lerp, scale, addcmul, sqrt,
 * divide, add, addcdiv), which made the optimizer the biggest cost of an MLP training step after
 * GEMM. Here each element is read and written once. The arithmetic is torch.optim.Adam's
 * single-tensor algorithm operation by operation, each rounded in the buffer's dtype (the
 * scalars are cast to it first, as numpy does with Python floats), with -ffp-contract=off: the
 * result is bitwise the numpy reference's, whatever the instruction set or thread count.
 *
 * The loop is plain C that the compiler vectorises; it is compiled three times, for the
 * portable target and inside AVX2 and AVX-512 target functions, and ag_isa() picks one.
 */
#include <math.h>
#include <stddef.h>

#include "ag_kernels.h"
#include "ag_simd.h"
#include "ag_spans.h"

#define AG_OPTIM_PARALLEL_MIN (1 << 15)
#define AG_OPTIM_CHUNK_ALIGN 64

struct adam_args {
    void *param, *exp_avg, *exp_avg_sq, *max_exp_avg_sq;
    const void *grad;
    double avg_weight, beta2, sq_weight, neg_step_size, bias_correction2_sqrt, eps;
};

/* Elements [lo, hi) of one update; T the dtype, SQRT its correctly rounded square root. */
#define DEFINE_ADAM_SPAN(T, SUFFIX, SQRT)                                                        \
    static inline __attribute__((always_inline)) void adam_span_##SUFFIX(                       \
        const struct adam_args *a, int64_t lo, int64_t hi)                                     \
    {                                                                                           \
        T *restrict p = a->param, *restrict m = a->exp_avg, *restrict v = a->exp_avg_sq;        \
        T *restrict vmax = a->max_exp_avg_sq;                                                   \
        const T *restrict g = a->grad;                                                          \
        const int near_start = a->avg_weight < 0.5; /* torch's lerp: exact at either end */     \
        const T w = (T)a->avg_weight, w_rest = (T)(1.0 - a->avg_weight);                        \
        const T b2 = (T)a->beta2, c2 = (T)a->sq_weight, ns = (T)a->neg_step_size;               \
        const T bc2 = (T)a->bias_correction2_sqrt, eps = (T)a->eps;                             \
        for (int64_t i = lo; i < hi; i++) {                                                     \
            const T gi = g[i], d = gi - m[i];                                                   \
            const T mi = near_start ? m[i] + d * w : gi - d * w_rest;                           \
            const T vi = v[i] * b2 + (gi * c2) * gi;                                            \
            T s = vi;                                                                           \
            if (vmax) { /* amsgrad; NaN propagates as in np.maximum */                          \
                const T old = vmax[i];                                                          \
                s = (old > vi || old != old) ? old : vi;                                        \
                vmax[i] = s;                                                                    \
            }                                                                                   \
            const T denom = SQRT(s) / bc2 + eps;                                                \
            m[i] = mi;                                                                          \
            v[i] = vi;                                                                          \
            p[i] = p[i] + (mi * ns) / denom;                                                    \
        }                                                                                       \
    }

DEFINE_ADAM_SPAN(float, f32, sqrtf)
DEFINE_ADAM_SPAN(double, f64, sqrt)

struct sgd_args {
    void *param, *buf; /* buf: the momentum buffer, NULL without momentum */
    const void *grad;
    double lr, momentum, dampening, weight_decay;
    int nesterov, maximize, first; /* first: the buffer starts as the (decayed) gradient */
};

/* torch.optim.SGD's single-tensor step, operation by operation as the numpy reference does it
 * (g = -g; g = g + p * wd; b = b * m + g * (1 - dampening); d = g + b * m or b; p = p + d * -lr),
 * each product rounded before its add: numpy's five to seven passes in one. */
#define DEFINE_SGD_SPAN(T, SUFFIX)                                                              \
    static inline __attribute__((always_inline)) void sgd_span_##SUFFIX(                        \
        const struct sgd_args *a, int64_t lo, int64_t hi)                                      \
    {                                                                                           \
        T *restrict p = a->param, *restrict b = a->buf;                                         \
        const T *restrict g = a->grad;                                                          \
        const T neg_lr = (T)-a->lr, m = (T)a->momentum, keep = (T)(1.0 - a->dampening);         \
        const T wd = (T)a->weight_decay;                                                        \
        const int decay = a->weight_decay != 0, maximize = a->maximize;                         \
        const int nesterov = a->nesterov, first = a->first;                                     \
        for (int64_t i = lo; i < hi; i++) {                                                     \
            T gi = maximize ? -g[i] : g[i];                                                     \
            if (decay)                                                                          \
                gi = gi + p[i] * wd;                                                            \
            T d = gi;                                                                           \
            if (b) {                                                                            \
                const T bi = first ? gi : b[i] * m + gi * keep;                                 \
                b[i] = bi;                                                                      \
                d = nesterov ? gi + bi * m : bi;                                                \
            }                                                                                   \
            p[i] = p[i] + d * neg_lr;                                                           \
        }                                                                                       \
    }

DEFINE_SGD_SPAN(float, f32)
DEFINE_SGD_SPAN(double, f64)

/* out = x + (T)alpha * y: numpy's two passes (y * alpha into a temporary, then x + it) in one;
 * the product is rounded before the add (no fma), so the result is bitwise numpy's. */
struct add_scaled_args {
    void *out;
    const void *x, *y;
    double alpha;
};

#define DEFINE_ADD_SCALED_SPAN(T, SUFFIX)                                                       \
    static inline __attribute__((always_inline)) void add_scaled_span_##SUFFIX(                 \
        const struct add_scaled_args *a, int64_t lo, int64_t hi)                               \
    {                                                                                           \
        /* out may be x or y itself (same index read before written): no restrict */            \
        T *out = a->out;                                                                        \
        const T *x = a->x, *y = a->y;                                                           \
        const T alpha = (T)a->alpha;                                                            \
        for (int64_t i = lo; i < hi; i++)                                                       \
            out[i] = x[i] + y[i] * alpha;                                                       \
    }

DEFINE_ADD_SCALED_SPAN(float, f32)
DEFINE_ADD_SCALED_SPAN(double, f64)

DEFINE_SPAN_VARIANTS(adam_span_f32, struct adam_args)
DEFINE_SPAN_VARIANTS(adam_span_f64, struct adam_args)
DEFINE_SPAN_VARIANTS(sgd_span_f32, struct sgd_args)
DEFINE_SPAN_VARIANTS(sgd_span_f64, struct sgd_args)
DEFINE_SPAN_VARIANTS(add_scaled_span_f32, struct add_scaled_args)
DEFINE_SPAN_VARIANTS(add_scaled_span_f64, struct add_scaled_args)

static int overlaps(const void *p, const void *q, uint64_t bytes)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
    return p && q && a < b + bytes && b < a + bytes;
}

static int check_size(int64_t n)
{
    return n < 0 || (uint64_t)n > UINT64_MAX / 16 ? AG_ERR_SIZE : AG_OK;
}

/* fn over [0, n), split into cache-line-aligned chunks across the threads when n is large. */
static void run_spans(ag_span_fn fn, const void *args, int64_t n)
{
    ag_run_spans(fn, args, n, n < AG_OPTIM_PARALLEL_MIN ? 1 : ag_get_num_threads(),
                 AG_OPTIM_CHUNK_ALIGN);
}

static int adam(const struct adam_args *a, int64_t n, size_t elsize)
{
    if (check_size(n))
        return AG_ERR_SIZE;
    if (n == 0)
        return AG_OK;
    if (!a->param || !a->grad || !a->exp_avg || !a->exp_avg_sq)
        return AG_ERR_NULL;
    /* Every buffer is read and written element by element: any two sharing memory would feed
     * one update's output into another's input, so they must be disjoint. */
    const void *buffers[] = {a->param, a->grad, a->exp_avg, a->exp_avg_sq, a->max_exp_avg_sq};
    const uint64_t bytes = (uint64_t)n * elsize;
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (overlaps(buffers[i], buffers[j], bytes))
                return AG_ERR_OVERLAP;
    static const ag_span_fn f32[3] = SPAN_VARIANTS(adam_span_f32), f64[3] = SPAN_VARIANTS(adam_span_f64);
    run_spans(ag_pick_span(elsize == sizeof(double) ? f64 : f32), a, n);
    return AG_OK;
}

static int sgd(const struct sgd_args *a, int64_t n, size_t elsize)
{
    if (check_size(n))
        return AG_ERR_SIZE;
    if (n == 0)
        return AG_OK;
    if (!a->param || !a->grad)
        return AG_ERR_NULL;
    /* Each element of each buffer is read before it is written, but an overlap at an offset
     * would feed one element's update into another's: the three must be disjoint. */
    const uint64_t bytes = (uint64_t)n * elsize;
    if (overlaps(a->param, a->grad, bytes) || overlaps(a->param, a->buf, bytes) || overlaps(a->grad, a->buf, bytes))
        return AG_ERR_OVERLAP;
    static const ag_span_fn f32[3] = SPAN_VARIANTS(sgd_span_f32), f64[3] = SPAN_VARIANTS(sgd_span_f64);
    run_spans(ag_pick_span(elsize == sizeof(double) ? f64 : f32), a, n);
    return AG_OK;
}

static int add_scaled(const struct add_scaled_args *a, int64_t n, size_t elsize)
{
    if (check_size(n))
        return AG_ERR_SIZE;
    if (n == 0)
        return AG_OK;
    if (!a->out || !a->x || !a->y)
        return AG_ERR_NULL;
    /* out may be x or y exactly; a shifted overlap would read elements already written. */
    const uint64_t bytes = (uint64_t)n * elsize;
    if ((a->out != a->x && overlaps(a->out, a->x, bytes)) || (a->out != a->y && overlaps(a->out, a->y, bytes)))
        return AG_ERR_OVERLAP;
    static const ag_span_fn f32[3] = SPAN_VARIANTS(add_scaled_span_f32),
                         f64[3] = SPAN_VARIANTS(add_scaled_span_f64);
    run_spans(ag_pick_span(elsize == sizeof(double) ? f64 : f32), a, n);
    return AG_OK;
}

int ag_sgd_f32(float *param, const float *grad, float *buf, int64_t n, double lr, double momentum,
               double dampening, double weight_decay, int nesterov, int maximize, int first)
{
    const struct sgd_args a = {param, buf, grad, lr, momentum, dampening, weight_decay,
                               nesterov, maximize, first};
    return sgd(&a, n, sizeof *param);
}

int ag_sgd_f64(double *param, const double *grad, double *buf, int64_t n, double lr,
               double momentum, double dampening, double weight_decay, int nesterov, int maximize,
               int first)
{
    const struct sgd_args a = {param, buf, grad, lr, momentum, dampening, weight_decay,
                               nesterov, maximize, first};
    return sgd(&a, n, sizeof *param);
}

int ag_add_scaled_f32(float *out, const float *x, double alpha, const float *y, int64_t n)
{
    const struct add_scaled_args a = {out, x, y, alpha};
    return add_scaled(&a, n, sizeof *out);
}

int ag_add_scaled_f64(double *out, const double *x, double alpha, const double *y, int64_t n)
{
    const struct add_scaled_args a = {out, x, y, alpha};
    return add_scaled(&a, n, sizeof *out);
}

int ag_adam_f32(float *param, const float *grad, float *exp_avg, float *exp_avg_sq,
                float *max_exp_avg_sq, int64_t n, double avg_weight, double beta2,
                double sq_weight, double neg_step_size, double bias_correction2_sqrt, double eps)
{
    const struct adam_args a = {param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, avg_weight,
                                beta2, sq_weight, neg_step_size, bias_correction2_sqrt, eps};
    return adam(&a, n, sizeof *param);
}

int ag_adam_f64(double *param, const double *grad, double *exp_avg, double *exp_avg_sq,
                double *max_exp_avg_sq, int64_t n, double avg_weight, double beta2,
                double sq_weight, double neg_step_size, double bias_correction2_sqrt, double eps)
{
    const struct adam_args a = {param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, avg_weight,
                                beta2, sq_weight, neg_step_size, bias_correction2_sqrt, eps};
    return adam(&a, n, sizeof *param);
}
