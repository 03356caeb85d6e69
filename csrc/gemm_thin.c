/* gemm_thin.c: gemm.c's paths for thin products (AVX-512 float32), where the packed kernel
 * spends more on padding, packing and edges than on arithmetic.
 *
 * ---- n <= 32: dot products, several depths and columns per vector.
 *
 * With n <= 32 the packed kernel wastes much of its 12 x 32 tile on zero padding, or, computing
 * C^T instead, spends its time transposing A into panels for little reuse. Here A is read in
 * place (its rows are contiguous along k) and B is packed once, in groups of columns, one vector
 * per group and step of depths, zero past k and n, in one of two layouts:
 *   - four columns per group, four depths per step: 128-bit lane q holds column 4g + q at depths
 *     4s..4s+3, and A's four values A[i][4s..4s+3] are loaded into every lane;
 *   - two columns per group, eight depths per step: [column 2g at 8s..8s+7 | column 2g + 1 at
 *     8s..8s+7], and A's eight values into both 256-bit halves;
 * so one FMA adds sixteen products either way. Two columns pad n = 10 (a 10-class head) to 10
 * rather than 12 columns, and on this Zen 5 they ran every n <= 10 faster (n = 8: 170 -> 197
 * GFLOPS); past that, a row's longer reduction and the registers that more groups take cost
 * more than they save, so n > 10 keeps four columns. A tile of rows x groups (up to 25
 * accumulators) runs through k loading each row of A once (four columns past four groups: once
 * per chunk of three groups). At the end, four-column accumulators of four rows and one group
 * reduce to one vector (three shuffle-and-add rounds plus a permute): the rows of a 4 x 4 block
 * of C. Two-column accumulators of one row first fold pairs of groups into that four-column
 * form, then four of those reduce the same way to 16 columns of the row.
 *
 * Numerics: lane p mod 4 of an accumulator sums the terms of those depths in p order (FMA; with
 * two columns per group, depths p mod 8 in one half and p + 4 mod 8 in the other, added when
 * folded), then (s0 + s2) + (s1 + s3), then c = alpha * ab + beta * c (one rounding, fma), or
 * alpha * ab + bias (one rounding: fma(1, bias, x) is that sum, so the same bits). The layout
 * is fixed by n, threads take disjoint tiles of rows, and a row's arithmetic does not depend on
 * its tile: the result does not depend on the thread count.
 */
#include "ag_spans.h"
#include "gemm_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef AG_SIMD_X86

/* AVX-512 with FMA spelled out (every AVX-512 CPU has it, and cpu.c requires it), so that the
 * scalar fmaf of the edge updates is an instruction rather than a libm call. */
#define THIN_TARGET __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))

#define VF 16      /* floats per vector */
#define MAX_ROWS 12
#define MAX_GROUPS 5

/* The first n lanes of a 16-lane vector (every lane for n >= 16, none for n <= 0). */
static inline __mmask16 first_lanes(int64_t n)
{
    return (__mmask16)(n >= VF ? 0xffff : n > 0 ? (1u << n) - 1 : 0);
}

/* The two-column layout for this n (see the top of the file). */
static int two_columns(int64_t n)
{
    return n <= 10;
}

/* Rows p0..p0+3 of B (zero past k) at columns j0..j0+15 (zero past n), rsb apart (csb = 1), as
 * four vectors, vector j's 128-bit lane q holding column j0 + 4j + q at the four depths (4 x 4
 * transposes within lanes, then across them). Both layouts pack rows of B from these. */
THIN_TARGET static inline void b_rows4(const struct ag_thin_f32 *t, int64_t j0, int64_t p0, __m512 g[4])
{
    const __mmask16 cols = first_lanes(t->n - j0);
    __m512 r[4];
    for (int d = 0; d < 4; d++)
        r[d] = p0 + d < t->k ? _mm512_maskz_loadu_ps(cols, t->b + (p0 + d) * t->rsb + j0)
                             : _mm512_setzero_ps();
    const __m512d a0 = _mm512_castps_pd(_mm512_unpacklo_ps(r[0], r[1]));
    const __m512d a1 = _mm512_castps_pd(_mm512_unpackhi_ps(r[0], r[1]));
    const __m512d a2 = _mm512_castps_pd(_mm512_unpacklo_ps(r[2], r[3]));
    const __m512d a3 = _mm512_castps_pd(_mm512_unpackhi_ps(r[2], r[3]));
    const __m512 c0 = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
    const __m512 c1 = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
    const __m512 c2 = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
    const __m512 c3 = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    const __m512 x02 = _mm512_shuffle_f32x4(c0, c1, 0x88), x13 = _mm512_shuffle_f32x4(c0, c1, 0xdd);
    const __m512 y02 = _mm512_shuffle_f32x4(c2, c3, 0x88), y13 = _mm512_shuffle_f32x4(c2, c3, 0xdd);
    g[0] = _mm512_shuffle_f32x4(x02, y02, 0x88), g[1] = _mm512_shuffle_f32x4(x13, y13, 0x88);
    g[2] = _mm512_shuffle_f32x4(x02, y02, 0xdd), g[3] = _mm512_shuffle_f32x4(x13, y13, 0xdd);
}

/* Four-column layout: vector (g, s) at bp + (g * steps + s) * VF. */
THIN_TARGET static void pack_b_fours(const struct ag_thin_f32 *t, float *bp, int64_t steps)
{
    const int64_t k = t->k, n = t->n, groups = (n + 3) / 4;
    if (t->csb == 1) {  /* rows of B: four at a time, transposed as 4 x 4 blocks in lanes */
        for (int64_t j0 = 0; j0 < n; j0 += VF)  /* sixteen columns (four groups) at a time */
        for (int64_t s = 0; s < steps; s++) {
            __m512 g[4];
            b_rows4(t, j0, 4 * s, g);
            for (int64_t j = 0; j < 4 && j0 / 4 + j < groups; j++)
                _mm512_store_ps(bp + ((j0 / 4 + j) * steps + s) * VF, g[j]);
        }
    } else {  /* rsb = 1, columns of B (a transposed view): four depths per load */
        for (int64_t j = 0; j < groups; j++)
            for (int64_t s = 0; s < steps; s++) {
                const int64_t left = k - 4 * s;
                const __mmask8 depths = (__mmask8)(left >= 4 ? 0xf : (1u << left) - 1);
                for (int q = 0; q < 4; q++)
                    _mm_store_ps(bp + (j * steps + s) * VF + q * 4,
                                 4 * j + q < n ? _mm_maskz_loadu_ps(depths, t->b + (4 * j + q) * t->csb + 4 * s)
                                               : _mm_setzero_ps());
            }
    }
}

/* Two-column layout: vector (g, s) at bp + (g * steps + s) * VF, 128-bit lanes [2g at
 * 8s..8s+3 | 2g at 8s+4..8s+7 | 2g+1 at 8s..8s+3 | 2g+1 at 8s+4..8s+7]. */
THIN_TARGET static void pack_b_pairs(const struct ag_thin_f32 *t, float *bp, int64_t steps)
{
    const int64_t k = t->k, n = t->n, groups = (n + 1) / 2;
    if (t->csb == 1) {  /* rows of B: 16 columns x 8 depths at a time, from two b_rows4 */
        for (int64_t j0 = 0; j0 < n; j0 += VF)
        for (int64_t s = 0; s < steps; s++) {
            __m512 lo[4], hi[4];
            b_rows4(t, j0, 8 * s, lo);      /* depths 8s..8s+3 */
            b_rows4(t, j0, 8 * s + 4, hi);  /* depths 8s+4..8s+7 */
            for (int64_t q = 0; q < 8 && j0 / 2 + q < groups; q++) {
                /* columns j0 + 2q, +1: lanes 2(q%2), 2(q%2)+1 of lo[q/2] and hi[q/2] */
                const __m512 x = (q & 1) ? _mm512_shuffle_f32x4(lo[q / 2], hi[q / 2], 0xee)
                                         : _mm512_shuffle_f32x4(lo[q / 2], hi[q / 2], 0x44);
                _mm512_store_ps(bp + ((j0 / 2 + q) * steps + s) * VF, _mm512_shuffle_f32x4(x, x, 0xd8));
            }
        }
    } else {  /* rsb = 1, columns of B (a transposed view): eight depths per load */
        for (int64_t g = 0; g < groups; g++)
            for (int64_t s = 0; s < steps; s++) {
                const int64_t left = k - 8 * s;
                const __mmask8 depths = (__mmask8)(left >= 8 ? 0xff : (1u << left) - 1);
                const float *col = t->b + 2 * g * t->csb + 8 * s;
                const __m256 c0 = _mm256_maskz_loadu_ps(depths, col);
                const __m256 c1 = 2 * g + 1 < n ? _mm256_maskz_loadu_ps(depths, col + t->csb)
                                                : _mm256_setzero_ps();
                _mm512_store_ps(bp + (g * steps + s) * VF,
                                _mm512_insertf32x8(_mm512_castps256_ps512(c0), c1, 1));
            }
    }
}

