/* activations.c: relu, sigmoid, tanh, leaky_relu, elu, softplus and their backward passes,
 * float32 and float64.
 *
 * Layout: for each ISA and dtype, one function computes every op on one vector (or scalar)
 * and one loop runs it over a buffer (portable C here, the vector ISAs in activations_avx512.c
 * and activations_avx2.c); the loop's tail reuses the very same vector code on a
 * masked load, so an element's result never depends on where it sits in the buffer. The
 * driver at the bottom validates arguments, picks the ISA once per call and splits large
 * buffers into static, 64-element-aligned chunks across the pool's threads: results are bitwise
 * identical for any thread count.
 *
 * Numerics (see ag_simd.h for exp/expm1):
 *   sigmoid(x) = (x < 0 ? z : 1) / (1 + z), z = e^-|x|  (both branches of the reference in one)
 *   tanh(x)    = sign(x) * -m / (2 + m),    m = expm1(-2|x|)   (no cancellation near 0),
 *                computed as m / (-2 - m): the same rounding, one negation fewer
 *   elu(x)      = x > 0 ? x : alpha expm1(x)
 *   softplus(x) = beta x > threshold ? x : (max(t, 0) + log1p(e^-|t|)) / beta, t = beta x
 *                 (PyTorch's log1p(e^t) / beta without overflow; log1p for [0, 1] beside the
 *                 vector code)
 * The parameters are rounded to the buffer's dtype first, as PyTorch does.
 * The backward ops of relu, sigmoid and tanh evaluate exactly the reference expressions, in
 * the same order, so they equal numpy bitwise; those of leaky_relu, elu and softplus take the
 * input x (not the output) as PyTorch does: slope or 1, g alpha e^x or g, g sigmoid(t) or g.
 */
#include "ag_act.h"
#include "ag_spans.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Below these many elements one thread does the work. A fork/join costs ~1-2 us; measured on
 * 2 cores, a second thread gains >= 1.5x from 8192 elements for sigmoid and tanh (~1 ns per
 * element) and from 32768 for the memory-bound relu and backward ops (~0.3 ns per element). */
#define AG_PARALLEL_MIN_EXP (1 << 13)
#define AG_PARALLEL_MIN_CHEAP (1 << 15)
/* Thread chunks start at multiples of this many elements (whole cache lines). */
#define AG_CHUNK_ALIGN 64
/* Outputs of this many bytes or more are written with non-temporal stores: past half the L3
 * they would not stay cached for whoever reads them next, and a store that skips the cache saves
 * reading each line before writing it. Float32, a new output each call, one thread: 2^22 and
 * 2^23 elements (malloc reuses the memory) 1.2-1.5x faster for relu, tanh and their backward
 * ops, 1.3-1.8x on two threads; 10^7 (40 MB, fresh pages from the kernel each time) tanh
 * 4.5-4.7 -> 4.0-4.1 ms, the backward ops 1.02-1.16x, relu 0.95-0.97x. */
#define AG_STREAM_MIN_BYTES (16u << 20)

static int is_binary(enum ag_op op)
{
    return op >= AG_OP_RELU_BACKWARD;
}

static int64_t parallel_min(enum ag_op op)
{
    switch (op) {
    case AG_OP_SIGMOID: case AG_OP_TANH: case AG_OP_ELU: case AG_OP_SOFTPLUS:
    case AG_OP_ELU_BACKWARD: case AG_OP_SOFTPLUS_BACKWARD:
        return AG_PARALLEL_MIN_EXP;
    default:
        return AG_PARALLEL_MIN_CHEAP;
    }
}

/* ------------------------------------------------------------------ portable C */

static inline float portable_op_f32(enum ag_op op, float a, float b, const struct act_params *p)
{
    const float pa = (float)p->a, pb = (float)p->b;
    switch (op) {
    case AG_OP_RELU: return a <= 0.0f ? 0.0f : a;
    case AG_OP_SIGMOID: {
        float z = expf(-fabsf(a));
        return (a < 0.0f ? z : 1.0f) / (1.0f + z);
    }
    case AG_OP_TANH: return tanhf(a);
    case AG_OP_LEAKY_RELU: return a > 0.0f ? a : a * pa;
    case AG_OP_ELU: return a > 0.0f ? a : pa * expm1f(a);
    case AG_OP_SOFTPLUS: {
        float t = a * pa;
        return t > pb ? a : (fmaxf(t, 0.0f) + log1pf(expf(-fabsf(t)))) / pa;
    }
    case AG_OP_RELU_BACKWARD: return a * (b > 0.0f ? 1.0f : 0.0f);
    case AG_OP_SIGMOID_BACKWARD: return a * b * (1.0f - b);
    case AG_OP_TANH_BACKWARD: return a * (1.0f - b * b);
    case AG_OP_LEAKY_RELU_BACKWARD: return a * (b > 0.0f ? 1.0f : pa);
    case AG_OP_ELU_BACKWARD: return b > 0.0f ? a : a * (pa * expf(b));
    case AG_OP_SOFTPLUS_BACKWARD: {
        float t = b * pa, z = expf(-fabsf(t));
        return t > pb ? a : a * ((t < 0.0f ? z : 1.0f) / (1.0f + z));
    }
    }
    return NAN;
}

