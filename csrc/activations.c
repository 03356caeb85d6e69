/* activations.c: relu, sigmoid, tanh, leaky_relu, elu, softplus and their backward passes,
 * float32 and float64.
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
 *   elu(x)      = x > 0 ? x : alpha expm1(x)
 *   softplus(x) = beta x > threshold ? x : (max(t, 0) + log1p(e^-|t|)) / beta, t = beta x
 *                 (PyTorch's log1p(e^t) / beta without overflow; log1p below, for [0, 1])
 * The parameters are rounded to the buffer's dtype first, as PyTorch does.
 * The backward ops of relu, sigmoid and tanh evaluate exactly the reference expressions, in
 * the same order, so they equal numpy bitwise; those of leaky_relu, elu and softplus take the
 * input x (not the output) as PyTorch does: slope or 1, g alpha e^x or g, g sigmoid(t) or g.
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

#define AG_SQRT2_F 0x1.6a09e6p+0f
#define AG_SQRT2_D 0x1.6a09e667f3bcdp+0

enum ag_op {
    AG_OP_RELU,
    AG_OP_SIGMOID,
    AG_OP_TANH,
    AG_OP_LEAKY_RELU,        /* p.a = negative slope */
    AG_OP_ELU,               /* p.a = alpha */
    AG_OP_SOFTPLUS,          /* p.a = beta, p.b = threshold */
    AG_OP_RELU_BACKWARD,     /* (g, x); every op from here on is binary */
    AG_OP_SIGMOID_BACKWARD,  /* (g, y) */
    AG_OP_TANH_BACKWARD,     /* (g, y) */
    AG_OP_LEAKY_RELU_BACKWARD, /* (g, x) */
    AG_OP_ELU_BACKWARD,      /* (g, x) */
    AG_OP_SOFTPLUS_BACKWARD  /* (g, x) */
};

/* An op's scalar parameters, as the caller gave them (each ISA rounds them to its dtype). */
struct act_params {
    double a, b;
};

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

/* One op over n elements: a is x or g, b is NULL or the second input. */
typedef void (*ag_elementwise_fn)(enum ag_op op, const void *a, const void *b, void *out,
                                  int64_t n, const struct act_params *p);

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

static void portable_f32(enum ag_op op, const void *pa, const void *pb, void *pout, int64_t n,
                         const struct act_params *p)
{
    const float *a = pa, *b = pb;
    float *out = pout;
    for (int64_t i = 0; i < n; i++)
        out[i] = portable_op_f32(op, a[i], b ? b[i] : 0.0f, p);
}

static void portable_f64(enum ag_op op, const void *pa, const void *pb, void *pout, int64_t n,
                         const struct act_params *p)
{
    const double *a = pa, *b = pb;
    double *out = pout;
    for (int64_t i = 0; i < n; i++)
        out[i] = portable_op_f64(op, a[i], b ? b[i] : 0.0, p);
}

#ifdef AG_SIMD_X86
/* ------------------------------------------------------------------ AVX-512 */

/* log1p(u) for u in [0, 1] (and NaN), the softplus case. w = 1 + u rounds, c is that rounding
 * error exactly, and log1p(u) = log(w) + c / w to well under an ulp. log(w) = e ln2 + log1p(f)
 * with w = 2^e (1 + f), f in [sqrt(1/2) - 1, sqrt(2) - 1]; with s = f / (2 + f),
 * log1p(f) = 2 atanh(s) = f - (f^2/2 - s (f^2/2 + R)), R = sum_k 2 s^(2k) / (2k + 1), the
 * fdlibm arrangement. |s| <= 0.172: four terms of R leave 2e-9 (float), ten 1e-18 (double). */
