/* activations_avx512.c: the AVX-512 activation kernels (see activations.c for the layout and the
 * numerics, ag_simd.h for exp and expm1). */
#include "ag_act.h"

#include <math.h>

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

/* The magnitude of t with the sign of a, in one vpternlog (t's bits where the mask's are 0, a's
 * where they are 1): two operations fewer than and-not, and, or in tanh's loop. */
AG_TARGET_AVX512 static inline __m512 avx512_copysign_ps(__m512 t, __m512 a)
{
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(t), _mm512_castps_si512(a),
                                                         _mm512_set1_epi32(INT32_MIN), 0xD8));
}

AG_TARGET_AVX512 static inline __m512d avx512_copysign_pd(__m512d t, __m512d a)
{
    return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(_mm512_castpd_si512(t), _mm512_castpd_si512(a),
                                                         _mm512_set1_epi64(INT64_MIN), 0xD8));
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
        __m512 m = ag512_expm1_neg2_ps(_mm512_andnot_ps(sign, a));
        __m512 t = _mm512_div_ps(m, _mm512_sub_ps(_mm512_set1_ps(-2.0f), m));
        return avx512_copysign_ps(t, a);
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
        __m512d t = _mm512_div_pd(m, _mm512_sub_pd(_mm512_set1_pd(-2.0), m));
        return avx512_copysign_pd(t, a);
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

/* The loop over a buffer for one op (a constant: see AG_FOR_EACH_OP). The tail runs the same
 * vector code on masked loads: masked-off lanes are never touched. */
AG_TARGET_AVX512 static inline __attribute__((always_inline)) void
avx512_loop_f32(const enum ag_op op, const float *a, const float *b, float *out, int64_t n,
                const struct act_params *p)
{
    int64_t i = 0;
    const int stream = p->stream;  /* read once: a store into out could alias *p */
    for (; i + 16 <= n; i += 16) {
        __m512 va = _mm512_loadu_ps(a + i);
        __m512 vb = b ? _mm512_loadu_ps(b + i) : va;
        if (stream)
            _mm512_stream_ps(out + i, avx512_op_f32(op, va, vb, p));
        else
            _mm512_storeu_ps(out + i, avx512_op_f32(op, va, vb, p));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        __m512 va = _mm512_maskz_loadu_ps(m, a + i);
        __m512 vb = b ? _mm512_maskz_loadu_ps(m, b + i) : va;
        _mm512_mask_storeu_ps(out + i, m, avx512_op_f32(op, va, vb, p));
    }
}

AG_TARGET_AVX512 static inline __attribute__((always_inline)) void
avx512_loop_f64(const enum ag_op op, const double *a, const double *b, double *out, int64_t n,
                const struct act_params *p)
{
    int64_t i = 0;
    const int stream = p->stream;  /* read once: a store into out could alias *p */
    for (; i + 8 <= n; i += 8) {
        __m512d va = _mm512_loadu_pd(a + i);
        __m512d vb = b ? _mm512_loadu_pd(b + i) : va;
        if (stream)
            _mm512_stream_pd(out + i, avx512_op_f64(op, va, vb, p));
        else
            _mm512_storeu_pd(out + i, avx512_op_f64(op, va, vb, p));
    }
    if (i < n) {
        __mmask8 m = (__mmask8)((1u << (n - i)) - 1u);
        __m512d va = _mm512_maskz_loadu_pd(m, a + i);
        __m512d vb = b ? _mm512_maskz_loadu_pd(m, b + i) : va;
        _mm512_mask_storeu_pd(out + i, m, avx512_op_f64(op, va, vb, p));
    }
}

AG_TARGET_AVX512 static void avx512_f32(enum ag_op op, const void *a, const void *b, void *out,
                                        int64_t n, const struct act_params *p)
{
    AG_FOR_EACH_OP(op, avx512_loop_f32, a, b, out, n, p)
}

AG_TARGET_AVX512 static void avx512_f64(enum ag_op op, const void *a, const void *b, void *out,
                                        int64_t n, const struct act_params *p)
{
    AG_FOR_EACH_OP(op, avx512_loop_f64, a, b, out, n, p)
}

const ag_elementwise_fn ag_act_avx512[2] = {avx512_f32, avx512_f64};
#endif /* AG_SIMD_X86 */