static inline double portable_op_f64(enum ag_op op, double a, double b, const struct act_params *p)
{
    const double pa = p->a, pb = p->b;
    switch (op) {
    case AG_OP_RELU: return a <= 0.0 ? 0.0 : a;
    case AG_OP_SIGMOID: {
        double z = exp(-fabs(a));
        return (a < 0.0 ? z : 1.0) / (1.0 + z);
    }
    case AG_OP_TANH: return tanh(a);
    case AG_OP_LEAKY_RELU: return a > 0.0 ? a : a * pa;
    case AG_OP_ELU: return a > 0.0 ? a : pa * expm1(a);
    case AG_OP_SOFTPLUS: {
        double t = a * pa;
        return t > pb ? a : (fmax(t, 0.0) + log1p(exp(-fabs(t)))) / pa;
    }
    case AG_OP_RELU_BACKWARD: return a * (b > 0.0 ? 1.0 : 0.0);
    case AG_OP_SIGMOID_BACKWARD: return a * b * (1.0 - b);
    case AG_OP_TANH_BACKWARD: return a * (1.0 - b * b);
    case AG_OP_LEAKY_RELU_BACKWARD: return a * (b > 0.0 ? 1.0 : pa);
    case AG_OP_ELU_BACKWARD: return b > 0.0 ? a : a * (pa * exp(b));
    case AG_OP_SOFTPLUS_BACKWARD: {
        double t = b * pa, z = exp(-fabs(t));
        return t > pb ? a : a * ((t < 0.0 ? z : 1.0) / (1.0 + z));
    }
    }
    return NAN;
}

/* relu, leaky_relu and their backward passes get loops of their own: inside the loop over all
 * ops gcc dispatched through a jump table per element and branched on the sign, and relu took
 * ~5 ns per element on the portable path (50x the AVX2 kernel); these vectorise. Each select
 * (the gradient's factor 1 or the slope, leaky_relu's x or slope x) is AG_PICK_BITS on the
 * values' bits. The values are the general loop's, bit for bit. */
#define AG_PORTABLE_RELUS(T, U)                                                                \
    do {                                                                                       \
        const T *restrict a = pa, *restrict b = pb;                                            \
        T *restrict out = pout;                                                                \
        const T slope = (T)p->a, one = (T)1;                                                   \
        if (op == AG_OP_RELU) {                                                                \
            for (int64_t i = 0; i < n; i++)                                                    \
                out[i] = a[i] <= (T)0 ? (T)0 : a[i];                                           \
            return;                                                                            \
        }                                                                                      \
        if (op == AG_OP_RELU_BACKWARD || op == AG_OP_LEAKY_RELU_BACKWARD) {                    \
            const T other = op == AG_OP_RELU_BACKWARD ? (T)0 : slope; /* factor where x <= 0 */ \
            U one_bits, other_bits;                                                            \
            memcpy(&one_bits, &one, sizeof one);                                               \
            memcpy(&other_bits, &other, sizeof other);                                         \
            for (int64_t i = 0; i < n; i++) {                                                  \
                const U bits = AG_PICK_BITS(U, b[i] > (T)0, one_bits, other_bits);             \
                T factor;                                                                      \
                memcpy(&factor, &bits, sizeof factor);                                         \
                out[i] = a[i] * factor;                                                        \
            }                                                                                  \
            return;                                                                            \
        }                                                                                      \
        if (op == AG_OP_LEAKY_RELU) {                                                          \
            for (int64_t i = 0; i < n; i++) {                                                  \
                const T x = a[i], sx = x * slope;                                              \
                U x_bits, sx_bits;                                                             \
                memcpy(&x_bits, &x, sizeof x);                                                 \
                memcpy(&sx_bits, &sx, sizeof sx);                                              \
                const U bits = AG_PICK_BITS(U, x > (T)0, x_bits, sx_bits);                     \
                memcpy(&out[i], &bits, sizeof bits);                                           \
            }                                                                                  \
            return;                                                                            \
        }                                                                                      \
    } while (0)