AG_TARGET_AVX512 static inline __m512 avx512_log1p_unit_ps(__m512 u)
{
    const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f);
    __m512 w = _mm512_add_ps(one, u);
    __m512 c = _mm512_sub_ps(u, _mm512_sub_ps(w, one));
    __mmask16 big = _mm512_cmp_ps_mask(w, _mm512_set1_ps(AG_SQRT2_F), _CMP_GT_OQ);
    __m512 e = _mm512_maskz_mov_ps(big, one);
    __m512 f = _mm512_sub_ps(_mm512_mask_mul_ps(w, big, w, half), one);
    __m512 s = _mm512_div_ps(f, _mm512_add_ps(_mm512_set1_ps(2.0f), f));
    __m512 z = _mm512_mul_ps(s, s);
    __m512 r = _mm512_set1_ps(2.0f / 9);
    r = _mm512_fmadd_ps(r, z, _mm512_set1_ps(2.0f / 7));
    r = _mm512_fmadd_ps(r, z, _mm512_set1_ps(2.0f / 5));
    r = _mm512_fmadd_ps(r, z, _mm512_set1_ps(2.0f / 3));
    r = _mm512_mul_ps(r, z);
    __m512 hfsq = _mm512_mul_ps(half, _mm512_mul_ps(f, f));
    __m512 lf = _mm512_sub_ps(f, _mm512_fnmadd_ps(s, _mm512_add_ps(hfsq, r), hfsq));
    __m512 lo = _mm512_fmadd_ps(e, _mm512_set1_ps(AG_LN2_LO_F), _mm512_div_ps(c, w));
    return _mm512_fmadd_ps(e, _mm512_set1_ps(AG_LN2_HI_F), _mm512_add_ps(lf, lo));
}

AG_TARGET_AVX512 static inline __m512d avx512_log1p_unit_pd(__m512d u)
{
    const __m512d one = _mm512_set1_pd(1.0), half = _mm512_set1_pd(0.5);
    __m512d w = _mm512_add_pd(one, u);
    __m512d c = _mm512_sub_pd(u, _mm512_sub_pd(w, one));
    __mmask8 big = _mm512_cmp_pd_mask(w, _mm512_set1_pd(AG_SQRT2_D), _CMP_GT_OQ);
    __m512d e = _mm512_maskz_mov_pd(big, one);
    __m512d f = _mm512_sub_pd(_mm512_mask_mul_pd(w, big, w, half), one);
    __m512d s = _mm512_div_pd(f, _mm512_add_pd(_mm512_set1_pd(2.0), f));
    __m512d z = _mm512_mul_pd(s, s);
    __m512d r = _mm512_set1_pd(2.0 / 21);
    for (int k = 9; k >= 1; k--)
        r = _mm512_fmadd_pd(r, z, _mm512_set1_pd(2.0 / (2 * k + 1)));
    r = _mm512_mul_pd(r, z);
    __m512d hfsq = _mm512_mul_pd(half, _mm512_mul_pd(f, f));
    __m512d lf = _mm512_sub_pd(f, _mm512_fnmadd_pd(s, _mm512_add_pd(hfsq, r), hfsq));
    __m512d lo = _mm512_fmadd_pd(e, _mm512_set1_pd(AG_LN2_LO_D), _mm512_div_pd(c, w));
    return _mm512_fmadd_pd(e, _mm512_set1_pd(AG_LN2_HI_D), _mm512_add_pd(lf, lo));
}

AG_TARGET_AVX512 static inline __m512 avx512_op_f32(enum ag_op op, __m512 a, __m512 b,
                                                    const struct act_params *p)
{
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512 pa = _mm512_set1_ps((float)p->a), pb = _mm512_set1_ps((float)p->b);
    switch (op) {
    case AG_OP_LEAKY_RELU:
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, zero, _CMP_GT_OQ), _mm512_mul_ps(a, pa), a);
    case AG_OP_ELU: {  /* min(0, a) keeps a NaN (min returns its second operand if unordered) */
        __m512 e = _mm512_mul_ps(pa, ag512_expm1_neg_ps(_mm512_min_ps(zero, a)));
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, zero, _CMP_GT_OQ), e, a);
    }
    case AG_OP_SOFTPLUS: {
        __m512 t = _mm512_mul_ps(a, pa);
        __m512 l = avx512_log1p_unit_ps(ag512_exp_ps(_mm512_or_ps(t, sign)));
        __m512 sp = _mm512_div_ps(_mm512_add_ps(_mm512_max_ps(t, zero), l), pa);
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, pb, _CMP_GT_OQ), sp, a);
    }
    case AG_OP_LEAKY_RELU_BACKWARD:
        return _mm512_mul_ps(a, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, zero, _CMP_GT_OQ), pa, one));
    case AG_OP_ELU_BACKWARD: {
        __m512 d = _mm512_mul_ps(a, _mm512_mul_ps(pa, ag512_exp_ps(b)));
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(b, zero, _CMP_GT_OQ), d, a);
    }
    case AG_OP_SOFTPLUS_BACKWARD: {
        __m512 t = _mm512_mul_ps(b, pa);
        __m512 z = ag512_exp_ps(_mm512_or_ps(t, sign));
        __mmask16 neg = _mm512_cmp_ps_mask(t, zero, _CMP_LT_OQ);
        __m512 sg = _mm512_div_ps(_mm512_mask_blend_ps(neg, one, z), _mm512_add_ps(one, z));
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(t, pb, _CMP_GT_OQ), _mm512_mul_ps(a, sg), a);
    }
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