/* Lane 4q + r of the result: the total of 128-bit lane q of v_r (the sums for a 4 x 4 block,
 * column-major). */
THIN_TARGET static inline __m512 sum_lanes4(__m512 v0, __m512 v1, __m512 v2, __m512 v3)
{
    const __m512 t0 = _mm512_add_ps(_mm512_unpacklo_ps(v0, v1), _mm512_unpackhi_ps(v0, v1));
    const __m512 t1 = _mm512_add_ps(_mm512_unpacklo_ps(v2, v3), _mm512_unpackhi_ps(v2, v3));
    const __m512d d0 = _mm512_castps_pd(t0), d1 = _mm512_castps_pd(t1);
    return _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(d0, d1)),
                         _mm512_castpd_ps(_mm512_unpackhi_pd(d0, d1)));
}

/* A column-major 4 x 4 block (lane 4q + r) as row-major (lane 4r + q). */
THIN_TARGET static inline __m512 transpose4x4(__m512 block)
{
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_ps(order, block);
}

/* Lane 4r + q of the result: the total of 128-bit lane q of v_r. */
THIN_TARGET static inline __m512 reduce_lanes4(__m512 v0, __m512 v1, __m512 v2, __m512 v3)
{
    return transpose4x4(sum_lanes4(v0, v1, v2, v3));
}

/* Two groups' accumulators as [4 columns x 4 partial sums]: lane q = column q of the pair. */
THIN_TARGET static inline __m512 fold_pair(__m512 u, __m512 v)
{
    return _mm512_add_ps(_mm512_shuffle_f32x4(u, v, 0x88), _mm512_shuffle_f32x4(u, v, 0xdd));
}

/* C[i + r][4g .. 4g + 3] for r < h (<= 4) from a column-major block of sums (lane 4q + r: row
 * r, column q). A row-major C (unit column stride) takes each row as one masked 512-bit store
 * of lanes 4r..4r+3 of the transposed block, at its row's address minus 4r (masked-off lanes
 * touch no memory); a column-major C (unit row stride: C^T of a transposed problem, such as
 * x @ W^T at batch 32) takes each column the same way from the block as it is. */
THIN_TARGET static inline __attribute__((always_inline)) void
store_rows4(const struct ag_thin_f32 *t, __m512 block, int64_t i, int64_t h, int64_t g)
{
    if (t->alpha != 1.0f)  /* 1 * x is x: skipping it changes no bit */
        block = _mm512_mul_ps(_mm512_set1_ps(t->alpha), block);
    const int64_t j0 = 4 * g, w = t->n - j0 < 4 ? t->n - j0 : 4;
    float *c = t->c + i * t->rsc + j0 * t->csc;
    if (t->bias) {  /* + bias[i + r] into lane r of each 128-bit lane, or bias[j0 + q] into lane q */
        const __m512 add = t->bias_per_row
            ? _mm512_broadcast_f32x4(_mm_maskz_loadu_ps((__mmask8)((1u << h) - 1), t->bias + i))
            : _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                    _mm512_castps128_ps512(_mm_maskz_loadu_ps((__mmask8)((1u << w) - 1),
                                                                              t->bias + j0)));
        block = _mm512_add_ps(block, add);
    }
    if (t->csc == 1 || t->rsc == 1) {
        /* lines (rows of a row-major C, else columns) of `len` elements, `ld` apart */
        const int row_major = t->csc == 1;
        const int64_t lines = row_major ? h : w, ld = row_major ? t->rsc : t->csc;
        const unsigned len = (1u << (row_major ? w : h)) - 1;
        if (row_major)
            block = transpose4x4(block);
        if (t->beta) {
            __m512 old = _mm512_setzero_ps();
            for (int64_t r = 0; r < lines; r++)
                old = _mm512_mask_loadu_ps(old, (__mmask16)(len << (4 * r)), c + r * ld - 4 * r);
            block = _mm512_fmadd_ps(_mm512_set1_ps(*t->beta), old, block);
        }
        for (int64_t r = 0; r < lines; r++)
            _mm512_mask_storeu_ps(c + r * ld - 4 * r, (__mmask16)(len << (4 * r)), block);
        return;
    }
    _Alignas(64) float out[VF];
    _mm512_store_ps(out, block);
    for (int64_t r = 0; r < h; r++)
        for (int64_t q = 0; q < w; q++) {
            float *cij = c + r * t->rsc + q * t->csc;
            const float v = out[q * 4 + r];
            *cij = t->beta ? fmaf(*t->beta, *cij, v) : v;
        }
}

/* C[i][j0 .. j0 + cols) (the columns that exist; cols <= 16) from a row's reduced vector. */
THIN_TARGET static inline __attribute__((always_inline)) void
store_row16(const struct ag_thin_f32 *t, __m512 row, int64_t i, int64_t j0, int64_t cols)
{
    if (t->alpha != 1.0f)  /* 1 * x is x: skipping it changes no bit */
        row = _mm512_mul_ps(_mm512_set1_ps(t->alpha), row);
    const int64_t w = t->n - j0 < cols ? t->n - j0 : cols;
    float *c = t->c + i * t->rsc + j0 * t->csc;
    const __mmask16 lanes = first_lanes(w);
    if (t->bias)
        row = _mm512_add_ps(row, t->bias_per_row ? _mm512_set1_ps(t->bias[i])
                                                 : _mm512_maskz_loadu_ps(lanes, t->bias + j0));
    if (t->csc == 1) {
        if (t->beta)
            row = _mm512_fmadd_ps(_mm512_set1_ps(*t->beta), _mm512_maskz_loadu_ps(lanes, c), row);
        _mm512_mask_storeu_ps(c, lanes, row);
        return;
    }
    _Alignas(64) float out[VF];
    _mm512_store_ps(out, row);
    for (int64_t q = 0; q < w; q++) {
        float *cij = c + q * t->csc;
        *cij = t->beta ? fmaf(*t->beta, *cij, out[q]) : out[q];
    }
}

/* The A vector of one step: a row's depths from p, in every lane (four columns per group) or
 * both halves (two). */
THIN_TARGET static inline __attribute__((always_inline)) __m512 a_depths(const int cw, const float *p)
{
    return cw == 2 ? _mm512_broadcast_f32x8(_mm256_loadu_ps(p)) : _mm512_broadcast_f32x4(_mm_loadu_ps(p));
}

/* The same for the last step: depths past k (outside the mask) are not read, and are 0. */
THIN_TARGET static inline __attribute__((always_inline)) __m512
a_depths_masked(const int cw, const float *p, const __mmask8 depths)
{
    return cw == 2 ? _mm512_broadcast_f32x8(_mm256_maskz_loadu_ps(depths, p))
                   : _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(depths, p));
}

/* Rows [i, i + h) of C (h <= ra) and groups [g0, g0 + ng) of cw columns: ra x ng accumulators
 * (constants after inlining, so they live in registers). Rows past h repeat the last one,
 * unused. */