static void portable_f32(enum ag_op op, const void *pa, const void *pb, void *pout, int64_t n,
                         const struct act_params *p)
{
    AG_PORTABLE_RELUS(float, uint32_t);
    const float *a = pa, *b = pb;
    float *out = pout;
    for (int64_t i = 0; i < n; i++)
        out[i] = portable_op_f32(op, a[i], b ? b[i] : 0.0f, p);
}

static void portable_f64(enum ag_op op, const void *pa, const void *pb, void *pout, int64_t n,
                         const struct act_params *p)
{
    AG_PORTABLE_RELUS(double, uint64_t);
    const double *a = pa, *b = pb;
    double *out = pout;
    for (int64_t i = 0; i < n; i++)
        out[i] = portable_op_f64(op, a[i], b ? b[i] : 0.0, p);
}

/* ------------------------------------------------------------------ driver */

static ag_elementwise_fn pick(int isa, int is_f64)
{
#ifdef AG_SIMD_X86
    if (isa == AG_ISA_AVX512)
        return ag_act_avx512[is_f64];
    if (isa == AG_ISA_AVX2)
        return ag_act_avx2[is_f64];
#endif
    (void)isa;
    return is_f64 ? portable_f64 : portable_f32;
}

/* Do [p, p + bytes) and [q, q + bytes) overlap without being the same buffer? */
static int partial_overlap(const void *p, const void *q, uint64_t bytes)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
    return a != b && a < b + bytes && b < a + bytes;
}

struct elementwise_args {
    ag_elementwise_fn fn;
    enum ag_op op;
    size_t elsize;
    const void *a, *b;
    void *out;
    const struct act_params *p;
};

/* fn over n elements, then, after streamed stores, a store fence: they are weakly ordered, and
 * whoever learns that the work is done must see them. */
static void apply(ag_elementwise_fn fn, enum ag_op op, const void *a, const void *b, void *out,
                  int64_t n, const struct act_params *p)
{
    fn(op, a, b, out, n, p);
#ifdef AG_SIMD_X86
    if (p->stream)
        _mm_sfence();
#endif
}

/* Elements [lo, hi) of the call. */
static void elementwise_span(const void *args, int64_t lo, int64_t hi)
{
    const struct elementwise_args *s = args;
    const size_t off = (size_t)lo * s->elsize;
    apply(s->fn, s->op, (const char *)s->a + off, s->b ? (const char *)s->b + off : NULL,
          (char *)s->out + off, hi - lo, s->p);
}

static int run_with(enum ag_op op, size_t elsize, const void *a, const void *b, void *out,
                    int64_t n, double param_a, double param_b)
{
    struct act_params params = {param_a, param_b, 0};
    const struct act_params *p = &params;
    if (n < 0 || (uint64_t)n > PTRDIFF_MAX / elsize)
        return AG_ERR_SIZE;
    if (n == 0)
        return AG_OK;
    if (!a || !out || (is_binary(op) && !b))
        return AG_ERR_NULL;
    const uint64_t bytes = (uint64_t)n * elsize;
    if (partial_overlap(a, out, bytes) || (b && partial_overlap(b, out, bytes)))
        return AG_ERR_OVERLAP;
    if (!is_binary(op))
        b = NULL;

    const ag_elementwise_fn fn = pick(ag_isa(), elsize == sizeof(double));
    if (bytes >= AG_STREAM_MIN_BYTES && (uintptr_t)out % elsize == 0) {
        /* the elements before out's first whole cache line as usual, the rest streamed */
        const int64_t head = (int64_t)((-(uintptr_t)out & 63) / elsize);
        fn(op, a, b, out, head, p);
        a = (const char *)a + head * elsize;
        b = b ? (const char *)b + head * elsize : NULL;
        out = (char *)out + head * elsize;
        n -= head;
        params.stream = 1;
    }
    const int threads = ag_get_num_threads();
    if (n < parallel_min(op) || threads < 2) {
        apply(fn, op, a, b, out, n, p);
        return AG_OK;
    }
    /* One static chunk per thread: the split only moves whole elements between threads. */
    const struct elementwise_args args = {fn, op, elsize, a, b, out, p};
    ag_run_spans(elementwise_span, &args, n, threads, AG_CHUNK_ALIGN);
    return AG_OK;
}

static int run(enum ag_op op, size_t elsize, const void *a, const void *b, void *out, int64_t n)
{
    return run_with(op, elsize, a, b, out, n, 0.0, 0.0);
}

/* ------------------------------------------------------------------ exports */

