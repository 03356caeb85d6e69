/* gemm_thin.c: gemm.c's paths for thin products (AVX-512 float32), where the packed kernel
 * spends more on padding, packing and edges than on arithmetic.
 *
 * ---- n <= 32: dot products four depths at a time.
 *
 * With n <= 32 the packed kernel wastes much of its 12 x 32 tile on zero padding, or, computing
 * C^T instead, spends its time transposing A into panels for little reuse. Here A is read in place (its rows are
 * contiguous along k) and B is packed once, in groups of four columns: for each group and each
 * four depths p..p+3 one vector [column j: B[p..p+3][j] | column j+1: ... | j+2 | j+3], zero
 * past k and n. A row's four values A[i][p..p+3] are loaded into every 128-bit lane, so one FMA
 * adds four depths of four columns, and a tile of rows x groups (up to 24 accumulators) runs
 * through k loading each row of A once (past four groups, once per chunk of three groups). At the end four rows' accumulators of one group reduce
 * to one vector in three shuffle-and-add rounds plus a permute: the rows of a 4 x 4 block of C.
 * (The previous form, one column per accumulator and 16 depths per FMA, spent more on the
 * horizontal sums than on the FMAs when k was about 128.)
 *
 * Numerics: lane p mod 4 of an accumulator sums the terms of those depths in p order (FMA), then
 * (s0 + s2) + (s1 + s3), then c = alpha * ab + beta * c (one rounding, fma). Threads take
 * disjoint blocks of rows, so the result does not depend on the thread count.
 */
#include "gemm_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef AG_SIMD_X86

/* AVX-512 with FMA spelled out (every AVX-512 CPU has it, and cpu.c requires it), so that the
 * scalar fmaf of the edge updates is an instruction rather than a libm call. */
#define THIN_TARGET __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))

#define VF 16      /* floats per vector */
#define DG 4       /* depths per 128-bit lane, and columns per group */
#define MAX_ROWS 16

/* Packed B: vector (g, s) at bp + (g * steps + s) * VF. */
THIN_TARGET static void pack_b_groups(const struct ag_thin_f32 *t, float *bp, int64_t steps)
{
    const int64_t k = t->k, n = t->n, groups = (n + DG - 1) / DG;
    if (t->csb == 1) {  /* rows of B: four at a time, transposed as 4 x 4 blocks in lanes */
        for (int64_t j0 = 0; j0 < n; j0 += VF)  /* sixteen columns (four groups) at a time */
        for (int64_t s = 0; s < steps; s++) {
            const __mmask16 cols = (__mmask16)(n - j0 >= VF ? 0xffff : (1u << (n - j0)) - 1);
            __m512 r[DG];
            for (int d = 0; d < DG; d++)
                r[d] = DG * s + d < k ? _mm512_maskz_loadu_ps(cols, t->b + (DG * s + d) * t->rsb + j0)
                                      : _mm512_setzero_ps();
            const __m512d a0 = _mm512_castps_pd(_mm512_unpacklo_ps(r[0], r[1]));
            const __m512d a1 = _mm512_castps_pd(_mm512_unpackhi_ps(r[0], r[1]));
            const __m512d a2 = _mm512_castps_pd(_mm512_unpacklo_ps(r[2], r[3]));
            const __m512d a3 = _mm512_castps_pd(_mm512_unpackhi_ps(r[2], r[3]));
            /* c[j]: lane q holds column 4q + j at the four depths */
            const __m512 c0 = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
            const __m512 c1 = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
            const __m512 c2 = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
            const __m512 c3 = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
            const __m512 x02 = _mm512_shuffle_f32x4(c0, c1, 0x88), x13 = _mm512_shuffle_f32x4(c0, c1, 0xdd);
            const __m512 y02 = _mm512_shuffle_f32x4(c2, c3, 0x88), y13 = _mm512_shuffle_f32x4(c2, c3, 0xdd);
            const __m512 g[DG] = {_mm512_shuffle_f32x4(x02, y02, 0x88), _mm512_shuffle_f32x4(x13, y13, 0x88),
                                  _mm512_shuffle_f32x4(x02, y02, 0xdd), _mm512_shuffle_f32x4(x13, y13, 0xdd)};
            for (int64_t j = 0; j < DG && j0 / DG + j < groups; j++)
                _mm512_store_ps(bp + ((j0 / DG + j) * steps + s) * VF, g[j]);
        }
    } else {  /* rsb = 1, columns of B (a transposed view): four depths per load */
        for (int64_t j = 0; j < groups; j++)
            for (int64_t s = 0; s < steps; s++) {
                const int64_t left = k - DG * s;
                const __mmask8 depths = (__mmask8)(left >= DG ? 0xf : (1u << left) - 1);
                for (int q = 0; q < DG; q++)
                    _mm_store_ps(bp + (j * steps + s) * VF + q * DG,
                                 DG * j + q < n ? _mm_maskz_loadu_ps(depths, t->b + (DG * j + q) * t->csb + DG * s)
                                                : _mm_setzero_ps());
            }
    }
}

