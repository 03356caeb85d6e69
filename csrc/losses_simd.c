/* losses_simd.c: softmax cross-entropy's row primitives (max, sums, grad; see losses.c and
 * ag_xent.h) for AVX-512 and AVX2 + FMA. */
#include "ag_xent.h"

#include <math.h>

#ifdef AG_SIMD_X86
/* ------------------------------------------------------------------ AVX-512 */
/* Tails use masked loads; masked-off lanes contribute -inf to the max and 0 to the sums. */

AG_TARGET_AVX512 static double avx512_max_f32(const void *px, int64_t n)
{
    const float *x = px;
    __m512 m = _mm512_set1_ps(-INFINITY), nan = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, x + i);
        m = _mm512_max_ps(m, v);
        nan = _mm512_or_ps(nan, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v));
    }
    float r = _mm512_reduce_max_ps(m);
    return isnan(_mm512_reduce_add_ps(nan)) ? NAN : r;
}

AG_TARGET_AVX512 static double avx512_max_f64(const void *px, int64_t n)
{
    const double *x = px;
    __m512d m = _mm512_set1_pd(-INFINITY), nan = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? 0xFF : (__mmask8)((1u << (n - i)) - 1u);
        __m512d v = _mm512_mask_loadu_pd(_mm512_set1_pd(-INFINITY), k, x + i);
        m = _mm512_max_pd(m, v);
        nan = _mm512_or_pd(nan, _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q), v));
    }
    double r = _mm512_reduce_max_pd(m);
    return isnan(_mm512_reduce_add_pd(nan)) ? NAN : r;
}

AG_TARGET_AVX512 static struct row_sums avx512_sums_f32(const void *px, const void *pp,
                                                        int64_t n, double m)
{
    const float *x = px, *p = pp;
    const __m512 vm = _mm512_set1_ps((float)m);
    __m512 e = _mm512_setzero_ps(), d = e, pd = e, ps = e;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 di = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + i), vm);
        e = _mm512_add_ps(e, _mm512_maskz_mov_ps(k, ag512_exp_ps(di)));
        d = _mm512_add_ps(d, di);
        if (p) {
            __m512 pi = _mm512_maskz_loadu_ps(k, p + i);
            pd = _mm512_fmadd_ps(pi, di, pd);
            ps = _mm512_add_ps(ps, pi);
        }
    }
    return (struct row_sums){_mm512_reduce_add_ps(e), _mm512_reduce_add_ps(d),
                             _mm512_reduce_add_ps(pd), _mm512_reduce_add_ps(ps)};
}

AG_TARGET_AVX512 static struct row_sums avx512_sums_f64(const void *px, const void *pp,
                                                        int64_t n, double m)
{
    const double *x = px, *p = pp;
    const __m512d vm = _mm512_set1_pd(m);
    __m512d e = _mm512_setzero_pd(), d = e, pd = e, ps = e;
    for (int64_t i = 0; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? 0xFF : (__mmask8)((1u << (n - i)) - 1u);
        __m512d di = _mm512_maskz_sub_pd(k, _mm512_maskz_loadu_pd(k, x + i), vm);
        e = _mm512_add_pd(e, _mm512_maskz_mov_pd(k, ag512_exp_pd(di)));
        d = _mm512_add_pd(d, di);
        if (p) {
            __m512d pi = _mm512_maskz_loadu_pd(k, p + i);
            pd = _mm512_fmadd_pd(pi, di, pd);
            ps = _mm512_add_pd(ps, pi);
        }
    }
    return (struct row_sums){_mm512_reduce_add_pd(e), _mm512_reduce_add_pd(d),
                             _mm512_reduce_add_pd(pd), _mm512_reduce_add_pd(ps)};
}

AG_TARGET_AVX512 static void avx512_grad_f32(const void *px, const void *pp, int64_t n,
                                             double m, double L, double a, double b, double kk,
                                             void *pout)
{
    const float *x = px, *p = pp;
    float *out = pout;
    const __m512 vm = _mm512_set1_ps((float)m), vL = _mm512_set1_ps((float)L);
    const __m512 va = _mm512_set1_ps((float)a);
    const __m512 vb = _mm512_set1_ps((float)b), vk = _mm512_set1_ps((float)kk);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 s = ag512_exp_ps(_mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm), vL));
        __m512 r = _mm512_fmsub_ps(va, s, vk);
        if (p)
            r = _mm512_fnmadd_ps(vb, _mm512_maskz_loadu_ps(k, p + i), r);
        _mm512_mask_storeu_ps(out + i, k, r);
    }
}

