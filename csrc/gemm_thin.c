/* gemm_thin.c: gemm.c's paths for thin products (AVX-512 float32), where the packed kernel
 * spends more on padding, packing and edges than on arithmetic.
 *
 * ---- n <= 16: dot products.
 *
 * With n <= 16 the packed kernel wastes most of its 12 x 32 tile on zero padding, or, computing
 * C^T instead, spends its time transposing A into panels. Here A is read in place (its rows are
 * contiguous along k), B is packed once as B^T (n rows, each zero-padded to a multiple of the
 * vector width, so only the loads of A need a mask), and each element of C is the dot product
 * of a row of A and a row of B^T, 4 x 5 of them at a time in 20 vector accumulators.
 *
 * Numerics: lane l of an accumulator sums the terms p = l (mod 16) in p order (FMA), then the
 * lanes are added by one fixed tree, then c = alpha * ab + beta * c (one rounding, fma). Threads
 * take disjoint blocks of rows, so the result does not depend on the thread count.
 */
#include "gemm_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef AG_SIMD_X86

/* AVX-512 with FMA spelled out (every AVX-512 CPU has it, and cpu.c requires it), so that the
 * scalar fmaf of the edge updates is an instruction rather than a libm call. */
#define THIN_TARGET __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))

#define RA 4    /* rows of A (rows of C) per tile */
#define NB 5    /* rows of B^T (columns of C) per tile */
#define VF 16   /* floats per vector */

/* [sum(v0), sum(v1), sum(v2), sum(v3)]: pairs interleaved and added within 128-bit lanes, then
 * the four lanes folded. */
THIN_TARGET static inline __m128 sum4_ps(__m512 v0, __m512 v1, __m512 v2, __m512 v3)
{
    const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(v0, v1), _mm512_unpackhi_ps(v0, v1));
    const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(v2, v3), _mm512_unpackhi_ps(v2, v3));
    const __m512d d0 = _mm512_castps_pd(t0), d1 = _mm512_castps_pd(t1);
    const __m512 u = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(d0, d1)),
                                   _mm512_castpd_ps(_mm512_unpackhi_pd(d0, d1)));
    const __m256 y = _mm256_add_ps(_mm512_castps512_ps256(u), _mm512_extractf32x8_ps(u, 1));
    return _mm_add_ps(_mm256_castps256_ps128(y), _mm256_extractf128_ps(y, 1));
}

/* out[r][c] = dot(a[r][0:k], bt[c * ldbt:][0:k]) for r < RA, c < nb (a constant after
 * inlining, so the accumulators live in registers), out[r][nb..3] = 0. kv: k rounded down to
 * VF; tail: the mask of the last k % VF elements (0 if none). Rows come out as vectors of four
 * columns, so C is updated by vector stores. */
THIN_TARGET static inline __attribute__((always_inline)) void
tile_f32(const int nb, int64_t kv, __mmask16 tail, const float *const a[RA], const float *bt,
         int64_t ldbt, float out[RA][8])
{
    __m512 acc[RA][NB];
#pragma GCC unroll 4
    for (int r = 0; r < RA; r++)
#pragma GCC unroll 5
        for (int c = 0; c < nb; c++)
            acc[r][c] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kv; p += VF) {
        __m512 av[RA];
#pragma GCC unroll 4
        for (int r = 0; r < RA; r++)
            av[r] = _mm512_loadu_ps(a[r] + p);
#pragma GCC unroll 5
        for (int c = 0; c < nb; c++) {
            const __m512 bv = _mm512_load_ps(bt + c * ldbt + p);
#pragma GCC unroll 4
            for (int r = 0; r < RA; r++)
                acc[r][c] = _mm512_fmadd_ps(av[r], bv, acc[r][c]);
        }
    }
    if (tail) {  /* masked lanes read nothing and give 0; B^T's padding is 0 too */
        __m512 av[RA];
#pragma GCC unroll 4
        for (int r = 0; r < RA; r++)
            av[r] = _mm512_maskz_loadu_ps(tail, a[r] + kv);
#pragma GCC unroll 5
        for (int c = 0; c < nb; c++) {
            const __m512 bv = _mm512_load_ps(bt + c * ldbt + kv);
#pragma GCC unroll 4
            for (int r = 0; r < RA; r++)
                acc[r][c] = _mm512_fmadd_ps(av[r], bv, acc[r][c]);
        }
    }
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int r = 0; r < RA; r++)
        _mm_storeu_ps(out[r], sum4_ps(acc[r][0], nb > 1 ? acc[r][1] : zero,
                                      nb > 2 ? acc[r][2] : zero, nb > 3 ? acc[r][3] : zero));
    if (nb > 4) {
        _Alignas(16) float col[RA];
        _mm_store_ps(col, sum4_ps(acc[0][4], acc[1][4], acc[2][4], acc[3][4]));
#pragma GCC unroll 4
        for (int r = 0; r < RA; r++)
            out[r][4] = col[r];
    }
}

