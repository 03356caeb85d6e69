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

/* A 12-row panel (12 packed values per step) times a 32-float (16-double) B panel: the first R
 * rows (R = 4, 8 or 12) and NV vectors (1 or 2) computed, constants after inlining so the
 * accumulators stay in registers, and the first `rows` x `cols` of them stored (masked stores:
 * an edge tile goes straight into C). A tile of 32 rows in 12-row panels ends in one of 8 and
 * costs 8 rows of work, not 12; 784 columns end in a panel of 16 that costs one vector, not
 * two. Each element is the same sequence of FMAs (then alpha * ab, then fma(beta, c, .))
 * whatever R and NV are, so an edge tile's bits equal a full one's. */
#define MICRO_AVX512(T, V, W, M, SET1, ZERO, LOAD, MLOADZ, MSTORE, MUL, FMA)                    \
    enum { MR = 12 };                                                                      \
    const T *a = pa, *b = pb;                                                              \
    T *c = pc;                                                                             \
    const M m0 = cols >= W ? (M)-1 : (M)((1u << cols) - 1);                                \
    const M m1 = cols >= 2 * W ? (M)-1 : cols > W ? (M)((1u << (cols - W)) - 1) : (M)0;    \
    V lo[MR], hi[MR];                                                                      \
    _Pragma("GCC unroll 12") for (int i = 0; i < R; i++) lo[i] = hi[i] = ZERO();           \
    _Pragma("GCC unroll 12") for (int i = 0; i < R; i++) if (i < rows) /* C's lines arrive \
        while the loop runs */                                                             \
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0),                            \
        _mm_prefetch((const char *)(c + i * ldc + cols - 1), _MM_HINT_T0);                 \
    _Pragma("GCC unroll 4") for (int64_t p = 0; p < kc; p++, a += MR, b += 2 * W) {        \
        _mm_prefetch((const char *)(b + 2 * W * 8), _MM_HINT_T0); /* B streams from L2 */  \
        const V b0 = LOAD(b), b1 = NV == 2 ? LOAD(b + W) : ZERO();                         \
        _Pragma("GCC unroll 12") for (int i = 0; i < R; i++) {                             \
            const V ai = SET1(a[i]);                                                       \
            lo[i] = FMA(ai, b0, lo[i]);                                                    \
            if (NV == 2)                                                                   \
                hi[i] = FMA(ai, b1, hi[i]);                                                \
        }                                                                                  \
    }                                                                                      \
    const V va = SET1(*(const T *)alpha);                                                  \
    _Pragma("GCC unroll 12") for (int i = 0; i < R; i++) if (i < rows) {                   \
        T *ci = c + i * ldc;                                                               \
        V t0 = MUL(va, lo[i]), t1 = MUL(va, hi[i]);                                        \
        if (beta) {                                                                        \
            const V vb = SET1(*(const T *)beta);                                           \
            t0 = FMA(vb, MLOADZ(m0, ci), t0);                                              \
            if (NV == 2)                                                                   \
                t1 = FMA(vb, MLOADZ(m1, ci + W), t1);                                      \
        }                                                                                  \
        MSTORE(ci, m0, t0);                                                                \
        if (NV == 2)                                                                       \
            MSTORE(ci + W, m1, t1);                                                        \
    }

AG_TARGET_AVX512 static inline __attribute__((always_inline)) void
tile_avx512_f32(const int R, const int NV, int64_t rows, int64_t cols, int64_t kc, const void *pa,
                const void *pb, void *pc, int64_t ldc, const void *alpha, const void *beta)
{
    MICRO_AVX512(float, __m512, 16, __mmask16, _mm512_set1_ps, _mm512_setzero_ps, _mm512_load_ps,
                 _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps, _mm512_mul_ps, _mm512_fmadd_ps)
}

AG_TARGET_AVX512 static inline __attribute__((always_inline)) void
tile_avx512_f64(const int R, const int NV, int64_t rows, int64_t cols, int64_t kc, const void *pa,
                const void *pb, void *pc, int64_t ldc, const void *alpha, const void *beta)
{
    MICRO_AVX512(double, __m512d, 8, __mmask8, _mm512_set1_pd, _mm512_setzero_pd, _mm512_load_pd,
                 _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd, _mm512_mul_pd, _mm512_fmadd_pd)
}
#undef MICRO_AVX512

/* The edge tile's instantiation: the fewest rows (4, 8, 12) and vectors (1, 2) that cover it. */
#define PART_AVX512(TILE, W)                                                                   \
    if (cols <= W) {                                                                       \
        if (rows <= 4) TILE(4, 1, rows, cols, kc, a, b, c, ldc, alpha, beta);             \
        else if (rows <= 8) TILE(8, 1, rows, cols, kc, a, b, c, ldc, alpha, beta);        \
        else TILE(12, 1, rows, cols, kc, a, b, c, ldc, alpha, beta);                      \
    } else {                                                                               \
        if (rows <= 4) TILE(4, 2, rows, cols, kc, a, b, c, ldc, alpha, beta);             \
        else if (rows <= 8) TILE(8, 2, rows, cols, kc, a, b, c, ldc, alpha, beta);        \
        else TILE(12, 2, rows, cols, kc, a, b, c, ldc, alpha, beta);                      \
    }

/* Per type, the full tile (12 x 32 floats or 12 x 16 doubles: 24 zmm accumulators, two B
 * vectors and one broadcast per row and step) and the edge tiles. */
#define AVX512_KERNELS(SUFFIX, W)                                                              \
    AG_TARGET_AVX512 static void micro_avx512_##SUFFIX(int64_t kc, const void *a, const void *b, \
                                                       void *c, int64_t ldc, const void *alpha, \
                                                       const void *beta)                   \
    {                                                                                      \
        tile_avx512_##SUFFIX(12, 2, 12, 2 * W, kc, a, b, c, ldc, alpha, beta);             \
    }                                                                                      \
    AG_TARGET_AVX512 static void part_avx512_##SUFFIX(int64_t rows, int64_t cols, int64_t kc, \
                                                      const void *a, const void *b, void *c, \
                                                      int64_t ldc, const void *alpha,     \
                                                      const void *beta)                   \
    {                                                                                      \
        PART_AVX512(tile_avx512_##SUFFIX, W)                                               \
    }
AVX512_KERNELS(f32, 16)
AVX512_KERNELS(f64, 8)
#undef AVX512_KERNELS
#undef PART_AVX512

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
        {AG_PORTABLE_MR, AG_PORTABLE_NR, 256, 512, 512, sizeof(float), micro_portable_f32, store_f32, NULL},
        {AG_PORTABLE_MR, AG_PORTABLE_NR, 256, 512, 256, sizeof(double), micro_portable_f64, store_f64, NULL},
    },
#ifdef AG_SIMD_X86
    [AG_ISA_AVX2] = {
        {6, 16, 384, 1536, 384, sizeof(float), micro_avx2_f32, store_fma_f32, NULL},
        {6, 8, 256, 1536, 256, sizeof(double), micro_avx2_f64, store_fma_f64, NULL},
    },
    [AG_ISA_AVX512] = {
        {12, 32, 384, 1536, 384, sizeof(float), micro_avx512_f32, store_fma_f32, part_avx512_f32},
        {12, 16, 192, 1536, 384, sizeof(double), micro_avx512_f64, store_fma_f64, part_avx512_f64},
    },
#endif
};