AG_TARGET_AVX512 static void avx512_grad_f64(const void *px, const void *pp, int64_t n,
                                             double m, double L, double a, double b, double kk,
                                             void *pout)
{
    const double *x = px, *p = pp;
    double *out = pout;
    const __m512d vm = _mm512_set1_pd(m), vL = _mm512_set1_pd(L);
    const __m512d va = _mm512_set1_pd(a);
    const __m512d vb = _mm512_set1_pd(b), vk = _mm512_set1_pd(kk);
    for (int64_t i = 0; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? 0xFF : (__mmask8)((1u << (n - i)) - 1u);
        __m512d s = ag512_exp_pd(_mm512_sub_pd(_mm512_sub_pd(_mm512_maskz_loadu_pd(k, x + i), vm), vL));
        __m512d r = _mm512_fmsub_pd(va, s, vk);
        if (p)
            r = _mm512_fnmadd_pd(vb, _mm512_maskz_loadu_pd(k, p + i), r);
        _mm512_mask_storeu_pd(out + i, k, r);
    }
}
/* ------------------------------------------------------------------ AVX2 + FMA */
/* Tails use maskload/maskstore (masked-off lanes are neither read nor written, and are blended
 * to -inf for the max and to 0 for the sums). */

AG_TARGET_AVX2 static inline __m256i avx2_mask32(int64_t left)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left < 8 ? left : 8)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AG_TARGET_AVX2 static inline __m256i avx2_mask64(int64_t left)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(left < 4 ? left : 4), _mm256_setr_epi64x(0, 1, 2, 3));
}

AG_TARGET_AVX2 static double avx2_max_f32(const void *px, int64_t n)
{
    const float *x = px;
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m = ninf, nan = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        __m256i k = avx2_mask32(n - i);
        __m256 v = _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + i, k), _mm256_castsi256_ps(k));
        m = _mm256_max_ps(m, v);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    float r = lanes[0];
    for (int j = 1; j < 8; j++)
        r = lanes[j] > r ? lanes[j] : r;
    return _mm256_movemask_ps(nan) ? NAN : r;
}