THIN_TARGET static inline __attribute__((always_inline)) void
tile_f32(const int cw, const int ra, const int ng, const struct ag_thin_f32 *t, const float *bp,
         int64_t steps, int64_t i, int64_t h, int64_t g0)
{
    const int depth = VF / cw;  /* 4 or 8 depths a step */
    bp += g0 * steps * VF;
    const float *a[MAX_ROWS];
    for (int r = 0; r < ra; r++)
        a[r] = t->a + (i + (r < h ? r : h - 1)) * t->lda;
    __m512 acc[MAX_ROWS][MAX_GROUPS];
#pragma GCC unroll 16
    for (int r = 0; r < ra; r++)
#pragma GCC unroll 5
        for (int g = 0; g < ng; g++)
            acc[r][g] = _mm512_setzero_ps();
    const int64_t full = t->k / depth;
    for (int64_t s = 0; s < full; s++) {
        __m512 b[MAX_GROUPS];
#pragma GCC unroll 5
        for (int g = 0; g < ng; g++)
            b[g] = _mm512_load_ps(bp + (g * steps + s) * VF);
#pragma GCC unroll 16
        for (int r = 0; r < ra; r++) {
            const __m512 av = a_depths(cw, a[r] + depth * s);
#pragma GCC unroll 5
            for (int g = 0; g < ng; g++)
                acc[r][g] = _mm512_fmadd_ps(av, b[g], acc[r][g]);
        }
    }
    if (full < steps) {  /* the last k % depth depths: A's other lanes read nothing and give 0 */
        const __mmask8 depths = (__mmask8)((1u << (t->k - depth * full)) - 1);
        __m512 b[MAX_GROUPS];
#pragma GCC unroll 5
        for (int g = 0; g < ng; g++)
            b[g] = _mm512_load_ps(bp + (g * steps + full) * VF);
#pragma GCC unroll 16
        for (int r = 0; r < ra; r++) {
            const __m512 av = a_depths_masked(cw, a[r] + depth * full, depths);
#pragma GCC unroll 5
            for (int g = 0; g < ng; g++)
                acc[r][g] = _mm512_fmadd_ps(av, b[g], acc[r][g]);
        }
    }
    if (cw == 4) {
#pragma GCC unroll 4
        for (int r = 0; r < ra; r += 4) {
            if (r >= h)
                break;
#pragma GCC unroll 5
            for (int g = 0; g < ng; g++)
                store_rows4(t, sum_lanes4(acc[r][g], acc[r + 1][g], acc[r + 2][g], acc[r + 3][g]),
                            i + r, h - r < 4 ? h - r : 4, g0 + g);
        }
        return;
    }
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int r = 0; r < ra; r++) {
        if (r >= h)
            break;
        __m512 x[4];
#pragma GCC unroll 4
        for (int p = 0; p < 4; p++)
            x[p] = 2 * p >= ng ? zero : fold_pair(acc[r][2 * p], 2 * p + 1 < ng ? acc[r][2 * p + 1] : zero);
        store_row16(t, reduce_lanes4(x[0], x[1], x[2], x[3]), i + r, 2 * g0, 2 * ng);
    }
}

/* Rows per tile: at most 25 accumulators, each A load feeding every group. Two-column layout
 * (n <= 10): 12 rows for one or two groups, 8 for three, 6 for four, 5 for five. Four-column
 * layout: 8 rows for three groups (n = 11, 12), 4 for four, and past four groups (n > 16) 8-row
 * tiles over chunks of three groups, the tile's rows of A staying in L1. */
static int tile_rows(int64_t n)
{
    static const int rows[6] = {0, 12, 12, 8, 6, 5};
    return two_columns(n) ? rows[(n + 1) / 2] : n > 12 && n <= 16 ? 4 : 8;
}

/* Tiles [t0, t1) of C's rows, all columns. */
THIN_TARGET static void rows_f32(const struct ag_thin_f32 *t, const float *bp, int64_t steps,
                                 int64_t t0, int64_t t1)
{
    const int64_t n = t->n, ra = tile_rows(n);
    for (int64_t i = t0 * ra; i < t1 * ra && i < t->m; i += ra) {
        const int64_t h = t->m - i < ra ? t->m - i : ra;
        if (two_columns(n)) {
            switch ((n + 1) / 2) {
            case 1: tile_f32(2, 12, 1, t, bp, steps, i, h, 0); break;
            case 2: tile_f32(2, 12, 2, t, bp, steps, i, h, 0); break;
            case 3: tile_f32(2, 8, 3, t, bp, steps, i, h, 0); break;
            case 4: tile_f32(2, 6, 4, t, bp, steps, i, h, 0); break;
            default: tile_f32(2, 5, 5, t, bp, steps, i, h, 0); break;
            }
        } else if (n <= 12) {
            tile_f32(4, 8, 3, t, bp, steps, i, h, 0);
        } else if (n <= 16) {
            tile_f32(4, 4, 4, t, bp, steps, i, h, 0);
        } else {
            const int ng = (int)(n + 3) / 4;
            for (int g0 = 0; g0 < ng; g0 += 3) {
                switch (ng - g0 < 3 ? ng - g0 : 3) {
                case 1: tile_f32(4, 8, 1, t, bp, steps, i, h, g0); break;
                case 2: tile_f32(4, 8, 2, t, bp, steps, i, h, g0); break;
                default: tile_f32(4, 8, 3, t, bp, steps, i, h, g0); break;
                }
            }
        }
    }
}

/* ---- Rows of A broadcast in place: 28 <= n <= 32, and x @ W^T at a batch of up to 256.
 *
 * x @ W^T at a small batch is computed as C^T = W x^T: A = W, whose rows are contiguous along
 * k, and n = the batch. B (x^T) is packed once into k x 32 panels (zero past n), and each
 * 12-row tile of A runs the packed kernel's loop against a panel with A read in place: per
 * depth two vectors of B and each row's value of A broadcast straight from memory. Nothing
 * copies W, which the packed path transposes into panels (~11% of its time at batch 128) and
 * the dot-product layout (n <= 32) reads with 128-bit broadcasts and lane sums. Measured with
 * W 512 x 784, one thread: batch 32 225 -> 252 GFLOPS, 64 216 -> 264, 128 241 -> 267; two
 * threads, 64 and 128: 353 -> 438, 385 -> 449. It loses where the padding to 32 columns or a
 * short k weighs (batch 33, k = 256 or 300), hence ag_gemm_bcast_wide's limits; below 28 the
 * dot products' narrower groups win (k = 784: n = 28 101 vs 103 us, n = 24 100 vs 86).
 * Threads pack B's depths between them, then take equal runs of 4-row units, panel by panel,
 * so each sweeps its rows of W against one panel at a time (bcast_rows). Each element is the
 * packed kernel's FMA chain over p in order, then alpha * ab, then + bias or fma(beta, c, .):
 * on one k slice, the bits of the packed kernel, and a batch's rows the bits of the same rows
 * computed alone. */
#define BC_MR 12
#define BC_GROUP 4 /* rows per work unit */
#define BC_NR 32
#define BC_MIN_N 28
#define BC_MAX_N 256
#define BC_MIN_K 512

/* Depths [p_lo, p_hi) of columns [j0, j0 + 32) of B (k x n) into its k x 32 panel, zero past
 * n; p_lo a multiple of 16. */
THIN_TARGET static void bcast_pack_b(const struct ag_thin_f32 *t, float *bp, int64_t j0,
                                     int64_t p_lo, int64_t p_hi)
{
    const int64_t n = t->n - j0 < BC_NR ? t->n - j0 : BC_NR;
    const __mmask16 m0 = first_lanes(n), m1 = first_lanes(n - VF);
    if (t->csb == 1) {  /* rows of B */
        for (int64_t p = p_lo; p < p_hi; p++) {
            _mm512_store_ps(bp + p * BC_NR, _mm512_maskz_loadu_ps(m0, t->b + p * t->rsb + j0));
            _mm512_store_ps(bp + p * BC_NR + VF, _mm512_maskz_loadu_ps(m1, t->b + p * t->rsb + j0 + VF));
        }
        return;
    }
    /* rsb = 1, columns of B (x^T: the rows of x): 16 x 16 blocks transposed in registers */
    for (int64_t p0 = p_lo; p0 < p_hi; p0 += VF) {
        const int64_t depths = p_hi - p0 < VF ? p_hi - p0 : VF;
        const __mmask16 dm = first_lanes(depths);
        for (int64_t g = 0; g < BC_NR; g += VF) {
            __m512 r[VF], out[VF];
#pragma GCC unroll 16
            for (int j = 0; j < VF; j++)
                r[j] = g + j < n ? _mm512_maskz_loadu_ps(dm, t->b + (j0 + g + j) * t->csb + p0)
                                 : _mm512_setzero_ps();
            ag_transpose16_f32(r, out);
            for (int64_t d = 0; d < depths; d++)
                _mm512_store_ps(bp + (p0 + d) * BC_NR + g, out[d]);
        }
    }
}