int ag_relu_f32(const float *x, float *out, int64_t n)
{
    return run(AG_OP_RELU, sizeof *x, x, NULL, out, n);
}
int ag_relu_f64(const double *x, double *out, int64_t n)
{
    return run(AG_OP_RELU, sizeof *x, x, NULL, out, n);
}
int ag_sigmoid_f32(const float *x, float *out, int64_t n)
{
    return run(AG_OP_SIGMOID, sizeof *x, x, NULL, out, n);
}
int ag_sigmoid_f64(const double *x, double *out, int64_t n)
{
    return run(AG_OP_SIGMOID, sizeof *x, x, NULL, out, n);
}
int ag_tanh_f32(const float *x, float *out, int64_t n)
{
    return run(AG_OP_TANH, sizeof *x, x, NULL, out, n);
}
int ag_tanh_f64(const double *x, double *out, int64_t n)
{
    return run(AG_OP_TANH, sizeof *x, x, NULL, out, n);
}
int ag_relu_backward_f32(const float *g, const float *x, float *out, int64_t n)
{
    return run(AG_OP_RELU_BACKWARD, sizeof *g, g, x, out, n);
}
int ag_relu_backward_f64(const double *g, const double *x, double *out, int64_t n)
{
    return run(AG_OP_RELU_BACKWARD, sizeof *g, g, x, out, n);
}
int ag_sigmoid_backward_f32(const float *g, const float *y, float *out, int64_t n)
{
    return run(AG_OP_SIGMOID_BACKWARD, sizeof *g, g, y, out, n);
}
int ag_sigmoid_backward_f64(const double *g, const double *y, double *out, int64_t n)
{
    return run(AG_OP_SIGMOID_BACKWARD, sizeof *g, g, y, out, n);
}
int ag_tanh_backward_f32(const float *g, const float *y, float *out, int64_t n)
{
    return run(AG_OP_TANH_BACKWARD, sizeof *g, g, y, out, n);
}
int ag_tanh_backward_f64(const double *g, const double *y, double *out, int64_t n)
{
    return run(AG_OP_TANH_BACKWARD, sizeof *g, g, y, out, n);
}
int ag_leaky_relu_f32(const float *x, float *out, int64_t n, double negative_slope)
{
    return run_with(AG_OP_LEAKY_RELU, sizeof *x, x, NULL, out, n, negative_slope, 0.0);
}
int ag_leaky_relu_f64(const double *x, double *out, int64_t n, double negative_slope)
{
    return run_with(AG_OP_LEAKY_RELU, sizeof *x, x, NULL, out, n, negative_slope, 0.0);
}
int ag_elu_f32(const float *x, float *out, int64_t n, double alpha)
{
    return run_with(AG_OP_ELU, sizeof *x, x, NULL, out, n, alpha, 0.0);
}
int ag_elu_f64(const double *x, double *out, int64_t n, double alpha)
{
    return run_with(AG_OP_ELU, sizeof *x, x, NULL, out, n, alpha, 0.0);
}
int ag_softplus_f32(const float *x, float *out, int64_t n, double beta, double threshold)
{
    return run_with(AG_OP_SOFTPLUS, sizeof *x, x, NULL, out, n, beta, threshold);
}
int ag_softplus_f64(const double *x, double *out, int64_t n, double beta, double threshold)
{
    return run_with(AG_OP_SOFTPLUS, sizeof *x, x, NULL, out, n, beta, threshold);
}
int ag_leaky_relu_backward_f32(const float *g, const float *x, float *out, int64_t n,
                               double negative_slope)
{
    return run_with(AG_OP_LEAKY_RELU_BACKWARD, sizeof *g, g, x, out, n,
                    negative_slope, 0.0);
}
int ag_leaky_relu_backward_f64(const double *g, const double *x, double *out, int64_t n,
                               double negative_slope)
{
    return run_with(AG_OP_LEAKY_RELU_BACKWARD, sizeof *g, g, x, out, n,
                    negative_slope, 0.0);
}
int ag_elu_backward_f32(const float *g, const float *x, float *out, int64_t n, double alpha)
{
    return run_with(AG_OP_ELU_BACKWARD, sizeof *g, g, x, out, n,
                    alpha, 0.0);
}
int ag_elu_backward_f64(const double *g, const double *x, double *out, int64_t n, double alpha)
{
    return run_with(AG_OP_ELU_BACKWARD, sizeof *g, g, x, out, n,
                    alpha, 0.0);
}
int ag_softplus_backward_f32(const float *g, const float *x, float *out, int64_t n,
                             double beta, double threshold)
{
    return run_with(AG_OP_SOFTPLUS_BACKWARD, sizeof *g, g, x, out, n,
                    beta, threshold);
}
int ag_softplus_backward_f64(const double *g, const double *x, double *out, int64_t n,
                             double beta, double threshold)
{
    return run_with(AG_OP_SOFTPLUS_BACKWARD, sizeof *g, g, x, out, n,
                    beta, threshold);
}