AG_TARGET_AVX512 static inline __m512d avx512_op_f64(enum ag_op op, __m512d a, __m512d b,
                                                     const struct act_params *p)
{
    const __m512d zero = _mm512_setzero_pd(), one = _mm512_set1_pd(1.0);
    const __m512d sign = _mm512_set1_pd(-0.0);
    const __m512d pa = _mm512_set1_pd(p->a), pb = _mm512_set1_pd(p->b);
    switch (op) {
    case AG_OP_LEAKY_RELU:
        return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, zero, _CMP_GT_OQ), _mm512_mul_pd(a, pa), a);
    case AG_OP_ELU: {
        __m512d e = _mm512_mul_pd(pa, ag512_expm1_neg_pd(_mm512_min_pd(zero, a)));
        return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, zero, _CMP_GT_OQ), e, a);
    }
    case AG_OP_SOFTPLUS: {
        __m512d t = _mm512_mul_pd(a, pa);
        __m512d l = avx512_log1p_unit_pd(ag512_exp_pd(_mm512_or_pd(t, sign)));
        __m512d sp = _mm512_div_pd(_mm512_add_pd(_mm512_max_pd(t, zero), l), pa);
        return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(t, pb, _CMP_GT_OQ), sp, a);
    }
    case AG_OP_LEAKY_RELU_BACKWARD:
        return _mm512_mul_pd(a, _mm512_mask_blend_pd(_mm512_cmp_pd_mask(b, zero, _CMP_GT_OQ), pa, one));
    case AG_OP_ELU_BACKWARD: {
        __m512d d = _mm512_mul_pd(a, _mm512_mul_pd(pa, ag512_exp_pd(b)));
        return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(b, zero, _CMP_GT_OQ), d, a);
    }
    case AG_OP_SOFTPLUS_BACKWARD: {
        __m512d t = _mm512_mul_pd(b, pa);
        __m512d z = ag512_exp_pd(_mm512_or_pd(t, sign));
        __mmask8 neg = _mm512_cmp_pd_mask(t, zero, _CMP_LT_OQ);
        __m512d sg = _mm512_div_pd(_mm512_mask_blend_pd(neg, one, z), _mm512_add_pd(one, z));
        return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(t, pb, _CMP_GT_OQ), _mm512_mul_pd(a, sg), a);
    }
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
                                        void *pout, int64_t n, const struct act_params *p)
{
    const float *a = pa, *b = pb;
    float *out = pout;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 va = _mm512_loadu_ps(a + i);
        __m512 vb = b ? _mm512_loadu_ps(b + i) : va;
        _mm512_storeu_ps(out + i, avx512_op_f32(op, va, vb, p));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        __m512 va = _mm512_maskz_loadu_ps(m, a + i);
        __m512 vb = b ? _mm512_maskz_loadu_ps(m, b + i) : va;
        _mm512_mask_storeu_ps(out + i, m, avx512_op_f32(op, va, vb, p));
    }
}

AG_TARGET_AVX512 static void avx512_f64(enum ag_op op, const void *pa, const void *pb,
                                        void *pout, int64_t n, const struct act_params *p)
{
    const double *a = pa, *b = pb;
    double *out = pout;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d va = _mm512_loadu_pd(a + i);
        __m512d vb = b ? _mm512_loadu_pd(b + i) : va;
        _mm512_storeu_pd(out + i, avx512_op_f64(op, va, vb, p));
    }
    if (i < n) {
        __mmask8 m = (__mmask8)((1u << (n - i)) - 1u);
        __m512d va = _mm512_maskz_loadu_pd(m, a + i);
        __m512d vb = b ? _mm512_maskz_loadu_pd(m, b + i) : va;
        _mm512_mask_storeu_pd(out + i, m, avx512_op_f64(op, va, vb, p));
    }
}

/* ------------------------------------------------------------------ AVX2 + FMA */