/* c = v + beta * c (one rounding, fma) over the lanes `rows`, or c = v without beta. */
THIN_TARGET static inline __attribute__((always_inline)) void
bcast_store_column(const struct ag_thin_f32 *t, __m512 v, __m512 vb, __mmask16 rows, float *c)
{
    if (t->beta)
        v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(rows, c), v);
    _mm512_mask_storeu_ps(c, rows, v);
}

/* Rows [i, i + h) of C (h <= R, R = 4, 8 or 12 a constant after inlining; rows of A past h
 * repeat the last one, unused), columns [j0, j0 + 32) (those < n), from their panel bp. */
THIN_TARGET static inline __attribute__((always_inline)) void
bcast_tile(const int R, const struct ag_thin_f32 *t, const float *bp, int64_t i, int64_t h,
           int64_t j0)
{
    const float *a[BC_MR];
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
        a[r] = t->a + (i + (r < h ? r : h - 1)) * t->lda;
    __m512 lo[BC_MR], hi[BC_MR];
#pragma GCC unroll 12
    for (int r = 0; r < R; r++)
        lo[r] = hi[r] = _mm512_setzero_ps();
    const int64_t k = t->k;
    for (int64_t p0 = 0; p0 < k; p0 += VF) {
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)  /* R rows read side by side: their next lines early */
            _mm_prefetch((const char *)(a[r] + p0 + 4 * VF), _MM_HINT_T0);
        const int64_t p1 = k - p0 < VF ? k : p0 + VF;
#pragma GCC unroll 4
        for (int64_t p = p0; p < p1; p++) {
            const __m512 b0 = _mm512_load_ps(bp + p * BC_NR), b1 = _mm512_load_ps(bp + p * BC_NR + VF);
#pragma GCC unroll 12
            for (int r = 0; r < R; r++) {
                const __m512 ar = _mm512_set1_ps(a[r][p]);
                lo[r] = _mm512_fmadd_ps(ar, b0, lo[r]);
                hi[r] = _mm512_fmadd_ps(ar, b1, hi[r]);
            }
        }
    }
    const int64_t n = t->n - j0 < BC_NR ? t->n - j0 : BC_NR;  /* this panel's columns */
    const __mmask16 m0 = first_lanes(n), m1 = first_lanes(n - VF);
    const __m512 va = _mm512_set1_ps(t->alpha);
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
        if (t->alpha != 1.0f)  /* 1 * x is x: skipping it changes no bit */
            lo[r] = _mm512_mul_ps(va, lo[r]), hi[r] = _mm512_mul_ps(va, hi[r]);
        if (t->bias && t->bias_per_row) {
            const __m512 add = _mm512_set1_ps(r < h ? t->bias[i + r] : 0.0f);
            lo[r] = _mm512_add_ps(lo[r], add), hi[r] = _mm512_add_ps(hi[r], add);
        } else if (t->bias) {
            lo[r] = _mm512_add_ps(lo[r], _mm512_maskz_loadu_ps(m0, t->bias + j0));
            hi[r] = _mm512_add_ps(hi[r], _mm512_maskz_loadu_ps(m1, t->bias + j0 + VF));
        }
    }
    const __m512 vb = _mm512_set1_ps(t->beta ? *t->beta : 0.0f);
    if (t->csc == 1) {  /* row-major C: each row's two vectors */
#pragma GCC unroll 12
        for (int r = 0; r < R; r++)
            if (r < h) {
                float *c = t->c + (i + r) * t->rsc + j0;
                if (t->beta) {
                    lo[r] = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), lo[r]);
                    hi[r] = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + VF), hi[r]);
                }
                _mm512_mask_storeu_ps(c, m0, lo[r]);
                _mm512_mask_storeu_ps(c + VF, m1, hi[r]);
            }
        return;
    }
    /* C with unit row stride (C^T of x @ W^T): column j of the tile is h values at c + j csc,
     * taken from the accumulators transposed 16 columns at a time */
    const __mmask16 rows = first_lanes(h);
    for (int half = 0; half < 2; half++) {
        __m512 r[VF], out[VF];
#pragma GCC unroll 16
        for (int q = 0; q < VF; q++)
            r[q] = q < R ? (half ? hi[q] : lo[q]) : _mm512_setzero_ps();
        ag_transpose16_f32(r, out);
        for (int64_t j = half * VF; j < n && j < (half + 1) * VF; j++)
            bcast_store_column(t, out[j - half * VF], vb, rows, t->c + i + (j0 + j) * t->csc);
    }
}

/* Work units [u0, u1): unit u is rows [4 (u % groups), +4) of A (groups = ceil(m / 4)) against
 * column panel u / groups. A thread's run sweeps its rows against one panel at a time, in tiles
 * of 12 rows from the run's start (8 or 4 at its end). Units of 4 rows split the work evenly
 * between threads (W 512 x 784: 256 rows each, where 12-row items split 264 / 248), and the
 * rows a thread takes are then the ones the optimizer's update of W gives it too (optim.c
 * splits a buffer into equal halves), so W stays with one core. A row's arithmetic does not
 * depend on its tile. */
THIN_TARGET static void bcast_rows(const struct ag_thin_f32 *t, const float *bp, int64_t u0,
                                   int64_t u1)
{
    const int64_t groups = (t->m + BC_GROUP - 1) / BC_GROUP;
    while (u0 < u1) {
        const int64_t q = u0 / groups, end = u1 < (q + 1) * groups ? u1 : (q + 1) * groups;
        const int64_t j0 = q * BC_NR, first = (u0 - q * groups) * BC_GROUP;
        const int64_t last = end == (q + 1) * groups ? t->m : (end - q * groups) * BC_GROUP;
        const float *panel = bp + j0 * t->k;
        for (int64_t i = first; i < last; i += BC_MR) {
            const int64_t h = last - i < BC_MR ? last - i : BC_MR;
            if (h > 8)
                bcast_tile(12, t, panel, i, h, j0);
            else if (h > 4)
                bcast_tile(8, t, panel, i, h, j0);
            else
                bcast_tile(4, t, panel, i, h, j0);
        }
        u0 = end;
    }
}

int ag_gemm_bcast_wide(int64_t n, int64_t k)
{
    return n > BC_NR && n <= BC_MAX_N && (n % BC_NR == 0 || n % BC_NR >= BC_MIN_N) && k >= BC_MIN_K;
}

/* This path's products: 28 <= n <= 32 (below, the dot products' narrower groups win: at
 * k = 784, n = 28 101 vs 103 us, n = 24 100 vs 86), or ag_gemm_bcast_wide's; C by rows or
 * (C^T) by columns. */
static int bcast_applies(const struct ag_thin_f32 *t)
{
    return ((t->n >= BC_MIN_N && t->n <= BC_NR) || ag_gemm_bcast_wide(t->n, t->k)) &&
           (t->csc == 1 || t->rsc == 1);
}

/* B packed, then the rows: on several threads, each packs its share of the depths (in steps of
 * 16) of every panel, then each computes an equal run of units (bcast_rows). */
struct bcast_task {
    const struct ag_thin_f32 *t;
    float *bp;
    int64_t panels, units;
};

static void bcast_pack_share(void *ctx, int id, int threads)
{
    const struct bcast_task *s = ctx;
    const int64_t k = s->t->k, steps = (k + VF - 1) / VF;
    const int64_t p_lo = steps * id / threads * VF, p_hi = steps * (id + 1) / threads * VF;
    for (int64_t q = 0; q < s->panels; q++)
        bcast_pack_b(s->t, s->bp + q * k * BC_NR, q * BC_NR, p_lo, p_hi < k ? p_hi : k);
}

static void bcast_rows_share(void *ctx, int id, int threads)
{
    const struct bcast_task *s = ctx;
    const int64_t chunk = (s->units + threads - 1) / threads;
    const int64_t u0 = chunk * id < s->units ? chunk * id : s->units;
    bcast_rows(s->t, s->bp, u0, u0 + chunk < s->units ? u0 + chunk : s->units);
}

