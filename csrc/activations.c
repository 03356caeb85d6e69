/* activations.c: relu, sigmoid, tanh and their backward passes, float32 and float64.
 *
 * Layout: for each ISA and dtype, one function computes every op on one vector (or scalar)
 * and one loop runs it over a buffer; the loop's tail reuses the very same vector code on a
 * masked load, so an element's result never depends on where it sits in the buffer. The
 * driver at the bottom validates arguments, picks the ISA once per call and splits large
 * buffers into static, 64-element-aligned chunks across OpenMP threads: results are bitwise
 * identical for any thread count.
 *
 * Numerics (see ag_simd.h for exp/expm1):
 *   sigmoid(x) = (x < 0 ? z : 1) / (1 + z), z = e^-|x|  (both branches of the reference in one)
 *   tanh(x)    = sign(x) * -m / (2 + m),    m = expm1(-2|x|)   (no cancellation near 0)
 * The backward ops evaluate exactly the reference expressions, in the same order, so they
 * equal numpy bitwise.
 */
#include "ag_kernels.h"
#include "ag_simd.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Below these many elements one thread does the work. A fork/join costs ~1-2 us; measured on
 * 2 cores, a second thread gains >= 1.5x from 8192 elements for sigmoid and tanh (~1 ns per
 * element) and from 32768 for the memory-bound relu and backward ops (~0.3 ns per element). */
#define AG_PARALLEL_MIN_EXP (1 << 13)
#define AG_PARALLEL_MIN_CHEAP (1 << 15)
/* Thread chunks start at multiples of this many elements (whole cache lines). */
#define AG_CHUNK_ALIGN 64

enum ag_op {
    AG_OP_RELU,
    AG_OP_SIGMOID,
    AG_OP_TANH,
    AG_OP_RELU_BACKWARD,     /* (g, x) */
    AG_OP_SIGMOID_BACKWARD,  /* (g, y) */
    AG_OP_TANH_BACKWARD      /* (g, y) */
};

static int is_binary(enum ag_op op)
{
    return op >= AG_OP_RELU_BACKWARD;
}

static int64_t parallel_min(enum ag_op op)
{
    return op == AG_OP_SIGMOID || op == AG_OP_TANH ? AG_PARALLEL_MIN_EXP : AG_PARALLEL_MIN_CHEAP;
}

/* One op over n elements: a is x or g, b is NULL or the second input. */
typedef void (*ag_elementwise_fn)(enum ag_op op, const void *a, const void *b, void *out,
                                  int64_t n);

/* ------------------------------------------------------------------ portable C */

static inline float portable_op_f32(enum ag_op op, float a, float b)
{
    switch (op) {
    case AG_OP_RELU: return a <= 0.0f ? 0.0f : a;
    case AG_OP_SIGMOID: {
        float z = expf(-fabsf(a));
        return (a < 0.0f ? z : 1.0f) / (1.0f + z);
    }
    case AG_OP_TANH: return tanhf(a);
    case AG_OP_RELU_BACKWARD: return a * (b > 0.0f ? 1.0f : 0.0f);
    case AG_OP_SIGMOID_BACKWARD: return a * b * (1.0f - b);
    case AG_OP_TANH_BACKWARD: return a * (1.0f - b * b);
    }
    return NAN;
}

static inline double portable_op_f64(enum ag_op op, double a, double b)
{
    switch (op) {
    case AG_OP_RELU: return a <= 0.0 ? 0.0 : a;
    case AG_OP_SIGMOID: {
        double z = exp(-fabs(a));
        return (a < 0.0 ? z : 1.0) / (1.0 + z);
    }
    case AG_OP_TANH: return tanh(a);
    case AG_OP_RELU_BACKWARD: return a * (b > 0.0 ? 1.0 : 0.0);
    case AG_OP_SIGMOID_BACKWARD: return a * b * (1.0 - b);
    case AG_OP_TANH_BACKWARD: return a * (1.0 - b * b);
    }
    return NAN;
}

