/* gemm_kernels.c: gemm.c's micro-kernels, one MR x NR kernel per instruction set and type
 * (portable C, AVX2 + FMA, AVX-512), the scalar store that edge tiles go through, and the table
 * of blocking sizes that gemm.c dispatches on (see gemm.c for the loops around them).
 */
#include "gemm_internal.h"

#include <math.h>

/* ------------------------------------------------------------------ scalar stores */

/* One body per type; the SIMD tables use a copy compiled with FMA, so fmaf is an instruction
 * there instead of a libm call (the result is the same: fma rounds once either way). */
static inline __attribute__((always_inline)) void
store_body_f32(int64_t mr, int64_t nr, const float *ab, int64_t ldab, float *c, int64_t rsc,
               int64_t csc, float alpha, const float *beta)
{
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++) {
            float t = alpha * ab[i * ldab + j];
            float *cij = c + i * rsc + j * csc;
            *cij = beta ? fmaf(*beta, *cij, t) : t;
        }
}

static inline __attribute__((always_inline)) void
store_body_f64(int64_t mr, int64_t nr, const double *ab, int64_t ldab, double *c, int64_t rsc,
               int64_t csc, double alpha, const double *beta)
{
    for (int64_t i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++) {
            double t = alpha * ab[i * ldab + j];
            double *cij = c + i * rsc + j * csc;
            *cij = beta ? fma(*beta, *cij, t) : t;
        }
}

static void store_f32(int64_t mr, int64_t nr, const void *ab, int64_t ldab, void *c,
                      int64_t rsc, int64_t csc, const void *alpha, const void *beta)
{
    store_body_f32(mr, nr, ab, ldab, c, rsc, csc, *(const float *)alpha, beta);
}

static void store_f64(int64_t mr, int64_t nr, const void *ab, int64_t ldab, void *c,
                      int64_t rsc, int64_t csc, const void *alpha, const void *beta)
{
    store_body_f64(mr, nr, ab, ldab, c, rsc, csc, *(const double *)alpha, beta);
}

#ifdef AG_SIMD_X86
AG_TARGET_AVX2 static void store_fma_f32(int64_t mr, int64_t nr, const void *ab, int64_t ldab,
                                         void *c, int64_t rsc, int64_t csc, const void *alpha,
                                         const void *beta)
{
    store_body_f32(mr, nr, ab, ldab, c, rsc, csc, *(const float *)alpha, beta);
}

AG_TARGET_AVX2 static void store_fma_f64(int64_t mr, int64_t nr, const void *ab, int64_t ldab,
                                         void *c, int64_t rsc, int64_t csc, const void *alpha,
                                         const void *beta)
{
    store_body_f64(mr, nr, ab, ldab, c, rsc, csc, *(const double *)alpha, beta);
}
#endif

/* ------------------------------------------------------------------ portable micro-kernels */

#define AG_PORTABLE_MR 4
#define AG_PORTABLE_NR 8

static void micro_portable_f32(int64_t kc, const void *pa, const void *pb, void *c, int64_t ldc,
                               const void *alpha, const void *beta)
{
    const float *a = pa, *b = pb;
    float ab[AG_PORTABLE_MR * AG_PORTABLE_NR] = {0};
    for (int64_t p = 0; p < kc; p++, a += AG_PORTABLE_MR, b += AG_PORTABLE_NR)
        for (int i = 0; i < AG_PORTABLE_MR; i++)
            for (int j = 0; j < AG_PORTABLE_NR; j++)
                ab[i * AG_PORTABLE_NR + j] += a[i] * b[j];
    store_f32(AG_PORTABLE_MR, AG_PORTABLE_NR, ab, AG_PORTABLE_NR, c, ldc, 1, alpha, beta);
}