static int bcast_f32(const struct ag_thin_f32 *t, int threads)
{
    const int64_t panels = (t->n + BC_NR - 1) / BC_NR, k = t->k;
    const int64_t units = panels * ((t->m + BC_GROUP - 1) / BC_GROUP);
    float *bp = aligned_alloc(64, (size_t)(panels * k * BC_NR) * sizeof(float));
    if (!bp)
        return AG_ERR_NOMEM;
    if (threads > units)
        threads = units > 0 ? (int)units : 1;
    struct bcast_task task = {t, bp, panels, units};
    ag_parallel(bcast_pack_share, &task, threads);  /* every row reads all of B */
    ag_parallel(bcast_rows_share, &task, threads);
    free(bp);
    return AG_OK;
}

struct rows_task {
    const struct ag_thin_f32 *t;
    const float *bp;
    int64_t steps, tiles;
};

static void rows_share(void *ctx, int i, int threads)
{
    const struct rows_task *s = ctx;
    rows_f32(s->t, s->bp, s->steps, s->tiles * i / threads, s->tiles * (i + 1) / threads);
}

int ag_gemm_thin_f32(const struct ag_thin_f32 *t, int threads)
{
    if (bcast_applies(t))
        return bcast_f32(t, threads);
    const int pairs = two_columns(t->n);
    const int64_t depth = pairs ? 8 : 4, steps = (t->k + depth - 1) / depth;
    const int64_t groups = pairs ? (t->n + 1) / 2 : (t->n + 3) / 4;
    float *bp = aligned_alloc(64, (size_t)(groups * steps * VF) * sizeof(float));
    if (!bp)
        return AG_ERR_NOMEM;
    if (pairs)
        pack_b_pairs(t, bp, steps);
    else
        pack_b_fours(t, bp, steps);
    const int64_t ra = tile_rows(t->n), tiles = (t->m + ra - 1) / ra;
    if (threads > tiles)
        threads = (int)tiles;
    struct rows_task task = {t, bp, steps, tiles};
    ag_parallel(rows_share, &task, threads);
    free(bp);
    return AG_OK;
}

/* ---- A read in place, B by rows. Written for k <= 16, where a product is as much writing C as
 * computing it; it beats the packed kernel at any depth up to a mid size (gemm.c,
 * AG_IN_PLACE_A_MAX_MNK). For each 64-column block of B its rows of one k slice are packed
 * (kc x 64, zero-padded: contiguous, in L1 or L2 however B's rows alias), and all the tiles of a
 * chunk of rows run against it, reading A in place (a tile's kc x 6 values of A are broadcast
 * once each, so packing them buys nothing: it was ~8% of 128 x 10 @ 10 x 512, and 64^3 went
 * 2.95 -> 2.26 us without it) and storing straight into C with masked stores (no edge buffer).
 * 6 x 64 tiles need 6 broadcasts and 4 loads of B per 24 FMAs, where the packed kernel's
 * 12 x 32 need 12 and 2. The arithmetic is the packed kernel's, slice for slice: p in order,
 * FMA, then c = alpha * ab + beta * c (or + bias) after the first slice and alpha * ab + c after
 * each later one. Threads take disjoint row blocks, or column blocks. */

/* What the stores below apply to a product, read once per call: stores into C can alias t's
 * fields as far as the compiler knows, so it would read them again after every store (the
 * k = 16 path was ~4% slower so). */
struct c_update {
    float alpha, beta;  /* beta used only with has_beta */
    int has_beta;
    const float *bias;
    int plain;  /* c = ab: alpha 1, no bias, no beta */
};

static inline struct c_update c_update_of(const struct ag_direct_b_f32 *t)
{
    return (struct c_update){t->alpha, t->beta ? *t->beta : 0.0f, t->beta != NULL, t->bias,
                             t->alpha == 1.0f && !t->beta && !t->bias};
}

/* One vector of a row of C at cr (column j; lanes outside m masked off) from its accumulator:
 * c = alpha * ab + beta * c, the packed kernel's store, or alpha * ab + bias. */
THIN_TARGET static inline __attribute__((always_inline)) void
store_vec(const struct c_update u, __m512 ab, float *cr, int64_t j, __mmask16 m)
{
    if (u.alpha != 1.0f)  /* 1 * x is x: skipping it changes no bit */
        ab = _mm512_mul_ps(_mm512_set1_ps(u.alpha), ab);
    if (u.bias)
        ab = _mm512_add_ps(ab, _mm512_maskz_loadu_ps(m, u.bias + j));
    if (u.has_beta)
        ab = _mm512_fmadd_ps(_mm512_set1_ps(u.beta), _mm512_maskz_loadu_ps(m, cr), ab);
    _mm512_mask_storeu_ps(cr, m, ab);
}

/* A row's 32 columns of C at cr (column j) from its two accumulators (lanes past n masked off
 * by m0, m1). */
THIN_TARGET static inline __attribute__((always_inline)) void
store_row32(const struct c_update u, __m512 lo, __m512 hi, float *cr, int64_t j, __mmask16 m0,
            __mmask16 m1)
{
    store_vec(u, lo, cr, j, m0);
    store_vec(u, hi, cr + 16, j + 16, m1);
}

/* B's rows [p0, p0 + kc) at columns [j0, j0 + 16 nv) into bp, row p at bp + 16 nv (p - p0)
 * (aligned, zero past n): a block that stays in L1 or L2 however B's rows alias, read with
 * aligned loads. */
THIN_TARGET static inline __attribute__((always_inline)) void
pack_b_block(const struct ag_direct_b_f32 *t, int64_t p0, int64_t kc, int64_t j0, int64_t nv,
             float *bp)
{
    const float *b = t->b + p0 * t->ldb + j0;
    for (int64_t p = 0; p < kc; p++, b += t->ldb, bp += nv * VF)
        for (int64_t v = 0; v < nv; v++)
            _mm512_store_ps(bp + v * VF,
                            _mm512_maskz_loadu_ps(first_lanes(t->n - j0 - VF * v), b + VF * v));
}

/* rows <= ld <= 16 rows of a row-major A (a[r rsa + p]) into dst by depth, ld values per depth
 * (dst[p ld + r] = A[r][p], 0 for r >= rows), 16 depths at a time transposed in registers.
 * Element by element, the few-rows path's 10 x 128 took ~0.35 us, a tenth of the product on
 * two threads. */
THIN_TARGET static void pack_by_depth(const float *a, int64_t rsa, int64_t rows, int64_t k,
                                      float *dst, int64_t ld)
{
    const __mmask16 stored = first_lanes(ld);
    for (int64_t p0 = 0; p0 < k; p0 += 16) {
        const __mmask16 depths = first_lanes(k - p0);
        __m512 r[16], out[16];
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++)
            r[i] = i < rows ? _mm512_maskz_loadu_ps(depths, a + i * rsa + p0) : _mm512_setzero_ps();
        ag_transpose16_f32(r, out);
        const int64_t qn = k - p0 < 16 ? k - p0 : 16;
        for (int64_t q = 0; q < qn; q++)
            _mm512_mask_storeu_ps(dst + (p0 + q) * ld, stored, out[q]);
    }
}

#define IA_NR 64      /* columns per block of B */
#define IA_ROWS 768   /* rows per pass over the blocks: their rows of A stay in L1 or L2 */
#define IA_SHARE 6    /* threads split the rows in multiples of this */

/* One tile: rows [0, rows) of C at c by nv vectors from column j (lanes masked by mk[v]), rows,
 * nv and plain (u.plain, or 0: store_vec stores a plain update with the same bits) constants
 * after inlining, from A read in place (a[r rsa + p csa]) and B's block (row p
 * at bp + p 16 nv). Its stores come after all its FMAs and take about a cycle each whatever the
 * shape, and about two for one that straddles two cache lines (numpy's outputs start 48 bytes
 * into one): wide rows straddle fewer, so 6 x 64 where C is that wide. Against 12 x 32 tiles
 * from packed A, 128 x 10 @ 10 x 512 in a C loop into a C at numpy's offset took 6.5 -> 5.8 us on
 * one thread and 3.9 -> 3.3 us on two. */