/* [rows 0..3 of column 4g + q in lane q] from four rows' accumulators, then as C's rows: lane r
 * = row r, columns 4g..4g+3. */
THIN_TARGET static inline __m512 reduce_rows4(__m512 v0, __m512 v1, __m512 v2, __m512 v3)
{
    const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(v0, v1), _mm512_unpackhi_ps(v0, v1));
    const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(v2, v3), _mm512_unpackhi_ps(v2, v3));
    const __m512d d0 = _mm512_castps_pd(t0), d1 = _mm512_castps_pd(t1);
    const __m512 u = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(d0, d1)),
                                   _mm512_castpd_ps(_mm512_unpackhi_pd(d0, d1)));
    const __m512i rows = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(rows, u);
}

/* C[i + r][4g .. 4g + 3] for r < h (<= 4) from a reduced block. With unit column stride each
 * row is one masked 512-bit store of lanes 4r..4r+3 at its row's address minus 4r (masked-off
 * lanes touch no memory). */
THIN_TARGET static inline __attribute__((always_inline)) void
store_rows4(const struct ag_thin_f32 *t, __m512 block, int64_t i, int64_t h, int64_t g)
{
    if (t->alpha != 1.0f)  /* 1 * x is x: skipping it changes no bit */
        block = _mm512_mul_ps(_mm512_set1_ps(t->alpha), block);
    const int64_t j0 = DG * g, w = t->n - j0 < DG ? t->n - j0 : DG;
    float *c = t->c + i * t->rsc + j0 * t->csc;
    if (t->csc == 1) {
        const unsigned cols = (1u << w) - 1;
        if (t->beta) {
            __m512 old = _mm512_setzero_ps();
            for (int64_t r = 0; r < h; r++)
                old = _mm512_mask_loadu_ps(old, (__mmask16)(cols << (DG * r)), c + r * t->rsc - DG * r);
            block = _mm512_fmadd_ps(_mm512_set1_ps(*t->beta), old, block);
        }
        for (int64_t r = 0; r < h; r++)
            _mm512_mask_storeu_ps(c + r * t->rsc - DG * r, (__mmask16)(cols << (DG * r)), block);
        return;
    }
    _Alignas(64) float out[VF];
    _mm512_store_ps(out, block);
    for (int64_t r = 0; r < h; r++)
        for (int64_t q = 0; q < w; q++) {
            float *cij = c + r * t->rsc + q * t->csc;
            const float v = out[r * DG + q];
            *cij = t->beta ? fmaf(*t->beta, *cij, v) : v;
        }
}

/* Rows [i, i + h) of C (h <= ra), all groups: ra rows x ng groups of accumulators (constants
 * after inlining, so they live in registers). Rows past h repeat the last one, unused. */
THIN_TARGET static inline __attribute__((always_inline)) void
tile_f32(const int ra, const int ng, const struct ag_thin_f32 *t, const float *bp, int64_t steps,
         int64_t i, int64_t h, int64_t g0)
{
    bp += g0 * steps * VF;
    const float *a[MAX_ROWS];
    for (int r = 0; r < ra; r++)
        a[r] = t->a + (i + (r < h ? r : h - 1)) * t->lda;
    __m512 acc[MAX_ROWS][DG];
#pragma GCC unroll 16
    for (int r = 0; r < ra; r++)
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++)
            acc[r][g] = _mm512_setzero_ps();
    const int64_t full = t->k / DG;
    for (int64_t s = 0; s < full; s++) {
        __m512 b[DG];
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++)
            b[g] = _mm512_load_ps(bp + (g * steps + s) * VF);