/* As avx512_log1p_unit_ps, the same arithmetic. */
AG_TARGET_AVX2 static inline __m256 avx2_log1p_unit_ps(__m256 u)
{
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    __m256 w = _mm256_add_ps(one, u);
    __m256 c = _mm256_sub_ps(u, _mm256_sub_ps(w, one));
    __m256 big = _mm256_cmp_ps(w, _mm256_set1_ps(AG_SQRT2_F), _CMP_GT_OQ);
    __m256 e = _mm256_and_ps(big, one);
    __m256 f = _mm256_sub_ps(_mm256_blendv_ps(w, _mm256_mul_ps(w, half), big), one);
    __m256 s = _mm256_div_ps(f, _mm256_add_ps(_mm256_set1_ps(2.0f), f));
    __m256 z = _mm256_mul_ps(s, s);
    __m256 r = _mm256_set1_ps(2.0f / 9);
    r = _mm256_fmadd_ps(r, z, _mm256_set1_ps(2.0f / 7));
    r = _mm256_fmadd_ps(r, z, _mm256_set1_ps(2.0f / 5));
    r = _mm256_fmadd_ps(r, z, _mm256_set1_ps(2.0f / 3));
    r = _mm256_mul_ps(r, z);
    __m256 hfsq = _mm256_mul_ps(half, _mm256_mul_ps(f, f));
    __m256 lf = _mm256_sub_ps(f, _mm256_fnmadd_ps(s, _mm256_add_ps(hfsq, r), hfsq));
    __m256 lo = _mm256_fmadd_ps(e, _mm256_set1_ps(AG_LN2_LO_F), _mm256_div_ps(c, w));
    return _mm256_fmadd_ps(e, _mm256_set1_ps(AG_LN2_HI_F), _mm256_add_ps(lf, lo));
}

AG_TARGET_AVX2 static inline __m256d avx2_log1p_unit_pd(__m256d u)
{
    const __m256d one = _mm256_set1_pd(1.0), half = _mm256_set1_pd(0.5);
    __m256d w = _mm256_add_pd(one, u);
    __m256d c = _mm256_sub_pd(u, _mm256_sub_pd(w, one));
    __m256d big = _mm256_cmp_pd(w, _mm256_set1_pd(AG_SQRT2_D), _CMP_GT_OQ);
    __m256d e = _mm256_and_pd(big, one);
    __m256d f = _mm256_sub_pd(_mm256_blendv_pd(w, _mm256_mul_pd(w, half), big), one);
    __m256d s = _mm256_div_pd(f, _mm256_add_pd(_mm256_set1_pd(2.0), f));
    __m256d z = _mm256_mul_pd(s, s);
    __m256d r = _mm256_set1_pd(2.0 / 21);
    for (int k = 9; k >= 1; k--)
        r = _mm256_fmadd_pd(r, z, _mm256_set1_pd(2.0 / (2 * k + 1)));
    r = _mm256_mul_pd(r, z);
    __m256d hfsq = _mm256_mul_pd(half, _mm256_mul_pd(f, f));
    __m256d lf = _mm256_sub_pd(f, _mm256_fnmadd_pd(s, _mm256_add_pd(hfsq, r), hfsq));
    __m256d lo = _mm256_fmadd_pd(e, _mm256_set1_pd(AG_LN2_LO_D), _mm256_div_pd(c, w));
    return _mm256_fmadd_pd(e, _mm256_set1_pd(AG_LN2_HI_D), _mm256_add_pd(lf, lo));
}