THIN_TARGET static inline __attribute__((always_inline)) void
in_place_a_tile(const int rows, const int nv, const int plain, const struct c_update u, int64_t k,
            const float *a, int64_t rsa, int64_t csa, const float *bp, float *c, int64_t ldc,
            int64_t j, const __mmask16 mk[4])
{
    __m512 acc[12][4];
#pragma GCC unroll 12
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int64_t p = 0; p < k; p++) {
        __m512 b[4];
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            b[v] = _mm512_load_ps(bp + (p * nv + v) * VF);
#pragma GCC unroll 12
        for (int r = 0; r < rows; r++) {
            const __m512 ar = _mm512_set1_ps(a[r * rsa + p * csa]);
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_fmadd_ps(ar, b[v], acc[r][v]);
        }
    }
    if (plain) {
#pragma GCC unroll 12
        for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++)
                _mm512_mask_storeu_ps(c + r * ldc + v * VF, mk[v], acc[r][v]);
        return;
    }
#pragma GCC unroll 12
    for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++)
            store_vec(u, acc[r][v], c + r * ldc + v * VF, j + v * VF, mk[v]);
}

/* The last tile of a row range, h rows: under 6 x 64 tiles (nv = 4) h < 6, else h < 12. Each
 * height has its own loop, so that no FMA goes to rows past the end. Out of line: inlined, it
 * made the full tiles' loop ~4% slower. */
#define IA_TAIL(h, nv) case h: in_place_a_tile(h, nv, 0, u, k, a, rsa, csa, bp, c, ldc, j, mk); break;
THIN_TARGET static __attribute__((noinline)) void
in_place_a_tail(int64_t h, int nv, const struct c_update u, int64_t k, const float *a, int64_t rsa,
            int64_t csa, const float *bp, float *c, int64_t ldc, int64_t j, const __mmask16 mk[4])
{
    if (nv == 4) {
        switch (h) { IA_TAIL(1, 4) IA_TAIL(2, 4) IA_TAIL(3, 4) IA_TAIL(4, 4) IA_TAIL(5, 4) }
        return;
    }
    switch (h) {
    IA_TAIL(1, 2) IA_TAIL(2, 2) IA_TAIL(3, 2) IA_TAIL(4, 2) IA_TAIL(5, 2) IA_TAIL(6, 2)
    IA_TAIL(7, 2) IA_TAIL(8, 2) IA_TAIL(9, 2) IA_TAIL(10, 2) IA_TAIL(11, 2)
    }
}
#undef IA_TAIL

/* The tiles of rows [i0, i1) against one block of depths [p0, p0 + k): mr x nv (constants), then
 * the rows left. A plain update gets a loop of its own: behind a test in every tile, the other
 * stores' address arithmetic was computed and spilled for every tile anyway (128 x 10 @ 10 x 512,
 * one thread, C at numpy's offset: 6.1-6.4 -> 5.85-6.0 us). */
THIN_TARGET static inline __attribute__((always_inline)) void
in_place_a_block(const int mr, const int nv, const struct ag_direct_b_f32 *t, const struct c_update u,
             int64_t p0, int64_t k, int64_t i0, int64_t i1, const float *bp, int64_t j,
             const __mmask16 mk[4])
{
    /* t's fields in locals: after a store into C the compiler would read them again */
    const int64_t rsa = t->rsa, csa = t->csa, ldc = t->ldc;
    const float *a = t->a + p0 * csa;
    float *c = t->c + j;
    int64_t i = i0;
    if (u.plain)
        for (; i + mr <= i1; i += mr)
            in_place_a_tile(mr, nv, 1, u, k, a + i * rsa, rsa, csa, bp, c + i * ldc, ldc, j, mk);
    else
        for (; i + mr <= i1; i += mr)
            in_place_a_tile(mr, nv, 0, u, k, a + i * rsa, rsa, csa, bp, c + i * ldc, ldc, j, mk);
    if (i < i1)
        in_place_a_tail(i1 - i, nv, u, k, a + i * rsa, rsa, csa, bp, c + i * ldc, ldc, j, mk);
}

/* Rows [r0, r1) by column blocks [first, end) of IA_NR: 6 x 64 tiles, or 12 x 32 where the block
 * is 32 columns or fewer (C 32 wide, a convolution's 32 channels: 6 x 64 would waste half its
 * FMAs there). k in slices of kc, as the packed kernel cuts it: the first stores alpha ab + beta c
 * (or + bias), each later one alpha ab + c. bp holds kc x IA_NR floats. */
THIN_TARGET static void in_place_a_rows_f32(const struct ag_direct_b_f32 *t, int64_t kc, float *bp,
                                        int64_t r0, int64_t r1, int64_t first, int64_t end)
{
    const struct c_update u0 = c_update_of(t), later = {t->alpha, 1.0f, 1, NULL, 0};
    for (int64_t i0 = r0; i0 < r1; i0 += IA_ROWS) {
        const int64_t i1 = r1 - i0 < IA_ROWS ? r1 : i0 + IA_ROWS;
        for (int64_t p0 = 0; p0 < t->k; p0 += kc) {
            const int64_t depth = t->k - p0 < kc ? t->k - p0 : kc;
            const struct c_update u = p0 ? later : u0;
            for (int64_t j = first * IA_NR; j < t->n && j < end * IA_NR; j += IA_NR) {
                __mmask16 mk[4];
                for (int v = 0; v < 4; v++)
                    mk[v] = first_lanes(t->n - j - v * VF);
                if (t->n - j > 2 * VF) {
                    pack_b_block(t, p0, depth, j, 4, bp);
                    in_place_a_block(6, 4, t, u, p0, depth, i0, i1, bp, j, mk);
                } else {
                    pack_b_block(t, p0, depth, j, 2, bp);
                    in_place_a_block(12, 2, t, u, p0, depth, i0, i1, bp, j, mk);
                }
            }
        }
    }
}

struct in_place_a_task {
    const struct ag_direct_b_f32 *t;
    int64_t kc;
    float *bp;  /* kc x IA_NR floats a thread, or NULL: kc <= AG_SMALLK_MAX_K, on the stack */
    int64_t tiles, blocks;
    int columns;
};

/* Thread i's share: its columns, or its rows. */
static void in_place_a_share(void *ctx, int i, int threads)
{
    const struct in_place_a_task *s = ctx;
    const struct ag_direct_b_f32 *t = s->t;
    _Alignas(64) float stack_bp[AG_SMALLK_MAX_K * IA_NR];
    float *bp = s->bp ? s->bp + i * s->kc * IA_NR : stack_bp;
    if (s->columns) {
        in_place_a_rows_f32(t, s->kc, bp, 0, t->m, s->blocks * i / threads,
                            s->blocks * (i + 1) / threads);
    } else {
        const int64_t r0 = s->tiles * i / threads * IA_SHARE;
        const int64_t r1 = s->tiles * (i + 1) / threads * IA_SHARE;
        in_place_a_rows_f32(t, s->kc, bp, r0, r1 < t->m ? r1 : t->m, 0, s->blocks);
    }
}

int ag_gemm_in_place_a_f32(const struct ag_direct_b_f32 *t, int64_t kc, int threads)
{
    const int64_t tiles = (t->m + IA_SHARE - 1) / IA_SHARE, blocks = (t->n + IA_NR - 1) / IA_NR;
    if (threads > tiles * blocks)
        threads = (int)(tiles * blocks);
    if (threads < 1)
        threads = 1;
    if (kc < 1 || kc > t->k)
        kc = t->k > 0 ? t->k : 1;
    /* Threads take rows, or columns where that shares the work more evenly. On a tie, rows: two
     * threads writing the two halves of each row of C share the cache line between them in every
     * row (128 x 10 @ 10 x 512 at numpy's offset: 3.39 us by rows, 3.58 by columns). */
    const int64_t by_rows = (tiles + threads - 1) / threads * blocks;
    const int64_t by_columns = (blocks + threads - 1) / threads * tiles;
    float *bp = NULL;
    if (kc > AG_SMALLK_MAX_K) {
        bp = aligned_alloc(64, (size_t)(threads * kc * IA_NR) * sizeof(float));
        if (!bp)
            return AG_ERR_NOMEM;
    }
    /* Past k = 16 packing B is a fair part of a thread's work (kc x 64 floats a block, 256 x 64
     * at k = 512): split by rows, every thread packs all of B. So columns, where there are at
     * least two blocks a thread (two threads, C loop: 128x784 @ 784x512 233 -> 219 us, 128x512
     * @ 512x784 242 -> 233). */
    const int columns = by_columns < by_rows || (t->k > AG_SMALLK_MAX_K && blocks >= 2 * threads);
    struct in_place_a_task task = {t, kc, bp, tiles, blocks, columns};
    ag_parallel(in_place_a_share, &task, threads);
    free(bp);
    return AG_OK;
}

