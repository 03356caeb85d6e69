/* ag_simd.h: internal to csrc/ (not part of the cffi cdef). Target attributes for the
 * run-time dispatched SIMD code, the vector exponentials the kernel families share, and a
 * jump-free select for the portable loops.
 *
 * exp and expm1 use one scheme per ISA, the same arithmetic for AVX2 and AVX-512 so the two
 * give bitwise identical results:
 *   t = n ln2 + r, n = round(t log2e), |r| <= ln2/2 (Cody-Waite split of ln2, with FMA);
 *   expm1(r) = r + r^2 (1/2! + r/3! + ... ) by its Taylor series, degree 7 for float and
 *   13 for double. Lagrange's remainder bounds the truncation by |r|^(d+1)/(d+1)! e^|r|:
 *   7.6e-9 (float) and 6e-18 (double) relative to e^r, i.e. < 0.1 ulp; Horner with FMA adds
 *   about one rounding, so the results are within ~1.5 ulp (measured by the tests).
 *   e^t = 2^n (1 + expm1(r)) is scaled with a single rounding, also into the subnormals.
 */
#ifndef AG_SIMD_H
#define AG_SIMD_H

/* x_bits where `take` (0 or 1), else y_bits, in the unsigned type U: a select on a comparison
 * with no jump, which gcc vectorises (written as `take ? x : y` on unpredictable data, gcc
 * branched; used by the portable activation and pooling loops on the values' bits). */
#define AG_PICK_BITS(U, take, x_bits, y_bits) ((y_bits) ^ (((y_bits) ^ (x_bits)) & ((U)0 - (U)(take))))

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define AG_SIMD_X86 1
#include <immintrin.h>

#define AG_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define AG_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw")))

/* Range reduction constants. ln2 = HI + LO, HI with trailing zero bits. */
#define AG_LOG2E_F 0x1.715476p+0f
#define AG_LN2_HI_F 0x1.62ep-1f
#define AG_LN2_LO_F 0x1.0bfbe8p-15f
#define AG_LOG2E_D 0x1.71547652b82fep+0
#define AG_LN2_HI_D 0x1.62e42fee00000p-1
#define AG_LN2_LO_D 0x1.a39ef35793c76p-33

/* Clamps: below EXP_MIN e^t rounds to 0, above EXP_MAX to +inf; below EXPM1_MIN expm1(t)
 * rounds to -1. They keep n small enough that 2^n splits into two normal factors. */
#define AG_EXP_MIN_F -104.0f
#define AG_EXP_MAX_F 89.0f
#define AG_EXPM1_MIN_F -20.0f
#define AG_EXP_MIN_D -746.0
#define AG_EXP_MAX_D 710.0
#define AG_EXPM1_MIN_D -40.0

/* ------------------------------------------------------------------ AVX-512, float */

AG_TARGET_AVX512 static inline __m512 ag512_reduce_ps(__m512 t, __m512 *n)
{
    *n = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(AG_LOG2E_F)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(*n, _mm512_set1_ps(AG_LN2_HI_F), t);
    return _mm512_fnmadd_ps(*n, _mm512_set1_ps(AG_LN2_LO_F), r);
}

AG_TARGET_AVX512 static inline __m512 ag512_expm1_reduced_ps(__m512 r)
{
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    return _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
}

/* e^t for every t; NaN stays NaN (max/min return their second operand when unordered). */
AG_TARGET_AVX512 static inline __m512 ag512_exp_ps(__m512 t)
{
    t = _mm512_max_ps(_mm512_set1_ps(AG_EXP_MIN_F), t);
    t = _mm512_min_ps(_mm512_set1_ps(AG_EXP_MAX_F), t);
    __m512 n;
    __m512 r = ag512_reduce_ps(t, &n);
    __m512 p = _mm512_add_ps(_mm512_set1_ps(1.0f), ag512_expm1_reduced_ps(r));
    return _mm512_scalef_ps(p, n);
}

/* expm1(t) for t <= 0 (and NaN); no cancellation near 0. */
AG_TARGET_AVX512 static inline __m512 ag512_expm1_neg_ps(__m512 t)
{
    t = _mm512_max_ps(_mm512_set1_ps(AG_EXPM1_MIN_F), t);
    __m512 n;
    __m512 r = ag512_reduce_ps(t, &n);
    __m512 s = _mm512_scalef_ps(_mm512_set1_ps(1.0f), n);
    return _mm512_fmadd_ps(s, ag512_expm1_reduced_ps(r), _mm512_sub_ps(s, _mm512_set1_ps(1.0f)));
}