#pragma GCC unroll 16
        for (int r = 0; r < ra; r++) {
            const __m512 av = _mm512_broadcast_f32x4(_mm_loadu_ps(a[r] + DG * s));
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++)
                acc[r][g] = _mm512_fmadd_ps(av, b[g], acc[r][g]);
        }
    }
    if (full < steps) {  /* the last k % 4 depths: A's other lanes read nothing and give 0 */
        const __mmask8 depths = (__mmask8)((1u << (t->k - DG * full)) - 1);
        __m512 b[DG];
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++)
            b[g] = _mm512_load_ps(bp + (g * steps + full) * VF);
#pragma GCC unroll 16
        for (int r = 0; r < ra; r++) {
            const __m512 av = _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(depths, a[r] + DG * full));
#pragma GCC unroll 4
            for (int g = 0; g < ng; g++)
                acc[r][g] = _mm512_fmadd_ps(av, b[g], acc[r][g]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < ra; r += 4) {
        if (r >= h)
            break;
#pragma GCC unroll 4
        for (int g = 0; g < ng; g++)
            store_rows4(t, reduce_rows4(acc[r][g], acc[r + 1][g], acc[r + 2][g], acc[r + 3][g]),
                        i + r, h - r < 4 ? h - r : 4, g0 + g);
    }
}

/* Rows [r0, r1) of C, in tiles of ra rows: 16 rows for one group, 12 for two, 8 for three, 4
 * for four (at most 24 accumulators, and each A load feeds every group). More than four groups
 * (n > 16) run as 4-row tiles over chunks of four groups, the tile's rows of A staying in L1. */
THIN_TARGET static void rows_f32(const struct ag_thin_f32 *t, const float *bp, int64_t steps,
                                 int64_t r0, int64_t r1)
{
    const int ng = (int)((t->n + DG - 1) / DG);
    if (ng > DG) {
        for (int64_t i = r0; i < r1; i += 8) {
            const int64_t h = r1 - i < 8 ? r1 - i : 8;
            for (int g0 = 0; g0 < ng; g0 += 3) {
                switch (ng - g0 < 3 ? ng - g0 : 3) {
                case 1: tile_f32(8, 1, t, bp, steps, i, h, g0); break;
                case 2: tile_f32(8, 2, t, bp, steps, i, h, g0); break;
                default: tile_f32(8, 3, t, bp, steps, i, h, g0); break;
                }
            }
        }
        return;
    }
    const int64_t ra = ng == 1 ? 16 : ng == 2 ? 12 : ng == 3 ? 8 : 4;
    for (int64_t i = r0; i < r1; i += ra) {
        const int64_t h = r1 - i < ra ? r1 - i : ra;
        switch (ng) {
        case 1: tile_f32(16, 1, t, bp, steps, i, h, 0); break;
        case 2: tile_f32(12, 2, t, bp, steps, i, h, 0); break;
        case 3: tile_f32(8, 3, t, bp, steps, i, h, 0); break;
        default: tile_f32(4, 4, t, bp, steps, i, h, 0); break;
        }
    }
}

/* Row blocks of this many rows per thread, a multiple of every tile height. */
#define THIN_ROW_BLOCK 48

int ag_gemm_thin_f32(const struct ag_thin_f32 *t, int threads)
{
    const int64_t steps = (t->k + DG - 1) / DG, groups = (t->n + DG - 1) / DG;
    float *bp = aligned_alloc(64, (size_t)(groups * steps * VF) * sizeof(float));
    if (!bp)
        return AG_ERR_NOMEM;
    pack_b_groups(t, bp, steps);
    const int64_t blocks = (t->m + THIN_ROW_BLOCK - 1) / THIN_ROW_BLOCK;
    if (threads > blocks)
        threads = (int)blocks;
    if (threads <= 1) {
        rows_f32(t, bp, steps, 0, t->m);
    } else {
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int i = 0; i < threads; i++) {
            const int64_t r0 = blocks * i / threads * THIN_ROW_BLOCK;
            const int64_t r1 = blocks * (i + 1) / threads * THIN_ROW_BLOCK;
            rows_f32(t, bp, steps, r0, r1 < t->m ? r1 : t->m);
        }
    }
    free(bp);
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
