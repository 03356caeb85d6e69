/* optim.c: the Adam / AdamW update in one pass over the parameter and its state.
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

typedef void (*adam_span_fn)(const struct adam_args *, int64_t, int64_t);

static void adam_portable_f32(const struct adam_args *a, int64_t lo, int64_t hi) { adam_span_f32(a, lo, hi); }
static void adam_portable_f64(const struct adam_args *a, int64_t lo, int64_t hi) { adam_span_f64(a, lo, hi); }
#ifdef AG_SIMD_X86
AG_TARGET_AVX2 static void adam_avx2_f32(const struct adam_args *a, int64_t lo, int64_t hi) { adam_span_f32(a, lo, hi); }
AG_TARGET_AVX2 static void adam_avx2_f64(const struct adam_args *a, int64_t lo, int64_t hi) { adam_span_f64(a, lo, hi); }
AG_TARGET_AVX512 static void adam_avx512_f32(const struct adam_args *a, int64_t lo, int64_t hi) { adam_span_f32(a, lo, hi); }
AG_TARGET_AVX512 static void adam_avx512_f64(const struct adam_args *a, int64_t lo, int64_t hi) { adam_span_f64(a, lo, hi); }
#endif

static adam_span_fn pick(int is_double)
{
#ifdef AG_SIMD_X86
    switch (ag_isa()) {
    case AG_ISA_AVX512:
        return is_double ? adam_avx512_f64 : adam_avx512_f32;
    case AG_ISA_AVX2:
        return is_double ? adam_avx2_f64 : adam_avx2_f32;
    default:
        break;
    }
#endif
    return is_double ? adam_portable_f64 : adam_portable_f32;
}

static int overlaps(const void *p, const void *q, uint64_t bytes)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
    return p && q && a < b + bytes && b < a + bytes;
}

static int adam(const struct adam_args *a, int64_t n, size_t elsize)
{
    if (n < 0 || (uint64_t)n > UINT64_MAX / 16)
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

    const adam_span_fn fn = pick(elsize == sizeof(double));
    const int threads = ag_get_num_threads();
    if (n < AG_OPTIM_PARALLEL_MIN || threads < 2) {
        fn(a, 0, n);
        return AG_OK;
    }
    int64_t chunk = (n + threads - 1) / threads;
    chunk = (chunk + AG_OPTIM_CHUNK_ALIGN - 1) / AG_OPTIM_CHUNK_ALIGN * AG_OPTIM_CHUNK_ALIGN;
    const int64_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < nchunks; c++)
        fn(a, c * chunk, n - c * chunk < chunk ? n : c * chunk + chunk);
    return AG_OK;
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