/* expm1(-2u) for u >= 0 (and NaN): tanh's m, bit for bit ag512_expm1_neg_ps(-2 u) without the
 * multiplication by -2 at the head of the dependency chain (tanh in L1: 0.169 -> 0.152 ns an
 * element, and 0.153 against numpy's 0.164 in L2). Every value of that evaluation is a value of
 * this one times a power of two, and scaling by 2^k commutes with rounding: with t = -2u,
 * r = -2r', its Horner partials p_j = q_j / (-2)^(j+1) and 2^n = s2 / -2,
 *   n  = round(u (-2 log2e))              (= round(t log2e): -2 log2e is exact)
 *   r' = u + n ln2/2 (Cody-Waite)         (r = t - n ln2)
 *   q_j = q_(j+1) r' + (-2)^(j+1) c_j     (p_j = p_(j+1) r + c_j, c_j = 1/(j+2)!)
 *   e' = q_0 r'^2 + r'                    (expm1(r) = p_0 r^2 + r = -2 e')
 *   m  = s2 e' + (s2 (-1/2) - 1)          (s expm1(r) + (s - 1))
 * and the clamp min(10, u) keeps a NaN as max(-20, t) did. All 2^32 inputs give the same bits
 * as before; the tests hold AVX2 (the unscaled form) and AVX-512 to the same bits. */
AG_TARGET_AVX512 static inline __m512 ag512_expm1_neg2_ps(__m512 u)
{
    u = _mm512_min_ps(_mm512_set1_ps(-0.5f * AG_EXPM1_MIN_F), u);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(u, _mm512_set1_ps(-2.0f * AG_LOG2E_F)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(0.5f * AG_LN2_HI_F), u);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(0.5f * AG_LN2_LO_F), r);
    __m512 q = _mm512_set1_ps(64.0f * (1.0f / 5040));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(-32.0f * (1.0f / 720)));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(16.0f * (1.0f / 120)));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(-8.0f * (1.0f / 24)));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(4.0f * (1.0f / 6)));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(-2.0f * 0.5f));
    __m512 e = _mm512_fmadd_ps(q, _mm512_mul_ps(r, r), r);
    __m512 s2 = _mm512_scalef_ps(_mm512_set1_ps(-2.0f), n);
    __m512 s_minus_1 = _mm512_fmadd_ps(s2, _mm512_set1_ps(-0.5f), _mm512_set1_ps(-1.0f));
    return _mm512_fmadd_ps(s2, e, s_minus_1);
}

/* ------------------------------------------------------------------ AVX-512, double */

AG_TARGET_AVX512 static inline __m512d ag512_reduce_pd(__m512d t, __m512d *n)
{
    *n = _mm512_roundscale_pd(_mm512_mul_pd(t, _mm512_set1_pd(AG_LOG2E_D)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d r = _mm512_fnmadd_pd(*n, _mm512_set1_pd(AG_LN2_HI_D), t);
    return _mm512_fnmadd_pd(*n, _mm512_set1_pd(AG_LN2_LO_D), r);
}

AG_TARGET_AVX512 static inline __m512d ag512_expm1_reduced_pd(__m512d r)
{
    __m512d p = _mm512_set1_pd(1.0 / 6227020800.0);              /* 1/13! */
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 479001600.0));  /* 1/12! */
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 39916800.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 3628800.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 362880.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 40320.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 5040.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 720.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 120.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 24.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(1.0 / 6.0));
    p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(0.5));
    return _mm512_fmadd_pd(p, _mm512_mul_pd(r, r), r);
}

AG_TARGET_AVX512 static inline __m512d ag512_exp_pd(__m512d t)
{
    t = _mm512_max_pd(_mm512_set1_pd(AG_EXP_MIN_D), t);
    t = _mm512_min_pd(_mm512_set1_pd(AG_EXP_MAX_D), t);
    __m512d n;
    __m512d r = ag512_reduce_pd(t, &n);
    __m512d p = _mm512_add_pd(_mm512_set1_pd(1.0), ag512_expm1_reduced_pd(r));
    return _mm512_scalef_pd(p, n);
}

AG_TARGET_AVX512 static inline __m512d ag512_expm1_neg_pd(__m512d t)
{
    t = _mm512_max_pd(_mm512_set1_pd(AG_EXPM1_MIN_D), t);
    __m512d n;
    __m512d r = ag512_reduce_pd(t, &n);
    __m512d s = _mm512_scalef_pd(_mm512_set1_pd(1.0), n);
    return _mm512_fmadd_pd(s, ag512_expm1_reduced_pd(r), _mm512_sub_pd(s, _mm512_set1_pd(1.0)));
}

/* ------------------------------------------------------------------ AVX2, float */

/* 2^k for integral k in [-126, 127]: k + 127 lands in the low mantissa bits of
 * k + (0x1.8p23 + 127); shifting them into the exponent field builds 2^k. */