/* Rows [r0, r1) of C. */
THIN_TARGET static void rows_f32(const struct ag_thin_f32 *t, const float *bt, int64_t ldbt,
                                      int64_t r0, int64_t r1)
{
    const int64_t kv = t->k / VF * VF;
    const __mmask16 tail = (__mmask16)((1u << (t->k % VF)) - 1);
    _Alignas(16) float out[RA][8];
    const __m128 va = _mm_set1_ps(t->alpha);
    for (int64_t i = r0; i < r1; i += RA) {
        const int64_t h = r1 - i < RA ? r1 - i : RA;
        const float *a[RA];
        for (int r = 0; r < RA; r++)  /* rows past the end repeat the last one, unused */
            a[r] = t->a + (i + (r < h ? r : h - 1)) * t->lda;
        for (int64_t j = 0; j < t->n; j += NB) {
            const int64_t w = t->n - j < NB ? t->n - j : NB;
            const float *b = bt + j * ldbt;
            switch (w) {
            case 5: tile_f32(5, kv, tail, a, b, ldbt, out); break;
            case 4: tile_f32(4, kv, tail, a, b, ldbt, out); break;
            case 3: tile_f32(3, kv, tail, a, b, ldbt, out); break;
            case 2: tile_f32(2, kv, tail, a, b, ldbt, out); break;
            default: tile_f32(1, kv, tail, a, b, ldbt, out); break;
            }
            for (int64_t r = 0; r < h; r++) {
                float *cr = t->c + (i + r) * t->rsc + j * t->csc;
                int64_t c0 = 0;
                if (t->csc == 1) {  /* the first four columns as one vector, the same arithmetic */
                    const __mmask8 mask = (__mmask8)(w >= 4 ? 0xf : (1u << w) - 1);
                    __m128 v = _mm_mul_ps(va, _mm_load_ps(out[r]));
                    if (t->beta)
                        v = _mm_fmadd_ps(_mm_set1_ps(*t->beta), _mm_maskz_loadu_ps(mask, cr), v);
                    _mm_mask_storeu_ps(cr, mask, v);
                    c0 = 4;
                }
                for (int64_t c = c0; c < w; c++) {
                    float *cij = cr + c * t->csc;
                    const float v = t->alpha * out[r][c];
                    *cij = t->beta ? fmaf(*t->beta, *cij, v) : v;
                }
            }
        }
    }
}

/* B^T from a row-major B (csb = 1, n <= 16): 16 rows at a time as one 16 x 16 transpose in
 * registers (32-bit, 64-bit and two 128-bit-lane shuffle rounds); rows past k are zeros, which
 * is B^T's padding. (Element by element this was a quarter of a 128x512 @ 512x10 product.) */