AG_TARGET_AVX2 static inline __m256 avx2_op_f32(enum ag_op op, __m256 a, __m256 b,
                                                const struct act_params *p)
{
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 pa = _mm256_set1_ps((float)p->a), pb = _mm256_set1_ps((float)p->b);
    switch (op) {
    case AG_OP_LEAKY_RELU:
        return _mm256_blendv_ps(_mm256_mul_ps(a, pa), a, _mm256_cmp_ps(a, zero, _CMP_GT_OQ));
    case AG_OP_ELU: {
        __m256 e = _mm256_mul_ps(pa, ag256_expm1_neg_ps(_mm256_min_ps(zero, a)));
        return _mm256_blendv_ps(e, a, _mm256_cmp_ps(a, zero, _CMP_GT_OQ));
    }
    case AG_OP_SOFTPLUS: {
        __m256 t = _mm256_mul_ps(a, pa);
        __m256 l = avx2_log1p_unit_ps(ag256_exp_ps(_mm256_or_ps(t, sign)));
        __m256 sp = _mm256_div_ps(_mm256_add_ps(_mm256_max_ps(t, zero), l), pa);
        return _mm256_blendv_ps(sp, a, _mm256_cmp_ps(t, pb, _CMP_GT_OQ));
    }
    case AG_OP_LEAKY_RELU_BACKWARD:
        return _mm256_mul_ps(a, _mm256_blendv_ps(pa, one, _mm256_cmp_ps(b, zero, _CMP_GT_OQ)));
    case AG_OP_ELU_BACKWARD: {
        __m256 d = _mm256_mul_ps(a, _mm256_mul_ps(pa, ag256_exp_ps(b)));
        return _mm256_blendv_ps(d, a, _mm256_cmp_ps(b, zero, _CMP_GT_OQ));
    }
    case AG_OP_SOFTPLUS_BACKWARD: {
        __m256 t = _mm256_mul_ps(b, pa);
        __m256 z = ag256_exp_ps(_mm256_or_ps(t, sign));
        __m256 neg = _mm256_cmp_ps(t, zero, _CMP_LT_OQ);
        __m256 sg = _mm256_div_ps(_mm256_blendv_ps(one, z, neg), _mm256_add_ps(one, z));
        return _mm256_blendv_ps(_mm256_mul_ps(a, sg), a, _mm256_cmp_ps(t, pb, _CMP_GT_OQ));
    }
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

AG_TARGET_AVX2 static inline __m256d avx2_op_f64(enum ag_op op, __m256d a, __m256d b,
                                                 const struct act_params *p)
{
    const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
    const __m256d sign = _mm256_set1_pd(-0.0);
    const __m256d pa = _mm256_set1_pd(p->a), pb = _mm256_set1_pd(p->b);
    switch (op) {
    case AG_OP_LEAKY_RELU:
        return _mm256_blendv_pd(_mm256_mul_pd(a, pa), a, _mm256_cmp_pd(a, zero, _CMP_GT_OQ));
    case AG_OP_ELU: {
        __m256d e = _mm256_mul_pd(pa, ag256_expm1_neg_pd(_mm256_min_pd(zero, a)));
        return _mm256_blendv_pd(e, a, _mm256_cmp_pd(a, zero, _CMP_GT_OQ));
    }
    case AG_OP_SOFTPLUS: {
        __m256d t = _mm256_mul_pd(a, pa);
        __m256d l = avx2_log1p_unit_pd(ag256_exp_pd(_mm256_or_pd(t, sign)));
        __m256d sp = _mm256_div_pd(_mm256_add_pd(_mm256_max_pd(t, zero), l), pa);
        return _mm256_blendv_pd(sp, a, _mm256_cmp_pd(t, pb, _CMP_GT_OQ));
    }
    case AG_OP_LEAKY_RELU_BACKWARD:
        return _mm256_mul_pd(a, _mm256_blendv_pd(pa, one, _mm256_cmp_pd(b, zero, _CMP_GT_OQ)));
    case AG_OP_ELU_BACKWARD: {
        __m256d d = _mm256_mul_pd(a, _mm256_mul_pd(pa, ag256_exp_pd(b)));
        return _mm256_blendv_pd(d, a, _mm256_cmp_pd(b, zero, _CMP_GT_OQ));
    }
    case AG_OP_SOFTPLUS_BACKWARD: {
        __m256d t = _mm256_mul_pd(b, pa);
        __m256d z = ag256_exp_pd(_mm256_or_pd(t, sign));
        __m256d neg = _mm256_cmp_pd(t, zero, _CMP_LT_OQ);
        __m256d sg = _mm256_div_pd(_mm256_blendv_pd(one, z, neg), _mm256_add_pd(one, z));
        return _mm256_blendv_pd(_mm256_mul_pd(a, sg), a, _mm256_cmp_pd(t, pb, _CMP_GT_OQ));
    }
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
                                    int64_t n, const struct act_params *p)
{
    const float *a = pa, *b = pb;
    float *out = pout;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 va = _mm256_loadu_ps(a + i);
        __m256 vb = b ? _mm256_loadu_ps(b + i) : va;
        _mm256_storeu_ps(out + i, avx2_op_f32(op, va, vb, p));
    }
    if (i < n) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)),
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        __m256 va = _mm256_maskload_ps(a + i, m);
        __m256 vb = b ? _mm256_maskload_ps(b + i, m) : va;
        _mm256_maskstore_ps(out + i, m, avx2_op_f32(op, va, vb, p));
    }
}