/* ---- m <= 12 with B row-major: every element of B meets every row of A once, so packing B
 * (the packed kernel's way) would copy all of B to read it once. Instead each 32-column block
 * of C is one tile of m x 32 accumulators (m exact, a constant after inlining) that runs down
 * all of k reading B's rows in place; A is packed once, p-major, m values per depth (or read
 * as it is when it is stored so: A^T by rows of m). The
 * arithmetic: p in order over the whole k, FMA, then c = alpha * ab + beta * c (one rounding,
 * fma). Threads take disjoint column blocks, so the result does not depend on their count. */

#define FR_NR 32
#define FR_PREFETCH 16  /* B rows ahead */

THIN_TARGET static inline __attribute__((always_inline)) void
fewrows_block(const int ra, const struct ag_direct_b_f32 *t, const float *ap, int64_t j0)
{
    const int64_t k = t->k, ldb = t->ldb, w = t->n - j0;
    const __mmask16 m0 = first_lanes(w), m1 = first_lanes(w - VF);
    const float *b = t->b + j0;
    __m512 lo[AG_FEWROWS_MAX_M], hi[AG_FEWROWS_MAX_M];
#pragma GCC unroll 12
    for (int r = 0; r < ra; r++)
        lo[r] = hi[r] = _mm512_setzero_ps();
    if (w > 16) {  /* masked loads read nothing past n (all lanes in a full block) */
#pragma GCC unroll 2
        for (int64_t p = 0; p < k; p++) {
            const float *row = b + p * ldb;
            _mm_prefetch((const char *)(row + FR_PREFETCH * ldb), _MM_HINT_T0);
            _mm_prefetch((const char *)(row + FR_PREFETCH * ldb + 16), _MM_HINT_T0);
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, row), b1 = _mm512_maskz_loadu_ps(m1, row + 16);
#pragma GCC unroll 12
            for (int r = 0; r < ra; r++) {
                const __m512 ar = _mm512_set1_ps(ap[p * ra + r]);
                lo[r] = _mm512_fmadd_ps(ar, b0, lo[r]);
                hi[r] = _mm512_fmadd_ps(ar, b1, hi[r]);
            }
        }
    } else {  /* the last block, one vector wide: hi stays 0 and m1 stores nothing */
        for (int64_t p = 0; p < k; p++) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + p * ldb);
#pragma GCC unroll 12
            for (int r = 0; r < ra; r++)
                lo[r] = _mm512_fmadd_ps(_mm512_set1_ps(ap[p * ra + r]), b0, lo[r]);
        }
    }
    const struct c_update u = c_update_of(t);
#pragma GCC unroll 12
    for (int r = 0; r < ra; r++)
        store_row32(u, lo[r], hi[r], t->c + r * t->ldc + j0, j0, m0, m1);
}

/* Column blocks [b0, b1) with ra = m rows. */
THIN_TARGET static inline __attribute__((always_inline)) void
fewrows_span(const int ra, const struct ag_direct_b_f32 *t, const float *ap, int64_t b0, int64_t b1)
{
    for (int64_t j = b0; j < b1; j++)
        fewrows_block(ra, t, ap, j * FR_NR);
}

THIN_TARGET static void fewrows_f32(const struct ag_direct_b_f32 *t, const float *ap, int64_t b0,
                                    int64_t b1)
{
    switch (t->m) {  /* one loop per row count: the accumulators are registers only when it is fixed */
    case 1: fewrows_span(1, t, ap, b0, b1); break;
    case 2: fewrows_span(2, t, ap, b0, b1); break;
    case 3: fewrows_span(3, t, ap, b0, b1); break;
    case 4: fewrows_span(4, t, ap, b0, b1); break;
    case 5: fewrows_span(5, t, ap, b0, b1); break;
    case 6: fewrows_span(6, t, ap, b0, b1); break;
    case 7: fewrows_span(7, t, ap, b0, b1); break;
    case 8: fewrows_span(8, t, ap, b0, b1); break;
    case 9: fewrows_span(9, t, ap, b0, b1); break;
    case 10: fewrows_span(10, t, ap, b0, b1); break;
    case 11: fewrows_span(11, t, ap, b0, b1); break;
    default: fewrows_span(12, t, ap, b0, b1); break;
    }
}

struct fewrows_task {
    const struct ag_direct_b_f32 *t;
    const float *packed;
    int64_t blocks;
};

static void fewrows_share(void *ctx, int i, int threads)
{
    const struct fewrows_task *s = ctx;
    fewrows_f32(s->t, s->packed, s->blocks * i / threads, s->blocks * (i + 1) / threads);
}

int ag_gemm_fewrows_f32(const struct ag_direct_b_f32 *t, int threads)
{
    const int64_t m = t->m, k = t->k, blocks = (t->n + FR_NR - 1) / FR_NR;
    if (m < 1 || m > AG_FEWROWS_MAX_M)
        return AG_ERR_ARG;
    /* A^T stored by rows of exactly m values (g.T for the gradient g of an m-class layer) is the
     * packed layout already: it is read in place (10 x 128 @ 128 x 512 from g.T: 5.26 -> 5.04 us
     * on one thread, 3.52 -> 3.16 us on two). */
    float *ap = NULL;
    const float *packed = t->a;
    if (t->rsa != 1 || t->csa != m) {
        ap = aligned_alloc(64, (size_t)((k * m + 15) / 16 * 16) * sizeof(float) + 64);
        if (!ap)
            return AG_ERR_NOMEM;
        if (t->csa == 1) {
            pack_by_depth(t->a, t->rsa, m, k, ap, m);
        } else {
            for (int64_t p = 0; p < k; p++)
                for (int64_t r = 0; r < m; r++)
                    ap[p * m + r] = t->a[r * t->rsa + p * t->csa];
        }
        packed = ap;
    }
    if (threads > blocks)
        threads = (int)blocks;
    struct fewrows_task task = {t, packed, blocks};
    ag_parallel(fewrows_share, &task, threads);
    free(ap);
    return AG_OK;
}

/* ---- A with many zeros, k <= 64, B row-major: a ReLU layer's weight gradient g^T @ x, where
 * about half of g is 0 (the units that were off). Row i of C is the sum over p of A[i][p] times
 * row p of B, and the terms with A[i][p] == 0 are skipped: each row keeps a bit mask of its
 * nonzero depths. A tile is one row by up to 16 vectors of C (B's rows of that block stay in
 * L1, copied to an aligned block), so each product is a broadcast of A[i][p] and one FMA per
 * vector of B: a load per FMA caps this at ~5/6 of the packed kernel's rate, and it wins from a
 * fifth of A zero (512 x 32 @ 32 x 784 on the Zen 5 host, one thread: the packed kernel 109 us;
 * this path 131, 108, 97 and 74 us at 0, 20, 30 and 50% zeros). It is taken from a quarter
 * (a third past k = 32), for C at least 128 wide (see SA_MIN_N).
 *
 * Numerics: the packed kernel's, term for term: p in order, FMA from 0, then its store. A
 * skipped term would add A[i][p] * B[p][j] = +-0, which leaves a sum as it is, but for the sign
 * of a zero: where the sum so far is -0 (its products all -0, or underflowed to it), adding +0
 * makes it +0, so the packed kernel can return +0 where this returns -0. The term could not
 * have been NaN: the path is not taken when B holds an inf or a NaN (0 * inf is NaN). Threads
 * take disjoint rows; the result does not depend on their count. */

#define SA_MAX_K 64
#define SA_MAX_VECS 16       /* a tile's vectors of C at k <= 32 */
#define SA_MAX_VECS_DEEP 12  /* beyond: B's block (k x 16 vectors) within L1 */
/* Below these the packed kernel is as fast or faster: a narrower C (tiles of fewer than 8
 * vectors: 512 x 64 @ 64 x 64 at 30% zeros took 29 us against its 20), and fewer zeros per 1024
 * entries of A, a quarter at k <= 32 and a third past it (B's block then fills L1: at 30% zeros
 * 512 x 64 @ 64 x 784 took 203 us against 214, 512 x 64 @ 64 x 128 35 against 35). */