AG_TARGET_AVX2 static double avx2_max_f64(const void *px, int64_t n)
{
    const double *x = px;
    const __m256d ninf = _mm256_set1_pd(-INFINITY);
    __m256d m = ninf, nan = _mm256_setzero_pd();
    for (int64_t i = 0; i < n; i += 4) {
        __m256i k = avx2_mask64(n - i);
        __m256d v = _mm256_blendv_pd(ninf, _mm256_maskload_pd(x + i, k), _mm256_castsi256_pd(k));
        m = _mm256_max_pd(m, v);
        nan = _mm256_or_pd(nan, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, m);
    double r = lanes[0];
    for (int j = 1; j < 4; j++)
        r = lanes[j] > r ? lanes[j] : r;
    return _mm256_movemask_pd(nan) ? NAN : r;
}

AG_TARGET_AVX2 static double avx2_hsum_ps(__m256 v)
{
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    double r = 0.0;
    for (int j = 0; j < 8; j++)
        r += lanes[j];
    return r;
}

AG_TARGET_AVX2 static double avx2_hsum_pd(__m256d v)
{
    double lanes[4];
    _mm256_storeu_pd(lanes, v);
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

AG_TARGET_AVX2 static struct row_sums avx2_sums_f32(const void *px, const void *pp, int64_t n,
                                                    double m)
{
    const float *x = px, *p = pp;
    const __m256 vm = _mm256_set1_ps((float)m);
    __m256 e = _mm256_setzero_ps(), d = e, pd = e, ps = e;
    for (int64_t i = 0; i < n; i += 8) {
        __m256i k = avx2_mask32(n - i);
        __m256 kf = _mm256_castsi256_ps(k);
        __m256 di = _mm256_and_ps(kf, _mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm));
        e = _mm256_add_ps(e, _mm256_and_ps(kf, ag256_exp_ps(di)));
        d = _mm256_add_ps(d, di);
        if (p) {
            __m256 pi = _mm256_maskload_ps(p + i, k);
            pd = _mm256_fmadd_ps(pi, di, pd);
            ps = _mm256_add_ps(ps, pi);
        }
    }
    return (struct row_sums){avx2_hsum_ps(e), avx2_hsum_ps(d), avx2_hsum_ps(pd), avx2_hsum_ps(ps)};
}

AG_TARGET_AVX2 static struct row_sums avx2_sums_f64(const void *px, const void *pp, int64_t n,
                                                    double m)
{
    const double *x = px, *p = pp;
    const __m256d vm = _mm256_set1_pd(m);
    __m256d e = _mm256_setzero_pd(), d = e, pd = e, ps = e;
    for (int64_t i = 0; i < n; i += 4) {
        __m256i k = avx2_mask64(n - i);
        __m256d kf = _mm256_castsi256_pd(k);
        __m256d di = _mm256_and_pd(kf, _mm256_sub_pd(_mm256_maskload_pd(x + i, k), vm));
        e = _mm256_add_pd(e, _mm256_and_pd(kf, ag256_exp_pd(di)));
        d = _mm256_add_pd(d, di);
        if (p) {
            __m256d pi = _mm256_maskload_pd(p + i, k);
            pd = _mm256_fmadd_pd(pi, di, pd);
            ps = _mm256_add_pd(ps, pi);
        }
    }
    return (struct row_sums){avx2_hsum_pd(e), avx2_hsum_pd(d), avx2_hsum_pd(pd), avx2_hsum_pd(ps)};
}

AG_TARGET_AVX2 static void avx2_grad_f32(const void *px, const void *pp, int64_t n, double m,
                                         double L, double a, double b, double kk, void *pout)
{
    const float *x = px, *p = pp;
    float *out = pout;
    const __m256 vm = _mm256_set1_ps((float)m), vL = _mm256_set1_ps((float)L);
    const __m256 va = _mm256_set1_ps((float)a), vb = _mm256_set1_ps((float)b);
    const __m256 vk = _mm256_set1_ps((float)kk);
    for (int64_t i = 0; i < n; i += 8) {
        __m256i k = avx2_mask32(n - i);
        __m256 s = ag256_exp_ps(_mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm), vL));
        __m256 r = _mm256_fmsub_ps(va, s, vk);
        if (p)
            r = _mm256_fnmadd_ps(vb, _mm256_maskload_ps(p + i, k), r);
        _mm256_maskstore_ps(out + i, k, r);
    }
}

AG_TARGET_AVX2 static void avx2_grad_f64(const void *px, const void *pp, int64_t n, double m,
                                         double L, double a, double b, double kk, void *pout)
{
    const double *x = px, *p = pp;
    double *out = pout;
    const __m256d vm = _mm256_set1_pd(m), vL = _mm256_set1_pd(L);
    const __m256d va = _mm256_set1_pd(a), vb = _mm256_set1_pd(b), vk = _mm256_set1_pd(kk);
    for (int64_t i = 0; i < n; i += 4) {
        __m256i k = avx2_mask64(n - i);
        __m256d s = ag256_exp_pd(_mm256_sub_pd(_mm256_sub_pd(_mm256_maskload_pd(x + i, k), vm), vL));
        __m256d r = _mm256_fmsub_pd(va, s, vk);
        if (p)
            r = _mm256_fnmadd_pd(vb, _mm256_maskload_pd(p + i, k), r);
        _mm256_maskstore_pd(out + i, k, r);
    }
}

const struct row_kernels ag_xent_rows_avx512[2] = {
    {avx512_max_f32, avx512_sums_f32, avx512_grad_f32},
    {avx512_max_f64, avx512_sums_f64, avx512_grad_f64},
};
const struct row_kernels ag_xent_rows_avx2[2] = {
    {avx2_max_f32, avx2_sums_f32, avx2_grad_f32},
    {avx2_max_f64, avx2_sums_f64, avx2_grad_f64},
};
#endif /* AG_SIMD_X86 */
