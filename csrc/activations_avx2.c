/* activations_avx2.c: the AVX2 + FMA activation kernels (see activations.c for the layout
 * and the numerics, ag_simd.h for exp and expm1). */
#include "ag_act.h"

#include <math.h>

#ifdef AG_SIMD_X86
/* ------------------------------------------------------------------ AVX2 + FMA */

/* As avx512_log1p_unit_ps (activations_avx512.c), the same arithmetic. */
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
        __m256 t = _mm256_div_ps(m, _mm256_sub_ps(_mm256_set1_ps(-2.0f), m));
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
        __m256d t = _mm256_div_pd(m, _mm256_sub_pd(_mm256_set1_pd(-2.0), m));
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

/* The loop over a buffer for one op (a constant: see AG_FOR_EACH_OP). maskload/maskstore
 * neither read nor write the lanes whose mask is clear. */
AG_TARGET_AVX2 static inline __attribute__((always_inline)) void
avx2_loop_f32(const enum ag_op op, const float *a, const float *b, float *out, int64_t n,
              const struct act_params *p)
{
    int64_t i = 0;
    const int stream = p->stream;  /* read once: a store into out could alias *p */
    for (; i + 8 <= n; i += 8) {
        __m256 va = _mm256_loadu_ps(a + i);
        __m256 vb = b ? _mm256_loadu_ps(b + i) : va;
        if (stream)
            _mm256_stream_ps(out + i, avx2_op_f32(op, va, vb, p));
        else
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

AG_TARGET_AVX2 static inline __attribute__((always_inline)) void
avx2_loop_f64(const enum ag_op op, const double *a, const double *b, double *out, int64_t n,
              const struct act_params *p)
{
    int64_t i = 0;
    const int stream = p->stream;  /* read once: a store into out could alias *p */
    for (; i + 4 <= n; i += 4) {
        __m256d va = _mm256_loadu_pd(a + i);
        __m256d vb = b ? _mm256_loadu_pd(b + i) : va;
        if (stream)
            _mm256_stream_pd(out + i, avx2_op_f64(op, va, vb, p));
        else
            _mm256_storeu_pd(out + i, avx2_op_f64(op, va, vb, p));
    }
    if (i < n) {
        __m256i m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(n - i), _mm256_setr_epi64x(0, 1, 2, 3));
        __m256d va = _mm256_maskload_pd(a + i, m);
        __m256d vb = b ? _mm256_maskload_pd(b + i, m) : va;
        _mm256_maskstore_pd(out + i, m, avx2_op_f64(op, va, vb, p));
    }
}

AG_TARGET_AVX2 static void avx2_f32(enum ag_op op, const void *a, const void *b, void *out,
                                    int64_t n, const struct act_params *p)
{
    AG_FOR_EACH_OP(op, avx2_loop_f32, a, b, out, n, p)
}

AG_TARGET_AVX2 static void avx2_f64(enum ag_op op, const void *a, const void *b, void *out,
                                    int64_t n, const struct act_params *p)
{
    AG_FOR_EACH_OP(op, avx2_loop_f64, a, b, out, n, p)
}

const ag_elementwise_fn ag_act_avx2[2] = {avx2_f32, avx2_f64};
#endif /* AG_SIMD_X86 */