AG_TARGET_AVX2 static void avx2_f64(enum ag_op op, const void *pa, const void *pb, void *pout,
                                    int64_t n, const struct act_params *p)
{
    const double *a = pa, *b = pb;
    double *out = pout;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d va = _mm256_loadu_pd(a + i);
        __m256d vb = b ? _mm256_loadu_pd(b + i) : va;
        _mm256_storeu_pd(out + i, avx2_op_f64(op, va, vb, p));
    }
    if (i < n) {
        __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n - i), _mm256_setr_epi64x(0, 1, 2, 3));
        __m256d va = _mm256_maskload_pd(a + i, m);
        __m256d vb = b ? _mm256_maskload_pd(b + i, m) : va;
        _mm256_maskstore_pd(out + i, m, avx2_op_f64(op, va, vb, p));
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

static int run_with(enum ag_op op, size_t elsize, const void *a, const void *b, void *out,
                    int64_t n, struct act_params params)
{
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
    const int threads = ag_get_num_threads();
    if (n < parallel_min(op) || threads < 2) {
        fn(op, a, b, out, n, p);
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
        fn(op, ca + off, cb ? cb + off : NULL, cout + off, len, p);
    }
    return AG_OK;
}

static int run(enum ag_op op, size_t elsize, const void *a, const void *b, void *out, int64_t n)
{
    return run_with(op, elsize, a, b, out, n, (struct act_params){0.0, 0.0});
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
    return run_with(AG_OP_LEAKY_RELU, sizeof *x, x, NULL, out, n, (struct act_params){negative_slope, 0.0});
}
int ag_leaky_relu_f64(const double *x, double *out, int64_t n, double negative_slope)
{
    return run_with(AG_OP_LEAKY_RELU, sizeof *x, x, NULL, out, n, (struct act_params){negative_slope, 0.0});
}
int ag_elu_f32(const float *x, float *out, int64_t n, double alpha)
{
    return run_with(AG_OP_ELU, sizeof *x, x, NULL, out, n, (struct act_params){alpha, 0.0});
}
int ag_elu_f64(const double *x, double *out, int64_t n, double alpha)
{
    return run_with(AG_OP_ELU, sizeof *x, x, NULL, out, n, (struct act_params){alpha, 0.0});
}
int ag_softplus_f32(const float *x, float *out, int64_t n, double beta, double threshold)
{
    return run_with(AG_OP_SOFTPLUS, sizeof *x, x, NULL, out, n, (struct act_params){beta, threshold});
}
int ag_softplus_f64(const double *x, double *out, int64_t n, double beta, double threshold)
{
    return run_with(AG_OP_SOFTPLUS, sizeof *x, x, NULL, out, n, (struct act_params){beta, threshold});
}
int ag_leaky_relu_backward_f32(const float *g, const float *x, float *out, int64_t n,
                               double negative_slope)
{
    return run_with(AG_OP_LEAKY_RELU_BACKWARD, sizeof *g, g, x, out, n,
                    (struct act_params){negative_slope, 0.0});
}
int ag_leaky_relu_backward_f64(const double *g, const double *x, double *out, int64_t n,
                               double negative_slope)
{
    return run_with(AG_OP_LEAKY_RELU_BACKWARD, sizeof *g, g, x, out, n,
                    (struct act_params){negative_slope, 0.0});
}
int ag_elu_backward_f32(const float *g, const float *x, float *out, int64_t n, double alpha)
{
    return run_with(AG_OP_ELU_BACKWARD, sizeof *g, g, x, out, n,
                    (struct act_params){alpha, 0.0});
}
int ag_elu_backward_f64(const double *g, const double *x, double *out, int64_t n, double alpha)
{
    return run_with(AG_OP_ELU_BACKWARD, sizeof *g, g, x, out, n,
                    (struct act_params){alpha, 0.0});
}
int ag_softplus_backward_f32(const float *g, const float *x, float *out, int64_t n,
                             double beta, double threshold)
{
    return run_with(AG_OP_SOFTPLUS_BACKWARD, sizeof *g, g, x, out, n,
                    (struct act_params){beta, threshold});
}
int ag_softplus_backward_f64(const double *g, const double *x, double *out, int64_t n,
                             double beta, double threshold)
{
    return run_with(AG_OP_SOFTPLUS_BACKWARD, sizeof *g, g, x, out, n,
                    (struct act_params){beta, threshold});
}