static void portable_f32(enum ag_op op, const void *pa, const void *pb, void *pout, int64_t n)
{
    const float *a = pa, *b = pb;
    float *out = pout;
    for (int64_t i = 0; i < n; i++)
        out[i] = portable_op_f32(op, a[i], b ? b[i] : 0.0f);
}

static void portable_f64(enum ag_op op, const void *pa, const void *pb, void *pout, int64_t n)
{
    const double *a = pa, *b = pb;
    double *out = pout;
    for (int64_t i = 0; i < n; i++)
        out[i] = portable_op_f64(op, a[i], b ? b[i] : 0.0);
}

#ifdef AG_SIMD_X86
/* ------------------------------------------------------------------ AVX-512 */

AG_TARGET_AVX512 static inline __m512 avx512_op_f32(enum ag_op op, __m512 a, __m512 b)
{
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    switch (op) {
    case AG_OP_RELU:
        return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(a, zero, _CMP_NLE_UQ), a);
    case AG_OP_SIGMOID: {
        __m512 z = ag512_exp_ps(_mm512_or_ps(a, sign));
        __mmask16 neg = _mm512_cmp_ps_mask(a, zero, _CMP_LT_OQ);
        return _mm512_div_ps(_mm512_mask_blend_ps(neg, one, z), _mm512_add_ps(one, z));
    }
    case AG_OP_TANH: {
        __m512 m = ag512_expm1_neg_ps(_mm512_mul_ps(_mm512_set1_ps(-2.0f), _mm512_andnot_ps(sign, a)));
        __m512 t = _mm512_div_ps(_mm512_xor_ps(m, sign), _mm512_add_ps(_mm512_set1_ps(2.0f), m));
        return _mm512_or_ps(_mm512_andnot_ps(sign, t), _mm512_and_ps(sign, a));
    }
    case AG_OP_RELU_BACKWARD:
        return _mm512_mul_ps(a, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(b, zero, _CMP_GT_OQ), one));
    case AG_OP_SIGMOID_BACKWARD:
        return _mm512_mul_ps(_mm512_mul_ps(a, b), _mm512_sub_ps(one, b));
    case AG_OP_TANH_BACKWARD:
        return _mm512_mul_ps(a, _mm512_sub_ps(one, _mm512_mul_ps(b, b)));
    }
    return _mm512_set1_ps(NAN);
}

AG_TARGET_AVX512 static inline __m512d avx512_op_f64(enum ag_op op, __m512d a, __m512d b)
{
    const __m512d zero = _mm512_setzero_pd(), one = _mm512_set1_pd(1.0);
    const __m512d sign = _mm512_set1_pd(-0.0);
    switch (op) {
    case AG_OP_RELU:
        return _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(a, zero, _CMP_NLE_UQ), a);
    case AG_OP_SIGMOID: {
        __m512d z = ag512_exp_pd(_mm512_or_pd(a, sign));
        __mmask8 neg = _mm512_cmp_pd_mask(a, zero, _CMP_LT_OQ);
        return _mm512_div_pd(_mm512_mask_blend_pd(neg, one, z), _mm512_add_pd(one, z));
    }
    case AG_OP_TANH: {
        __m512d m = ag512_expm1_neg_pd(_mm512_mul_pd(_mm512_set1_pd(-2.0), _mm512_andnot_pd(sign, a)));
        __m512d t = _mm512_div_pd(_mm512_xor_pd(m, sign), _mm512_add_pd(_mm512_set1_pd(2.0), m));
        return _mm512_or_pd(_mm512_andnot_pd(sign, t), _mm512_and_pd(sign, a));
    }
    case AG_OP_RELU_BACKWARD:
        return _mm512_mul_pd(a, _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(b, zero, _CMP_GT_OQ), one));
    case AG_OP_SIGMOID_BACKWARD:
        return _mm512_mul_pd(_mm512_mul_pd(a, b), _mm512_sub_pd(one, b));
    case AG_OP_TANH_BACKWARD:
        return _mm512_mul_pd(a, _mm512_sub_pd(one, _mm512_mul_pd(b, b)));
    }
    return _mm512_set1_pd(NAN);
}