static void micro_portable_f64(int64_t kc, const void *pa, const void *pb, void *c, int64_t ldc,
                               const void *alpha, const void *beta)
{
    const double *a = pa, *b = pb;
    double ab[AG_PORTABLE_MR * AG_PORTABLE_NR] = {0};
    for (int64_t p = 0; p < kc; p++, a += AG_PORTABLE_MR, b += AG_PORTABLE_NR)
        for (int i = 0; i < AG_PORTABLE_MR; i++)
            for (int j = 0; j < AG_PORTABLE_NR; j++)
                ab[i * AG_PORTABLE_NR + j] += a[i] * b[j];
    store_f64(AG_PORTABLE_MR, AG_PORTABLE_NR, ab, AG_PORTABLE_NR, c, ldc, 1, alpha, beta);
}

#ifdef AG_SIMD_X86
/* ------------------------------------------------------------------ AVX-512 micro-kernels */

/* 12 x 32 floats: 24 zmm accumulators, two B vectors and one broadcast per row and step. */
AG_TARGET_AVX512 static void micro_avx512_f32(int64_t kc, const void *pa, const void *pb,
                                              void *pc, int64_t ldc, const void *alpha,
                                              const void *beta)
{
    enum { MR = 12 };
    const float *a = pa, *b = pb;
    float *c = pc;
    __m512 lo[MR], hi[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
        lo[i] = hi[i] = _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)  /* C's lines arrive while the loop runs */
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0),
        _mm_prefetch((const char *)(c + i * ldc + 31), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++, a += MR, b += 32) {
        _mm_prefetch((const char *)(b + 32 * 8), _MM_HINT_T0);  /* B streams from L2 */
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            lo[i] = _mm512_fmadd_ps(ai, b0, lo[i]);
            hi[i] = _mm512_fmadd_ps(ai, b1, hi[i]);
        }
    }
    const __m512 va = _mm512_set1_ps(*(const float *)alpha);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        __m512 t0 = _mm512_mul_ps(va, lo[i]), t1 = _mm512_mul_ps(va, hi[i]);
        if (beta) {
            const __m512 vb = _mm512_set1_ps(*(const float *)beta);
            t0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), t0);
            t1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), t1);
        }
        _mm512_storeu_ps(ci, t0);
        _mm512_storeu_ps(ci + 16, t1);
    }
}

/* 12 x 16 doubles. */
AG_TARGET_AVX512 static void micro_avx512_f64(int64_t kc, const void *pa, const void *pb,
                                              void *pc, int64_t ldc, const void *alpha,
                                              const void *beta)
{
    enum { MR = 12 };
    const double *a = pa, *b = pb;
    double *c = pc;
    __m512d lo[MR], hi[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
        lo[i] = hi[i] = _mm512_setzero_pd();
    for (int64_t p = 0; p < kc; p++, a += MR, b += 16) {
        const __m512d b0 = _mm512_load_pd(b), b1 = _mm512_load_pd(b + 8);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            const __m512d ai = _mm512_set1_pd(a[i]);
            lo[i] = _mm512_fmadd_pd(ai, b0, lo[i]);
            hi[i] = _mm512_fmadd_pd(ai, b1, hi[i]);
        }
    }
    const __m512d va = _mm512_set1_pd(*(const double *)alpha);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        double *ci = c + i * ldc;
        __m512d t0 = _mm512_mul_pd(va, lo[i]), t1 = _mm512_mul_pd(va, hi[i]);
        if (beta) {
            const __m512d vb = _mm512_set1_pd(*(const double *)beta);
            t0 = _mm512_fmadd_pd(vb, _mm512_loadu_pd(ci), t0);
            t1 = _mm512_fmadd_pd(vb, _mm512_loadu_pd(ci + 8), t1);
        }
        _mm512_storeu_pd(ci, t0);
        _mm512_storeu_pd(ci + 8, t1);
    }
}

/* ------------------------------------------------------------------ AVX2 + FMA micro-kernels */