THIN_TARGET static void transpose_rows_f32(const struct ag_thin_f32 *t, float *bt, int64_t ldbt)
{
    const __mmask16 cols = (__mmask16)((1u << t->n) - 1);
    for (int64_t p = 0; p < t->k; p += VF) {
        __m512 r[VF], a[VF], b[VF];
        for (int i = 0; i < VF; i++)
            r[i] = p + i < t->k ? _mm512_maskz_loadu_ps(cols, t->b + (p + i) * t->rsb)
                                : _mm512_setzero_ps();
        for (int i = 0; i < VF; i += 2) {
            a[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
            a[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
        }
        for (int i = 0; i < VF; i += 4) {  /* b[4g + s]: rows 4g..4g+3 of column 4q + s in lane q */
            const __m512d a0 = _mm512_castps_pd(a[i]), a1 = _mm512_castps_pd(a[i + 1]);
            const __m512d a2 = _mm512_castps_pd(a[i + 2]), a3 = _mm512_castps_pd(a[i + 3]);
            b[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
            b[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
            b[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
            b[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
        }
        for (int s = 0; s < 4; s++) {
            const __m512 x02 = _mm512_shuffle_f32x4(b[s], b[s + 4], 0x88);
            const __m512 x13 = _mm512_shuffle_f32x4(b[s], b[s + 4], 0xdd);
            const __m512 y02 = _mm512_shuffle_f32x4(b[s + 8], b[s + 12], 0x88);
            const __m512 y13 = _mm512_shuffle_f32x4(b[s + 8], b[s + 12], 0xdd);
            const __m512 col[4] = {_mm512_shuffle_f32x4(x02, y02, 0x88),
                                   _mm512_shuffle_f32x4(x13, y13, 0x88),
                                   _mm512_shuffle_f32x4(x02, y02, 0xdd),
                                   _mm512_shuffle_f32x4(x13, y13, 0xdd)};
            for (int q = 0; q < 4; q++)
                if (4 * q + s < t->n)  /* ldbt >= p + 16: the whole vector fits */
                    _mm512_store_ps(bt + (4 * q + s) * ldbt + p, col[q]);
        }
    }
}

int ag_gemm_thin_f32(const struct ag_thin_f32 *t, int threads)
{
    /* B^T's rows an odd number of cache lines apart: rows 2^k lines apart would all map to
     * one L1 set and evict each other in the dot-product loop (measured: 5x slower). */
    int64_t ldbt = (t->k + VF - 1) / VF * VF;
    ldbt += (ldbt / VF) % 2 ? 0 : VF;
    float *bt = aligned_alloc(64, (size_t)(t->n * ldbt) * sizeof(float));
    if (!bt)
        return AG_ERR_NOMEM;
    for (int64_t j = 0; j < t->n; j++)  /* zero padding, then B^T */
        memset(bt + j * ldbt + t->k, 0, (size_t)(ldbt - t->k) * sizeof(float));
    if (t->rsb == 1) {
        for (int64_t j = 0; j < t->n; j++)
            memcpy(bt + j * ldbt, t->b + j * t->csb, (size_t)t->k * sizeof(float));
    } else if (t->csb == 1) {
        transpose_rows_f32(t, bt, ldbt);
    } else {
        for (int64_t p = 0; p < t->k; p++)
            for (int64_t j = 0; j < t->n; j++)
                bt[j * ldbt + p] = t->b[p * t->rsb + j * t->csb];
    }
    const int64_t blocks = (t->m + RA - 1) / RA;
    if (threads > blocks)
        threads = (int)blocks;
    if (threads <= 1) {
        rows_f32(t, bt, ldbt, 0, t->m);
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int i = 0; i < threads; i++) {
            const int64_t r0 = blocks * i / threads * RA, r1 = blocks * (i + 1) / threads * RA;
            rows_f32(t, bt, ldbt, r0, r1 < t->m ? r1 : t->m);
        }
    }
    free(bt);
    return AG_OK;
}

/* ---- k <= 16: a product this shallow is as much writing C as computing it. A and B are packed
 * as the main kernel wants them, but in one pass each: a chunk of A's rows into 12-row panels,
 * then for each 32-column block of B its k rows (k x 32, zero-padded: a contiguous 2 KiB that
 * stays in L1 however B's rows alias) and all the chunk's tiles against it, stored straight into
 * C with masked stores (no edge buffer). The arithmetic is the packed kernel's: p in order, FMA,
 * then c = alpha * ab + beta * c. Threads take disjoint row blocks. */

#define SK_MR 12
#define SK_NR 32
#define SK_ROWS 768   /* rows of A packed at a time: 48 KiB at k = 16 */

THIN_TARGET static void smallk_rows_f32(const struct ag_smallk_f32 *t, int64_t r0, int64_t r1,
                                             float *ap)
{
    _Alignas(64) float bp[AG_SMALLK_MAX_K * SK_NR];
    const __m512 va = _mm512_set1_ps(t->alpha);
    const int64_t k = t->k;
    for (int64_t i0 = r0; i0 < r1; i0 += SK_ROWS) {
        const int64_t i1 = r1 - i0 < SK_ROWS ? r1 : i0 + SK_ROWS;
        for (int64_t i = i0; i < i1; i += SK_MR)  /* A panels; rows past the end are zeros */
            for (int64_t p = 0; p < k; p++)
                for (int64_t r = 0; r < SK_MR; r++)
                    ap[(i - i0) * k + p * SK_MR + r] =
                        i + r < i1 ? t->a[(i + r) * t->rsa + p * t->csa] : 0.0f;
        for (int64_t j = 0; j < t->n; j += SK_NR) {
            const int64_t w = t->n - j;
            const __mmask16 m0 = w >= 16 ? 0xffff : (__mmask16)((1u << w) - 1);
            const __mmask16 m1 = w >= 32 ? 0xffff : w > 16 ? (__mmask16)((1u << (w - 16)) - 1) : 0;
            for (int64_t p = 0; p < k; p++) {
                const float *src = t->b + p * t->ldb + j;
                _mm512_store_ps(bp + p * SK_NR, _mm512_maskz_loadu_ps(m0, src));
                _mm512_store_ps(bp + p * SK_NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
            }
            for (int64_t i = i0; i < i1; i += SK_MR) {
                const float *a = ap + (i - i0) * k;
                __m512 lo[SK_MR], hi[SK_MR];
#pragma GCC unroll 12
                for (int r = 0; r < SK_MR; r++)
                    lo[r] = hi[r] = _mm512_setzero_ps();
                for (int64_t p = 0; p < k; p++) {
                    const __m512 b0 = _mm512_load_ps(bp + p * SK_NR);
                    const __m512 b1 = _mm512_load_ps(bp + p * SK_NR + 16);
#pragma GCC unroll 12
                    for (int r = 0; r < SK_MR; r++) {
                        const __m512 ar = _mm512_set1_ps(a[p * SK_MR + r]);
                        lo[r] = _mm512_fmadd_ps(ar, b0, lo[r]);
                        hi[r] = _mm512_fmadd_ps(ar, b1, hi[r]);
                    }
                }
                const int64_t h = i1 - i < SK_MR ? i1 - i : SK_MR;
#pragma GCC unroll 12
                for (int r = 0; r < SK_MR; r++) {
                    if (r >= h)
                        break;
                    float *cr = t->c + (i + r) * t->ldc + j;
                    __m512 t0 = _mm512_mul_ps(va, lo[r]), t1 = _mm512_mul_ps(va, hi[r]);
                    if (t->beta) {
                        const __m512 vb = _mm512_set1_ps(*t->beta);
                        t0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, cr), t0);
                        t1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, cr + 16), t1);
                    }
                    _mm512_mask_storeu_ps(cr, m0, t0);
                    _mm512_mask_storeu_ps(cr + 16, m1, t1);
                }
            }
        }
    }
}

int ag_gemm_smallk_f32(const struct ag_smallk_f32 *t, int threads)
{
    const int64_t blocks = (t->m + SK_MR - 1) / SK_MR;
    if (threads > blocks)
        threads = (int)blocks;
    if (threads < 1)
        threads = 1;
    const size_t per_thread = (size_t)(SK_ROWS * t->k) * sizeof(float);
    float *ap = aligned_alloc(64, per_thread * (size_t)threads + 64);
    if (!ap)
        return AG_ERR_NOMEM;
    if (threads == 1) {
        smallk_rows_f32(t, 0, t->m, ap);
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int i = 0; i < threads; i++) {
            const int64_t r0 = blocks * i / threads * SK_MR, r1 = blocks * (i + 1) / threads * SK_MR;
            smallk_rows_f32(t, r0, r1 < t->m ? r1 : t->m, ap + (size_t)i * per_thread / sizeof(float));
        }
    }
    free(ap);
    return AG_OK;
}

#endif /* AG_SIMD_X86 */