/* The tail runs the same vector code on masked loads: masked-off lanes are never touched. */
AG_TARGET_AVX512 static void avx512_f32(enum ag_op op, const void *pa, const void *pb,
                                        void *pout, int64_t n)
{
    const float *a = pa, *b = pb;
    float *out = pout;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 va = _mm512_loadu_ps(a + i);
        __m512 vb = b ? _mm512_loadu_ps(b + i) : va;
        _mm512_storeu_ps(out + i, avx512_op_f32(op, va, vb));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        __m512 va = _mm512_maskz_loadu_ps(m, a + i);
        __m512 vb = b ? _mm512_maskz_loadu_ps(m, b + i) : va;
        _mm512_mask_storeu_ps(out + i, m, avx512_op_f32(op, va, vb));
    }
}

AG_TARGET_AVX512 static void avx512_f64(enum ag_op op, const void *pa, const void *pb,
                                        void *pout, int64_t n)
{
    const double *a = pa, *b = pb;
    double *out = pout;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d va = _mm512_loadu_pd(a + i);
        __m512d vb = b ? _mm512_loadu_pd(b + i) : va;
        _mm512_storeu_pd(out + i, avx512_op_f64(op, va, vb));
    }
    if (i < n) {
        __mmask8 m = (__mmask8)((1u << (n - i)) - 1u);
        __m512d va = _mm512_maskz_loadu_pd(m, a + i);
        __m512d vb = b ? _mm512_maskz_loadu_pd(m, b + i) : va;
        _mm512_mask_storeu_pd(out + i, m, avx512_op_f64(op, va, vb));
    }
}

/* ------------------------------------------------------------------ AVX2 + FMA */

AG_TARGET_AVX2 static inline __m256 avx2_op_f32(enum ag_op op, __m256 a, __m256 b)
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    switch (op) {
    case AG_OP_RELU:
        return _mm256_and_ps(_mm256_cmp_ps(a, zero, _CMP_NLE_UQ), a);
    case AG_OP_SIGMOID: {
        __m256 z = ag256_exp_ps(_mm256_or_ps(a, sign));
        __m256 neg = _mm256_cmp_ps(a, zero, _CMP_LT_OQ);
        return _mm256_div_ps(_mm256_blendv_ps(one, z, neg), _mm256_add_ps(one, z));
    }
    case AG_OP_TANH: {
        __m256 m = ag256_expm1_neg_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), _mm256_andnot_ps(sign, a)));
        __m256 t = _mm256_div_ps(_mm256_xor_ps(m, sign), _mm256_add_ps(_mm256_set1_ps(2.0f), m));
        return _mm256_or_ps(_mm256_andnot_ps(sign, t), _mm256_and_ps(sign, a));
    }
    case AG_OP_RELU_BACKWARD:
        return _mm256_mul_ps(a, _mm256_and_ps(_mm256_cmp_ps(b, zero, _CMP_GT_OQ), one));
    case AG_OP_SIGMOID_BACKWARD:
        return _mm256_mul_ps(_mm256_mul_ps(a, b), _mm256_sub_ps(one, b));
    case AG_OP_TANH_BACKWARD:
        return _mm256_mul_ps(a, _mm256_sub_ps(one, _mm256_mul_ps(b, b)));
    }
    return _mm256_set1_ps(NAN);
}