/* 6 x 16 floats: 12 ymm accumulators (BLIS's Haswell shape). */
AG_TARGET_AVX2 static void micro_avx2_f32(int64_t kc, const void *pa, const void *pb, void *pc,
                                          int64_t ldc, const void *alpha, const void *beta)
{
    enum { MR = 6 };
    const float *a = pa, *b = pb;
    float *c = pc;
    __m256 lo[MR], hi[MR];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
        lo[i] = hi[i] = _mm256_setzero_ps();
    for (int64_t p = 0; p < kc; p++, a += MR, b += 16) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            lo[i] = _mm256_fmadd_ps(ai, b0, lo[i]);
            hi[i] = _mm256_fmadd_ps(ai, b1, hi[i]);
        }
    }
    const __m256 va = _mm256_set1_ps(*(const float *)alpha);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        float *ci = c + i * ldc;
        __m256 t0 = _mm256_mul_ps(va, lo[i]), t1 = _mm256_mul_ps(va, hi[i]);
        if (beta) {
            const __m256 vb = _mm256_set1_ps(*(const float *)beta);
            t0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), t0);
            t1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), t1);
        }
        _mm256_storeu_ps(ci, t0);
        _mm256_storeu_ps(ci + 8, t1);
    }
}

/* 6 x 8 doubles. */
AG_TARGET_AVX2 static void micro_avx2_f64(int64_t kc, const void *pa, const void *pb, void *pc,
                                          int64_t ldc, const void *alpha, const void *beta)
{
    enum { MR = 6 };
    const double *a = pa, *b = pb;
    double *c = pc;
    __m256d lo[MR], hi[MR];
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++)
        lo[i] = hi[i] = _mm256_setzero_pd();
    for (int64_t p = 0; p < kc; p++, a += MR, b += 8) {
        const __m256d b0 = _mm256_load_pd(b), b1 = _mm256_load_pd(b + 4);
#pragma GCC unroll 6
        for (int i = 0; i < MR; i++) {
            const __m256d ai = _mm256_broadcast_sd(a + i);
            lo[i] = _mm256_fmadd_pd(ai, b0, lo[i]);
            hi[i] = _mm256_fmadd_pd(ai, b1, hi[i]);
        }
    }
    const __m256d va = _mm256_set1_pd(*(const double *)alpha);
#pragma GCC unroll 6
    for (int i = 0; i < MR; i++) {
        double *ci = c + i * ldc;
        __m256d t0 = _mm256_mul_pd(va, lo[i]), t1 = _mm256_mul_pd(va, hi[i]);
        if (beta) {
            const __m256d vb = _mm256_set1_pd(*(const double *)beta);
            t0 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(ci), t0);
            t1 = _mm256_fmadd_pd(vb, _mm256_loadu_pd(ci + 4), t1);
        }
        _mm256_storeu_pd(ci, t0);
        _mm256_storeu_pd(ci + 4, t1);
    }
}
#endif /* AG_SIMD_X86 */

/* ------------------------------------------------------------------ kernel table */

/* KC: MR x KC of A is ~18 KiB (L1); NC: KC x NC of B is ~0.5-0.7 MiB (L2); MC: A block in L3. */
const struct ag_gemm_kernel ag_gemm_kernels[3][2] = {
    [AG_ISA_PORTABLE] = {
        {AG_PORTABLE_MR, AG_PORTABLE_NR, 256, 512, 512, sizeof(float), micro_portable_f32, store_f32},
        {AG_PORTABLE_MR, AG_PORTABLE_NR, 256, 512, 256, sizeof(double), micro_portable_f64, store_f64},
    },
#ifdef AG_SIMD_X86
    [AG_ISA_AVX2] = {
        {6, 16, 384, 1536, 384, sizeof(float), micro_avx2_f32, store_fma_f32},
        {6, 8, 256, 1536, 256, sizeof(double), micro_avx2_f64, store_fma_f64},
    },
    [AG_ISA_AVX512] = {
        {12, 32, 384, 1536, 384, sizeof(float), micro_avx512_f32, store_fma_f32},
        {12, 16, 192, 1536, 384, sizeof(double), micro_avx512_f64, store_fma_f64},
    },
#endif
};