#define SA_MIN_N 128
#define SA_MIN_ZEROS_PER_1024 256
#define SA_MIN_ZEROS_PER_1024_DEEP 342

/* Row i's nonzero depths as bits of masks[i], for rows [r0, r1); returns how many are set. */
THIN_TARGET static int64_t depth_masks(const struct ag_direct_b_f32 *t, int64_t r0, int64_t r1,
                                       uint64_t *masks)
{
    const __m512 zero = _mm512_setzero_ps();
    int64_t i = r0, set = 0;
    if (t->rsa == 1) {  /* a transposed view (g^T): 16 rows' entries at one depth are contiguous */
        for (; i + 16 <= r1; i += 16) {
            __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
            for (int64_t p = 0; p < t->k; p++) {
                const __m512 v = _mm512_loadu_ps(t->a + p * t->csa + i);
                const __mmask16 nz = _mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ);
                const __m512i bit = _mm512_set1_epi64((long long)(1ull << p));
                lo = _mm512_mask_or_epi64(lo, (__mmask8)nz, lo, bit);
                hi = _mm512_mask_or_epi64(hi, (__mmask8)(nz >> 8), hi, bit);
            }
            _mm512_storeu_si512(masks + i, lo);
            _mm512_storeu_si512(masks + i + 8, hi);
        }
    } else if (t->csa == 1) {  /* row-major: a row's depths are contiguous */
        for (; i < r1; i++) {
            uint64_t bits = 0;
            for (int64_t p = 0; p < t->k; p += 16) {
                const __m512 v = _mm512_maskz_loadu_ps(first_lanes(t->k - p),
                                                       t->a + i * t->rsa + p);
                bits |= (uint64_t)_mm512_cmp_ps_mask(v, zero, _CMP_NEQ_UQ) << p;
            }
            masks[i] = bits;
        }
    }
    for (; i < r1; i++) {
        uint64_t bits = 0;
        for (int64_t p = 0; p < t->k; p++)
            bits |= (uint64_t)(t->a[i * t->rsa + p * t->csa] != 0.0f) << p;
        masks[i] = bits;
    }
    for (i = r0; i < r1; i++)
        set += __builtin_popcountll(masks[i]);
    return set;
}

/* Does B (k x n, row-major) hold an inf or a NaN? */
THIN_TARGET static int any_nonfinite(const struct ag_direct_b_f32 *t)
{
    __mmask16 bad = 0;
    for (int64_t p = 0; p < t->k; p++) {
        const float *row = t->b + p * t->ldb;
        for (int64_t j = 0; j < t->n; j += VF) {
            const __m512 v = _mm512_maskz_loadu_ps(first_lanes(t->n - j), row + j);
            bad |= _mm512_fpclass_ps_mask(v, 0x99);  /* QNaN, +inf, -inf, SNaN */
        }
    }
    return bad != 0;
}

/* A row of C at columns [j0, j0 + 16 nv) (at c), the last vector masked by `last`: a is the
 * row of A, bp the block of B packed (row p at bp + p * 16 nv). */
THIN_TARGET static inline __attribute__((always_inline)) void
sparse_tile(const int nv, const struct c_update u, const float *a, int64_t csa, uint64_t bits,
            const float *bp, float *c, int64_t j0, __mmask16 last)
{
    __m512 acc[SA_MAX_VECS];
#pragma GCC unroll 16
    for (int v = 0; v < nv; v++)
        acc[v] = _mm512_setzero_ps();
    while (bits) {
        const int64_t p = __builtin_ctzll(bits);
        bits &= bits - 1;
        const __m512 ap = _mm512_set1_ps(a[p * csa]);
        const float *row = bp + p * VF * nv;
#pragma GCC unroll 16
        for (int v = 0; v < nv; v++)
            acc[v] = _mm512_fmadd_ps(ap, _mm512_load_ps(row + VF * v), acc[v]);
    }
    /* c = ab, store_vec's result then, without its tests between the stores: a row's tile is
     * only ~16 depths of FMAs here (512 x 32 @ 32 x 784 at half zeros, one thread: 75 us, 81.5
     * through store_vec; the few-rows path, with k times as many per store, gains nothing). */
    if (u.plain) {
#pragma GCC unroll 16
        for (int v = 0; v < nv; v++)
            _mm512_mask_storeu_ps(c + VF * v, v == nv - 1 ? last : 0xffff, acc[v]);
        return;
    }
#pragma GCC unroll 16
    for (int v = 0; v < nv; v++)
        store_vec(u, acc[v], c + VF * v, j0 + VF * v, v == nv - 1 ? last : 0xffff);
}

/* Rows [r0, r1) of C, a block of columns at a time, B's rows of the block first copied to bp
 * (pack_b_block): loads that straddle cache lines, from an unaligned x, took 1.7x as long (a
 * load per FMA is this loop's limit). */
THIN_TARGET static void sparse_rows(const struct ag_direct_b_f32 *t, const uint64_t *masks,
                                    int64_t r0, int64_t r1, float *bp)
{
    const int64_t vecs = (t->n + VF - 1) / VF;
    const int64_t widest = t->k <= 32 ? SA_MAX_VECS : SA_MAX_VECS_DEEP;
    const int64_t blocks = (vecs + widest - 1) / widest;
    const struct c_update u = c_update_of(t);
    for (int64_t bl = 0; bl < blocks; bl++) {  /* blocks of nearly equal width */
        const int64_t v0 = vecs * bl / blocks, nv = vecs * (bl + 1) / blocks - v0, j0 = VF * v0;
        pack_b_block(t, 0, t->k, j0, nv, bp);
        const __mmask16 last = first_lanes(t->n - VF * (v0 + nv - 1));
        const float *a = t->a;
        float *c = t->c + j0;
        const int64_t rsa = t->rsa, csa = t->csa, ldc = t->ldc;
        switch (nv) {  /* the tile's width fixed, so that its accumulators are registers */
#define SA_CASE(w) case w: \
            for (int64_t i = r0; i < r1; i++) \
                sparse_tile(w, u, a + i * rsa, csa, masks[i], bp, c + i * ldc, j0, last); \
            break;
        SA_CASE(1) SA_CASE(2) SA_CASE(3) SA_CASE(4) SA_CASE(5) SA_CASE(6) SA_CASE(7) SA_CASE(8)
        SA_CASE(9) SA_CASE(10) SA_CASE(11) SA_CASE(12) SA_CASE(13) SA_CASE(14) SA_CASE(15)
        default: SA_CASE(16)
#undef SA_CASE
        }
    }
}

struct sparse_task {
    const struct ag_direct_b_f32 *t;
    const uint64_t *masks;
    float *bp;  /* per_thread floats for each thread */
    size_t per_thread;
};

static void sparse_share(void *ctx, int i, int threads)
{
    const struct sparse_task *s = ctx;
    const int64_t m = s->t->m;
    sparse_rows(s->t, s->masks, m * i / threads, m * (i + 1) / threads, s->bp + s->per_thread * (size_t)i);
}

int ag_gemm_sparse_a_f32(const struct ag_direct_b_f32 *t, int threads)
{
    if (t->k < 1 || t->k > SA_MAX_K || t->m < 1 || t->n < SA_MIN_N)
        return -1;
    uint64_t *masks = malloc((size_t)t->m * sizeof(uint64_t));
    if (!masks)
        return AG_ERR_NOMEM;
    const int64_t entries = t->m * t->k, zeros = entries - depth_masks(t, 0, t->m, masks);
    const int64_t least = t->k <= 32 ? SA_MIN_ZEROS_PER_1024 : SA_MIN_ZEROS_PER_1024_DEEP;
    if (zeros * 1024 < entries * least || any_nonfinite(t)) {
        free(masks);
        return -1;
    }
    if (threads > t->m)
        threads = (int)t->m;
    if (threads < 1)
        threads = 1;
    const size_t per_thread = (size_t)(SA_MAX_K * SA_MAX_VECS * VF);
    float *bp = aligned_alloc(64, per_thread * sizeof(float) * (size_t)threads);
    if (!bp) {
        free(masks);
        return AG_ERR_NOMEM;
    }
    struct sparse_task task = {t, masks, bp, per_thread};
    ag_parallel(sparse_share, &task, threads);
    free(bp);
    free(masks);
    return AG_OK;
}

#endif /* AG_SIMD_X86 */