AG_TARGET_AVX2 static inline __m256d avx2_op_f64(enum ag_op op, __m256d a, __m256d b)
{
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
    const __m256d sign = _mm256_set1_pd(-0.0);
    switch (op) {
    case AG_OP_RELU:
        return _mm256_and_pd(_mm256_cmp_pd(a, zero, _CMP_NLE_UQ), a);
    case AG_OP_SIGMOID: {
        __m256d z = ag256_exp_pd(_mm256_or_pd(a, sign));
        __m256d neg = _mm256_cmp_pd(a, zero, _CMP_LT_OQ);
        return _mm256_div_pd(_mm256_blendv_pd(one, z, neg), _mm256_add_pd(one, z));
    }
    case AG_OP_TANH: {
        __m256d m = ag256_expm1_neg_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), _mm256_andnot_pd(sign, a)));
        __m256d t = _mm256_div_pd(_mm256_xor_pd(m, sign), _mm256_add_pd(_mm256_set1_pd(2.0), m));
        return _mm256_or_pd(_mm256_andnot_pd(sign, t), _mm256_and_pd(sign, a));
    }
    case AG_OP_RELU_BACKWARD:
        return _mm256_mul_pd(a, _mm256_and_pd(_mm256_cmp_pd(b, zero, _CMP_GT_OQ), one));
    case AG_OP_SIGMOID_BACKWARD:
        return _mm256_mul_pd(_mm256_mul_pd(a, b), _mm256_sub_pd(one, b));
    case AG_OP_TANH_BACKWARD:
        return _mm256_mul_pd(a, _mm256_sub_pd(one, _mm256_mul_pd(b, b)));
    }
    return _mm256_set1_pd(NAN);
}

/* maskload/maskstore neither read nor write the lanes whose mask is clear. */
AG_TARGET_AVX2 static void avx2_f32(enum ag_op op, const void *pa, const void *pb, void *pout,
                                    int64_t n)
{
    const float *a = pa, *b = pb;
    float *out = pout;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 va = _mm256_loadu_ps(a + i);
        __m256 vb = b ? _mm256_loadu_ps(b + i) : va;
        _mm256_storeu_ps(out + i, avx2_op_f32(op, va, vb));
    }
    if (i < n) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)),
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 va = _mm256_maskload_ps(a + i, m);
        __m256 vb = b ? _mm256_maskload_ps(b + i, m) : va;
        _mm256_maskstore_ps(out + i, m, avx2_op_f32(op, va, vb));
    }
}

AG_TARGET_AVX2 static void avx2_f64(enum ag_op op, const void *pa, const void *pb, void *pout,
                                    int64_t n)
{
    const double *a = pa, *b = pb;
    double *out = pout;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d va = _mm256_loadu_pd(a + i);
        __m256d vb = b ? _mm256_loadu_pd(b + i) : va;
        _mm256_storeu_pd(out + i, avx2_op_f64(op, va, vb));
    }
    if (i < n) {
        __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n - i), _mm256_setr_epi64x(0, 1, 2, 3));
        __m256d va = _mm256_maskload_pd(a + i, m);
        __m256d vb = b ? _mm256_maskload_pd(b + i, m) : va;
        _mm256_maskstore_pd(out + i, m, avx2_op_f64(op, va, vb));
    }
}
#endif /* AG_SIMD_X86 */

/* ------------------------------------------------------------------ driver */

static ag_elementwise_fn pick(int isa, int is_f64)
{
#ifdef AG_SIMD_X86
    if (isa == AG_ISA_AVX512)
        return is_f64 ? avx512_f64 : avx512_f32;
    if (isa == AG_ISA_AVX2)
        return is_f64 ? avx2_f64 : avx2_f32;
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

static int run(enum ag_op op, size_t elsize, const void *a, const void *b, void *out, int64_t n)
{
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
    const int threads = ag_get_num_threads();
    if (n < parallel_min(op) || threads < 2) {
        fn(op, a, b, out, n);
        return AG_OK;
    }
    /* One static chunk per thread: the split only moves whole elements between threads. */
    int64_t chunk = (n + threads - 1) / threads;
    chunk = (chunk + AG_CHUNK_ALIGN - 1) / AG_CHUNK_ALIGN * AG_CHUNK_ALIGN;
    const int64_t nchunks = (n + chunk - 1) / chunk;
    const char *ca = a, *cb = b;
    char *cout = out;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < nchunks; c++) {
        const int64_t lo = c * chunk;
        const int64_t len = n - lo < chunk ? n - lo : chunk;
        const size_t off = (size_t)lo * elsize;
        fn(op, ca + off, cb ? cb + off : NULL, cout + off, len);
    }
    return AG_OK;
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