AG_TARGET_AVX2 static inline __m256 ag256_pow2i_ps(__m256 k)
{
    __m256i bits = _mm256_castps_si256(_mm256_add_ps(k, _mm256_set1_ps(0x1.8p23f + 127.0f)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(bits, 23));
}

/* p 2^n rounded once, like AVX-512's scalef: 2^n = 2^n1 2^n2 with both factors normal for
 * the clamped n, p 2^n1 is exact, and the second product rounds (into subnormals too). */
AG_TARGET_AVX2 static inline __m256 ag256_scale_ps(__m256 p, __m256 n)
{
    __m256 n1 = _mm256_floor_ps(_mm256_mul_ps(n, _mm256_set1_ps(0.5f)));
    __m256 n2 = _mm256_sub_ps(n, n1);
    return _mm256_mul_ps(_mm256_mul_ps(p, ag256_pow2i_ps(n1)), ag256_pow2i_ps(n2));
}

AG_TARGET_AVX2 static inline __m256 ag256_reduce_ps(__m256 t, __m256 *n)
{
    *n = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(AG_LOG2E_F)),
                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(*n, _mm256_set1_ps(AG_LN2_HI_F), t);
    return _mm256_fnmadd_ps(*n, _mm256_set1_ps(AG_LN2_LO_F), r);
}

AG_TARGET_AVX2 static inline __m256 ag256_expm1_reduced_ps(__m256 r)
{
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    return _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
}

AG_TARGET_AVX2 static inline __m256 ag256_exp_ps(__m256 t)
{
    t = _mm256_max_ps(_mm256_set1_ps(AG_EXP_MIN_F), t);
    t = _mm256_min_ps(_mm256_set1_ps(AG_EXP_MAX_F), t);
    __m256 n;
    __m256 r = ag256_reduce_ps(t, &n);
    __m256 p = _mm256_add_ps(_mm256_set1_ps(1.0f), ag256_expm1_reduced_ps(r));
    return ag256_scale_ps(p, n);
}

AG_TARGET_AVX2 static inline __m256 ag256_expm1_neg_ps(__m256 t)
{
    t = _mm256_max_ps(_mm256_set1_ps(AG_EXPM1_MIN_F), t);
    __m256 n;
    __m256 r = ag256_reduce_ps(t, &n);
    __m256 s = ag256_pow2i_ps(n);
    return _mm256_fmadd_ps(s, ag256_expm1_reduced_ps(r), _mm256_sub_ps(s, _mm256_set1_ps(1.0f)));
}

/* ------------------------------------------------------------------ AVX2, double */

/* 2^k for integral k in [-1022, 1023], as ag256_pow2i_ps. */
AG_TARGET_AVX2 static inline __m256d ag256_pow2i_pd(__m256d k)
{
    __m256i bits = _mm256_castpd_si256(_mm256_add_pd(k, _mm256_set1_pd(0x1.8p52 + 1023.0)));
    return _mm256_castsi256_pd(_mm256_slli_epi64(bits, 52));
}

AG_TARGET_AVX2 static inline __m256d ag256_scale_pd(__m256d p, __m256d n)
{
    __m256d n1 = _mm256_floor_pd(_mm256_mul_pd(n, _mm256_set1_pd(0.5)));
    __m256d n2 = _mm256_sub_pd(n, n1);
    return _mm256_mul_pd(_mm256_mul_pd(p, ag256_pow2i_pd(n1)), ag256_pow2i_pd(n2));
}

AG_TARGET_AVX2 static inline __m256d ag256_reduce_pd(__m256d t, __m256d *n)
{
    *n = _mm256_round_pd(_mm256_mul_pd(t, _mm256_set1_pd(AG_LOG2E_D)),
                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fnmadd_pd(*n, _mm256_set1_pd(AG_LN2_HI_D), t);
    return _mm256_fnmadd_pd(*n, _mm256_set1_pd(AG_LN2_LO_D), r);
}

AG_TARGET_AVX2 static inline __m256d ag256_expm1_reduced_pd(__m256d r)
{
    __m256d p = _mm256_set1_pd(1.0 / 6227020800.0);
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 479001600.0));
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 39916800.0));
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 3628800.0));
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 362880.0));
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 40320.0));
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 5040.0));
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 720.0));
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 120.0));
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 24.0));
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(1.0 / 6.0));
    p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(0.5));
    return _mm256_fmadd_pd(p, _mm256_mul_pd(r, r), r);
}

AG_TARGET_AVX2 static inline __m256d ag256_exp_pd(__m256d t)
{
    t = _mm256_max_pd(_mm256_set1_pd(AG_EXP_MIN_D), t);
    t = _mm256_min_pd(_mm256_set1_pd(AG_EXP_MAX_D), t);
    __m256d n;
    __m256d r = ag256_reduce_pd(t, &n);
    __m256d p = _mm256_add_pd(_mm256_set1_pd(1.0), ag256_expm1_reduced_pd(r));
    return ag256_scale_pd(p, n);
}

AG_TARGET_AVX2 static inline __m256d ag256_expm1_neg_pd(__m256d t)
{
    t = _mm256_max_pd(_mm256_set1_pd(AG_EXPM1_MIN_D), t);
    __m256d n;
    __m256d r = ag256_reduce_pd(t, &n);
    __m256d s = ag256_pow2i_pd(n);
    return _mm256_fmadd_pd(s, ag256_expm1_reduced_pd(r), _mm256_sub_pd(s, _mm256_set1_pd(1.0)));
}

#endif /* x86-64 */
#endif /* AG_SIMD_H */
