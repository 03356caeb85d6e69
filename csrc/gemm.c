/* gemm.c: C = alpha * op(A) @ op(B) + beta * C, float32 and float64, the BLIS way, small.
 * (The micro-kernels and their blocking table are in gemm_kernels.c, thin products in
 * gemm_thin.c, what they share in gemm_internal.h.)
 *
 * Structure (BLIS's five loops around one micro-kernel):
 *   every operand is a pointer plus a row and a column stride, so transposes, leading
 *   dimensions and the swap below are only strides;
 *   for each MC-row block of A, each KC-deep slice of k:   pack A into MR-row micro-panels
 *     for each NC-column block of B:                        pack B into NR-column micro-panels
 *       for each MR x NR tile of C:                         the micro-kernel (kc rank-1 updates
 *                                                           held in registers, then one C update)
 *   Edges are zero-padded in the packed panels, so the kernel always computes a full tile; a tile
 *   that sticks out of C (or a C with a non-unit column stride) goes through a small buffer and
 *   `store_*`, which does the very same arithmetic as the kernel's own store.
 *
 * Blocking for the Cascade Lake this was tuned on (32 KiB L1d, 1 MiB L2 per core): the A
 * micro-panel (MR x KC) is ~18 KiB, the packed B block (KC x NC) ~0.5 MiB stays in L2 while the
 * A micro-panels stream past it, the packed A block (MC x KC) lives in L3.
 *
 * Numerics and threads: each element of C is sum_p a_ip b_pj accumulated in p order inside one
 * KC slice (FMA in the SIMD kernels), then c = alpha * ab + beta * c (one rounding, fma), KC
 * slices in order with beta = 1 after the first. Threads own disjoint sets of MR x NR tiles of
 * C (runs in row-major order within column groups; see split), and k is never split: the result
 * does not depend on the thread count. A bias (ag_sgemm_bias: x @ W^T + b) is copied into
 * each tile of C just before its first KC slice, which then adds onto it with beta = 1: the
 * bits of a C prefilled with the bias, without a pass over C of its own.
 * A product with n < NR that would waste more on zero padding than its transpose is computed
 * as C^T = op(B)^T op(A)^T (again only strides; C then goes through the scalar store), which
 * changes no element's arithmetic. k is cut into equal slices (784 = 392 + 392), fixed by k.
 *
 * Thin products (AVX-512 float32: k <= 16, or n or m <= 32) go to gemm_thin.c, where padding,
 * packing and edges would cost more than the arithmetic; its paths are thread-independent too.
 * So does a last column panel that would be at least half zero padding (n % NR <= NR / 2): its
 * columns are a product of their own, fixed by the shape alone.
 * Row-major A panels are packed by 4 x 4 SSE transposes (x86-64 baseline), not element-wise.
 */
#include "ag_kernels.h"
#include "ag_simd.h"
#include "ag_spans.h"
#include "gemm_internal.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Below this many flops (2 m n k) one thread does the work: a fork/join costs a few us. */
#define AG_GEMM_PARALLEL_MIN_FLOPS (1 << 21)
#define AG_GEMM_ALIGN 64
/* The thin paths (gemm_thin.c): dot products from this depth on; threads from the same size as
 * the packed path (at 2^19 the 2-thread median went 100x slower whenever the second core was
 * busy: a ~30 us product then waits a scheduler slice for its worker). */
#define AG_THIN_MIN_K 32
#define AG_THIN_PARALLEL_MIN_FLOPS (1 << 21)
/* k <= 16, and few rows of A, run threads from half the dot path's size: on the Zen 5 host
 * 128 x 10 @ 10 x 512 went 176 -> 224 GFLOPS on two threads, and 10 x 128 @ 128 x 512 (the head's
 * weight gradient at batch 128) 220 -> 320 in C, 185 -> 245 through matmul; 64 x 10 @ 10 x 512
 * (0.65 MFLOP) lost with them. */
#define AG_SMALLK_PARALLEL_MIN_FLOPS (1 << 20)
/* Past this many multiply-adds the packed kernel's blocking wins over reading A in place (one
 * thread, C loop, numpy's offset: 64^3 2.95 -> 2.26 us, 128^3 18.9 -> 16.8, 256^3 140 -> 132,
 * 128x784 @ 784x512 444 -> 426; 512^3 +-3%; 1024^3 8.9 -> 9.3 ms and 2048^3 71 -> 81 ms). */
#define AG_IN_PLACE_A_MAX_MNK ((double)(1 << 26))
#define AG_GEMM_MAX_TILE (16 * 32)  /* the largest MR x NR, for the edge buffer */

static const float one_f32 = 1.0f, zero_f32 = 0.0f;
static const double one_f64 = 1.0, zero_f64 = 0.0;

/* A strided matrix view: element (i, j) at p + (i * rs + j * cs) * es. */
struct ag_view {
    const char *p;
    int64_t rs, cs;
};

static const struct ag_gemm_kernel *pick_kernel(int isa, int is_f64)
{
#ifndef AG_SIMD_X86
    isa = AG_ISA_PORTABLE;
#endif
    return &ag_gemm_kernels[isa][is_f64 ? 1 : 0];
}

int ag_gemm_blocking(int isa, int is_f64, int64_t *out)
{
    if (isa < AG_ISA_PORTABLE || isa > AG_ISA_AVX512 || (is_f64 != 0 && is_f64 != 1))
        return AG_ERR_ARG;
    if (!out)
        return AG_ERR_NULL;
    const struct ag_gemm_kernel *k = pick_kernel(isa, is_f64);
    out[0] = k->mr, out[1] = k->nr, out[2] = k->kc, out[3] = k->mc, out[4] = k->nc;
    return AG_OK;
}

/* ------------------------------------------------------------------ packing */

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

#ifdef AG_SIMD_X86
/* Rows g.. g + R - 1 (R <= 16, constant after inlining) of a row-major block, depths p..p + 15,
 * into 16 runs of R values, one per depth, mr apart from dst + p * mr + g: one 16 x 16 transpose
 * in registers, rows past R zero and never stored. */
AG_TARGET_AVX512 static inline __attribute__((always_inline)) void
transpose16_f32(const int R, const float *s, int64_t rs, int64_t mr, float *d)
{
    __m512 r[16], out[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
        r[i] = i < R ? _mm512_loadu_ps(s + i * rs) : _mm512_setzero_ps();
#pragma GCC unroll 16
    for (int i = 0; i < R; i++)  /* 12 to 32 rows read side by side, the prefetcher lags:
                                    without this the pack took 13.5% of a product, SSE 12.7% */
        _mm_prefetch((const char *)(s + i * rs + 64), _MM_HINT_T0);
    ag_transpose16_f32(r, out);
    const __mmask16 lanes = (__mmask16)((1u << R) - 1);
#pragma GCC unroll 16
    for (int c = 0; c < 16; c++)
        _mm512_mask_storeu_ps(d + c * mr, lanes, out[c]);
}

/* The transposing pack of a full float panel for the AVX-512 kernels (mr = 12 A rows or 32 B
 * columns) by 16 x 16 transposes: about a third of the SSE version's instructions per value.
 * x @ W^T packs all of W this way: packing took 12.7% of 128x784 @ (512x784)^T with SSE, ~11%
 * now (perf; it reads W from L3), and 5.9 -> 4.9% of 2048^3. Returns how many p it packed, a
 * multiple of 16. */
AG_TARGET_AVX512 static int64_t pack_transposed_avx512(int64_t kc, const float *s, int64_t rs,
                                                       int64_t mr, float *d)
{
    if (mr != 12 && mr % 16)
        return 0;
    int64_t p = 0;
    for (; p + 16 <= kc; p += 16) {
        if (mr == 12)
            transpose16_f32(12, s + p, rs, 12, d + p * 12);
        else
            for (int64_t g = 0; g < mr; g += 16)
                transpose16_f32(16, s + g * rs + p, rs, mr, d + p * mr + g);
    }
    return p;
}

/* The transposing pack of a full panel of row-major rows (unit stride along p) with SSE, which
 * every x86-64 has: 4 x 4 float (2 x 2 double) blocks transposed in registers, about 4x fewer
 * stores than element by element. Packs from p0 on; returns how many p are packed (the rest:
 * scalar). */
static int64_t pack_transposed_sse(int64_t p0, int64_t kc, const char *src, int64_t rs,
                                   int64_t mr, char *dst, size_t es)
{
    if (es == sizeof(float) && mr % 4 == 0) {
        const float *s = (const float *)src;
        float *d = (float *)dst;
        int64_t p = p0 / 4 * 4;
        for (; p + 4 <= kc; p += 4)
            for (int64_t g = 0; g < mr; g += 4) {
                __m128 r0 = _mm_loadu_ps(s + (g + 0) * rs + p), r1 = _mm_loadu_ps(s + (g + 1) * rs + p);
                __m128 r2 = _mm_loadu_ps(s + (g + 2) * rs + p), r3 = _mm_loadu_ps(s + (g + 3) * rs + p);
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                _mm_storeu_ps(d + (p + 0) * mr + g, r0);
                _mm_storeu_ps(d + (p + 1) * mr + g, r1);
                _mm_storeu_ps(d + (p + 2) * mr + g, r2);
                _mm_storeu_ps(d + (p + 3) * mr + g, r3);
            }
        return p;
    }
    if (es == sizeof(double) && mr % 2 == 0) {
        const double *s = (const double *)src;
        double *d = (double *)dst;
        int64_t p = p0 / 2 * 2;
        for (; p + 2 <= kc; p += 2)
            for (int64_t g = 0; g < mr; g += 2) {
                const __m128d r0 = _mm_loadu_pd(s + g * rs + p), r1 = _mm_loadu_pd(s + (g + 1) * rs + p);
                _mm_storeu_pd(d + p * mr + g, _mm_unpacklo_pd(r0, r1));
                _mm_storeu_pd(d + (p + 1) * mr + g, _mm_unpackhi_pd(r0, r1));
            }
        return p;
    }
    return p0;
}
#endif

/* kc runs of `row` bytes, cs apart in src, back to back in dst (row a constant after inlining). */
static inline __attribute__((always_inline)) void
copy_runs(int64_t kc, char *dst, const char *src, size_t cs, size_t row)
{
    for (int64_t p = 0; p < kc; p++)
        memcpy(dst + (size_t)p * row, src + (size_t)p * cs, row);
}

/* rows x kc of x (element (i, p) at x.p + (i rs + p cs) es) into panels of `mr` rows: panel r
 * holds, for each p, the mr values of rows r*mr.. (zero past `rows`). Packing B is the same
 * with B^T's strides. `es` is a constant after inlining, so memcpy is one load and store.
 * `wide`: the AVX-512 float kernel's panels, which may be transposed with AVX-512. */
static inline __attribute__((always_inline)) void
pack_panels(int64_t rows, int64_t kc, struct ag_view x, int64_t mr, char *dst, size_t es,
            int wide)
{
    for (int64_t r0 = 0; r0 < rows; r0 += mr, dst += (size_t)(mr * kc) * es) {
        const int64_t h = min64(mr, rows - r0);
        const char *src = x.p + (size_t)(r0 * x.rs) * es;
        if (x.rs == 1) {  /* a panel's values for one p are contiguous */
            const size_t row = (size_t)mr * es, cs = (size_t)x.cs * es;
            /* Full panels of the kernels' widths copy fixed sizes, inline vector moves: a libc
             * call per p (48 bytes for 12 floats) cost 0.3 ms of a 10 ms MLP step. */
            if (h == mr && (row == 128 || row == 96 || row == 64 || row == 48)) {
                switch (row) {
                case 128: copy_runs(kc, dst, src, cs, 128); break;
                case 96: copy_runs(kc, dst, src, cs, 96); break;
                case 64: copy_runs(kc, dst, src, cs, 64); break;
                default: copy_runs(kc, dst, src, cs, 48); break;
                }
            } else {
                for (int64_t p = 0; p < kc; p++) {
                    memcpy(dst + (size_t)p * row, src + (size_t)p * cs, (size_t)h * es);
                    if (h < mr)
                        memset(dst + (size_t)p * row + (size_t)h * es, 0, (size_t)(mr - h) * es);
                }
            }
            continue;
        }
        int64_t done = 0;  /* p < done already packed by the vector transpose */
#ifdef AG_SIMD_X86
        if (x.cs == 1 && h == mr && wide && es == sizeof(float))
            done = pack_transposed_avx512(kc, (const float *)src, x.rs, mr, (float *)dst);
        if (x.cs == 1 && h == mr)
            done = pack_transposed_sse(done, kc, src, x.rs, mr, dst, es);
#endif
        /* A transpose: in chunks of p, so the chunk of the panel being written stays in L1. */
        for (int64_t p0 = done; p0 < kc; p0 += 32) {
            const int64_t p1 = min64(kc, p0 + 32);
            for (int64_t i = 0; i < h; i++) {
                const char *row = src + (size_t)(i * x.rs) * es;
                if (x.cs == 1)
                    for (int64_t p = p0; p < p1; p++)
                        memcpy(dst + (size_t)(p * mr + i) * es, row + (size_t)p * es, es);
                else
                    for (int64_t p = p0; p < p1; p++)
                        memcpy(dst + (size_t)(p * mr + i) * es, row + (size_t)(p * x.cs) * es, es);
            }
        }
        for (int64_t p = 0; p < kc && h < mr; p++)
            memset(dst + (size_t)(p * mr + h) * es, 0, (size_t)(mr - h) * es);
    }
}

static void pack(int64_t rows, int64_t kc, struct ag_view x, int64_t mr, char *dst,
                 const struct ag_gemm_kernel *kern)
{
#ifdef AG_SIMD_X86
    const int wide = kern == &ag_gemm_kernels[AG_ISA_AVX512][0];
#else
    const int wide = 0;
#endif
    if (kern->es == sizeof(float))
        pack_panels(rows, kc, x, mr, dst, sizeof(float), wide);
    else
        pack_panels(rows, kc, x, mr, dst, sizeof(double), 0);
}

/* ------------------------------------------------------------------ the driver */

struct ag_gemm_problem {
    const struct ag_gemm_kernel *kern;
    int64_t m, n, k;
    struct ag_view a, b;       /* op(A) m x k, op(B) k x n */
    char *c;
    int64_t rsc, csc;
    const void *alpha, *beta;  /* beta NULL: beta = 0 */
    /* or NULL: C = alpha op(A) op(B) + bias, element (i, j) of it at bias + (i bias_rs +
     * j bias_cs) es (one stride 0, the other 1); beta is then NULL */
    const char *bias;
    int64_t bias_rs, bias_cs;
    const void *one;           /* 1 in the element type: beta for the later k slices */
    int64_t kc;                /* the k slice, <= kern->kc */
    int threads;               /* at most this many threads for this product */
};

/* The block size for `len` in ceil(len / max) equal blocks, rounded up to a multiple of `to`
 * (still <= max, which is a multiple of `to`). */
static int64_t balanced(int64_t len, int64_t max, int64_t to)
{
    const int64_t blocks = (len + max - 1) / max, size = (len + blocks - 1) / blocks;
    return (size + to - 1) / to * to;
}

/* C's h x w block at (i0, j0) = the bias there: the first k slice then adds its products onto
 * it (beta 1), bit for bit c = alpha * ab + bias. Filled tile by tile, just before its kernel
 * runs: by the thread that computes it, and while the tile is in L1. (Filling all of C first,
 * in numpy, was a pass more over C, read back from the other core's cache on two threads: the
 * bias cost 22 us of a 290 us 128 x 784 @ 784 x 512 that way, ~10 us this way.) */
static void fill_bias(const struct ag_gemm_problem *pr, int64_t i0, int64_t j0, int64_t h,
                      int64_t w)
{
    const size_t es = pr->kern->es;
    char *c = pr->c + (size_t)(i0 * pr->rsc + j0 * pr->csc) * es;
    const char *bias = pr->bias + (size_t)(i0 * pr->bias_rs + j0 * pr->bias_cs) * es;
    const size_t rsc = (size_t)pr->rsc * es;
    if (pr->csc == 1 && pr->bias_cs == 1) {  /* every row of the block: the same run of bias */
        const size_t row = (size_t)w * es;
        if (row == 128)  /* a full AVX-512 tile's row: a fixed-size copy, inline */
            for (int64_t r = 0; r < h; r++)
                memcpy(c + (size_t)r * rsc, bias, 128);
        else
            for (int64_t r = 0; r < h; r++)
                memcpy(c + (size_t)r * rsc, bias, row);
        return;
    }
    for (int64_t r = 0; r < h; r++)
        for (int64_t q = 0; q < w; q++)
            memcpy(c + (size_t)r * rsc + (size_t)(q * pr->csc) * es,
                   bias + (size_t)(r * pr->bias_rs + q * pr->bias_cs) * es, es);
}

/* C[m0:m1, n0:n1] with one thread, except that the first MR rows start at column `head` and the
 * last MR rows end at column `tail` (a thread's run of tiles in row-major order; head = n0 and
 * tail = n1 for the whole rectangle); apack and bpack hold MC x KC and KC x NC elements. */
static void gemm_block(const struct ag_gemm_problem *pr, int64_t m0, int64_t m1, int64_t n0,
                       int64_t n1, int64_t head, int64_t tail, char *apack, char *bpack,
                       int a_packed)
{
    const struct ag_gemm_kernel *kern = pr->kern;
    const size_t es = kern->es;
    const int64_t mr = kern->mr, nr = kern->nr;
    _Alignas(AG_GEMM_ALIGN) char edge[AG_GEMM_MAX_TILE * sizeof(double)];
    const int direct = pr->csc == 1;

    /* Equal blocks (multiples of MR, NR) rather than full ones and a sliver: 2048 columns as
     * 6 x 352, not 5 x 384 + 128, so every block reuses the A panels as often. */
    const int64_t mcb = balanced(m1 - m0, kern->mc, mr), ncb = balanced(n1 - n0, kern->nc, nr);
    for (int64_t ic = m0; ic < m1; ic += mcb) {
        const int64_t mc = min64(mcb, m1 - ic);
        for (int64_t pc = 0; pc < pr->k; pc += pr->kc) {
            const int64_t kc = min64(pr->kc, pr->k - pc);
            const int first = pc == 0 && pr->bias;  /* fill each tile with the bias first */
            const void *beta = pc == 0 && !pr->bias ? pr->beta : pr->one;
            struct ag_view a = {pr->a.p + (size_t)(ic * pr->a.rs + pc * pr->a.cs) * es,
                                pr->a.rs, pr->a.cs};
            if (!a_packed)  /* else apack holds this, the only A block, from the batch's last product */
                pack(mc, kc, a, mr, apack, kern);
            for (int64_t jc = n0; jc < n1; jc += ncb) {
                const int64_t nc = min64(ncb, n1 - jc);
                /* B block as B^T (nc x kc) panels of nr rows */
                struct ag_view bt = {pr->b.p + (size_t)(pc * pr->b.rs + jc * pr->b.cs) * es,
                                     pr->b.cs, pr->b.rs};
                pack(nc, kc, bt, nr, bpack, kern);
                for (int64_t jr = 0; jr < mc; jr += mr) {
                    const char *ap = apack + (size_t)(jr * kc) * es;
                    const int64_t h = min64(mr, mc - jr);
                    /* this row panel's columns within the block (multiples of NR from jc) */
                    const int64_t lo = max64(0, (ic + jr == m0 ? head : n0) - jc);
                    const int64_t hi = min64(nc, (ic + jr + mr >= m1 ? tail : n1) - jc);
                    for (int64_t ir = lo; ir < hi; ir += nr) {
                        const char *bp = bpack + (size_t)(ir * kc) * es;
                        const int64_t w = min64(nr, nc - ir);
                        char *c = pr->c + (size_t)((ic + jr) * pr->rsc + (jc + ir) * pr->csc) * es;
                        if (first)
                            fill_bias(pr, ic + jr, jc + ir, h, w);
                        if (direct && h == mr && w == nr) {
                            kern->micro(kc, ap, bp, c, pr->rsc, pr->alpha, beta);
                        } else if (direct && kern->part) {
                            kern->part(h, w, kc, ap, bp, c, pr->rsc, pr->alpha, beta);
                        } else {
                            if (kern->part)  /* C by columns: a tile in the edge buffer */
                                kern->part(h, w, kc, ap, bp, edge, nr, pr->one, NULL);
                            else
                                kern->micro(kc, ap, bp, edge, nr, pr->one, NULL);
                            kern->store(h, w, edge, nr, c, pr->rsc, pr->csc, pr->alpha, beta);
                        }
                    }
                }
            }
        }
    }
}

static int64_t round_up(int64_t x, int64_t to)
{
    return (x + to - 1) / to * to;
}

/* Split C into tn column groups of tm threads each (tm * tn = threads); within a group the
 * threads take equal runs of its MR x NR tiles in row-major order (97 rows as 4.5 row panels
 * each, not 5 and 4). Chosen for the least cost on the busiest thread: its tiles' multiply-adds
 * plus the packing it does (a thread packs the A rows and B columns its tiles touch, so a split
 * along n repeats A's packing and one along m repeats B's). In multiply-add units a packed
 * element costs ~16 when transposed element-wise (rows of A, columns of B^T with a non-unit
 * stride) and ~3 when copied in runs (AVX-512 estimates: 0.5 and 0.1 cycles per element against
 * 32 multiply-adds per cycle). */
static void split(const struct ag_gemm_problem *pr, int threads, int *tm, int *tn)
{
    const struct ag_gemm_kernel *kern = pr->kern;
    const int64_t pm = (pr->m + kern->mr - 1) / kern->mr, pn = (pr->n + kern->nr - 1) / kern->nr;
    const double pack_a = pr->a.rs == 1 ? 3 : 16, pack_b = pr->b.cs == 1 ? 3 : 16;
    double best = INFINITY;
    *tm = 1, *tn = 1;
    for (int t = 1; t <= threads; t++) {
        if (threads % t || threads / t > pn)
            continue;
        const int64_t group = (pn + threads / t - 1) / (threads / t);  /* widest group's panels */
        const int64_t tiles = (pm * group + t - 1) / t;
        if (tiles == 0)
            continue;
        const int64_t panels = min64(pm, (tiles + group - 1) / group + (t > 1));  /* A rows touched */
        const double cols = (double)(min64(group, tiles) * kern->nr);
        const double cost = ((double)(tiles * kern->mr * kern->nr) + (double)(panels * kern->mr) * pack_a +
                             cols * pack_b) * (double)pr->k;
        if (cost < best)
            best = cost, *tm = t, *tn = threads / t;
    }
}

/* The same product as C^T = op(B)^T op(A)^T: only strides change, no element's arithmetic. */
static void transpose_problem(struct ag_gemm_problem *pr)
{
    const struct ag_view a = pr->a;
    pr->a = (struct ag_view){pr->b.p, pr->b.cs, pr->b.rs};
    pr->b = (struct ag_view){a.p, a.cs, a.rs};
    const int64_t m = pr->m, rsc = pr->rsc;
    pr->m = pr->n, pr->n = m;
    pr->rsc = pr->csc, pr->csc = rsc;
    const int64_t bias_rs = pr->bias_rs;
    pr->bias_rs = pr->bias_cs, pr->bias_cs = bias_rs;
}

/* k in equal slices of at most KC: 784 = 392 + 392, not 384 + 384 + 16 (a slice that short
 * costs a full pass over C for little work). Fixed by k alone, so thread-independent. */
static int64_t slice_depth(int64_t k, int64_t max_kc)
{
    const int64_t slices = (k + max_kc - 1) / max_kc;
    return (k + slices - 1) / slices;
}

#ifdef AG_SIMD_X86
/* AVX-512 float32 products where gemm_thin.c beats the packed kernel: m <= 12 with a row-major
 * op(B) (read in place: each of its elements meets every row of A once); or n <= 32 (m <= 32 as
 * C^T) with the rows of op(A) contiguous along k (dot products: 1.5-3x the packed kernel there,
 * which would transpose the big operand into panels for little reuse; x @ W.T at batch 32 with W
 * 512 x 784 went 40 -> 63 GFLOPS); or k <= 64 with a row-major op(B) and at least a quarter of
 * op(A) zeros, whose terms are skipped (a ReLU layer's weight gradient g^T @ x); or else any
 * row-major op(B) at least 16 wide: A read in place, 6 x 64 tiles (see gemm_thin.c; k <= 16 on
 * its own threshold for threads). Returns -1 when not taken. */
static int try_thin(struct ag_gemm_problem *pr)
{
    if (pr->kern != &ag_gemm_kernels[AG_ISA_AVX512][0])
        return -1;
    const double flops = 2.0 * (double)pr->m * (double)pr->n * (double)pr->k;
    const int dots = pr->n <= AG_THIN_MAX_N && pr->a.cs == 1;
    const int shallow = pr->k <= AG_SMALLK_MAX_K && pr->n >= AG_SMALLK_MIN_N;
    const int few_rows = pr->k >= AG_THIN_MIN_K && pr->m <= AG_FEWROWS_MAX_M && !dots;
    /* a shallow product whose A may be mostly zeros (a ReLU layer's weight gradient) */
    const int sparse_a = pr->k > AG_SMALLK_MAX_K && pr->m > AG_FEWROWS_MAX_M && !dots;
    /* A read in place: every shallow product, and any other depth with B by rows up to a mid
     * size (in the packed kernel's k slices; a shallow k is one slice) */
    const int in_place_a = shallow || (pr->n >= AG_SMALLK_MIN_N && !few_rows && !dots &&
                                       flops <= 2.0 * AG_IN_PLACE_A_MAX_MNK);
    if ((few_rows || sparse_a || in_place_a) && pr->b.cs == 1 && pr->csc == 1) {
        const struct ag_direct_b_f32 t = {
            .m = pr->m, .n = pr->n, .k = pr->k, .alpha = *(const float *)pr->alpha,
            .a = (const float *)pr->a.p, .rsa = pr->a.rs, .csa = pr->a.cs,
            .b = (const float *)pr->b.p, .ldb = pr->b.rs,
            .beta = pr->beta, .c = (float *)pr->c, .ldc = pr->rsc,
            .bias = (const float *)pr->bias,
        };
        if (few_rows)
            return ag_gemm_fewrows_f32(&t, flops < AG_SMALLK_PARALLEL_MIN_FLOPS ? 1 : pr->threads);
        if (sparse_a) {
            const int sparse = ag_gemm_sparse_a_f32(&t, flops < AG_THIN_PARALLEL_MIN_FLOPS ? 1 : pr->threads);
            if (sparse != -1)
                return sparse;
        }
        if (in_place_a) {
            const double min_flops =
                shallow ? AG_SMALLK_PARALLEL_MIN_FLOPS : AG_GEMM_PARALLEL_MIN_FLOPS;
            return ag_gemm_in_place_a_f32(&t, slice_depth(pr->k, pr->kern->kc),
                                          flops < min_flops ? 1 : pr->threads);
        }
    }
    if (pr->k < AG_THIN_MIN_K)
        return -1;
    const int threads = flops < AG_THIN_PARALLEL_MIN_FLOPS ? 1 : pr->threads;
    if (!dots) {
        if (!((pr->m <= AG_THIN_MAX_N || ag_gemm_bcast_wide(pr->m, pr->k)) && pr->b.rs == 1))
            return -1;
        transpose_problem(pr);
    }
    if (pr->b.cs != 1 && pr->b.rs != 1)  /* not from the BLAS-style interface; never taken */
        return -1;
    const struct ag_thin_f32 t = {
        .m = pr->m, .n = pr->n, .k = pr->k, .alpha = *(const float *)pr->alpha,
        .a = (const float *)pr->a.p, .lda = pr->a.rs,
        .b = (const float *)pr->b.p, .rsb = pr->b.rs, .csb = pr->b.cs,
        .beta = pr->beta, .c = (float *)pr->c, .rsc = pr->rsc, .csc = pr->csc,
        .bias = (const float *)pr->bias, .bias_per_row = pr->bias_rs != 0,
    };
    return ag_gemm_thin_f32(&t, threads);
}
#endif

struct gemm_task {
    const struct ag_gemm_problem *pr;
    char *scratch;  /* per_thread bytes for each thread: A's panel (a_bytes), then B's */
    size_t per_thread, a_bytes;
    int64_t pm, pn;  /* row panels, column panels */
    int tm, tn;      /* threads per column group, column groups */
};

/* Thread t's run of tiles (see split). */
static void gemm_share(void *ctx, int t, int threads)
{
    (void)threads;
    const struct gemm_task *s = ctx;
    const struct ag_gemm_problem *pr = s->pr;
    const struct ag_gemm_kernel *kern = pr->kern;
    const int i = t / s->tn, j = t % s->tn;
    const int64_t g0 = s->pn * j / s->tn, g1 = s->pn * (j + 1) / s->tn, group = g1 - g0;
    const int64_t first = s->pm * group * i / s->tm, end = s->pm * group * (i + 1) / s->tm;  /* tiles */
    if (first >= end)
        return;
    const int64_t n0 = g0 * kern->nr, n1 = min64(pr->n, g1 * kern->nr);
    const int64_t m0 = first / group * kern->mr;
    const int64_t m1 = min64(pr->m, ((end - 1) / group + 1) * kern->mr);
    const int64_t head = n0 + first % group * kern->nr;
    const int64_t tail = min64(n1, n0 + ((end - 1) % group + 1) * kern->nr);
    char *apack = s->scratch + s->per_thread * (size_t)t;
    if (m0 + kern->mr >= m1)  /* one row panel: a plain rectangle */
        gemm_block(pr, m0, m1, head, tail, head, tail, apack, apack + s->a_bytes, 0);
    else
        gemm_block(pr, m0, m1, n0, n1, head, tail, apack, apack + s->a_bytes, 0);
}

static int run_gemm(struct ag_gemm_problem *pr, struct ag_gemm_keep *keep)
{
#ifdef AG_SIMD_X86
    const int thin = try_thin(pr);
    if (thin != -1)
        return thin;
#endif
    const struct ag_gemm_kernel *kern = pr->kern;
#ifdef AG_SIMD_X86
    /* A last column panel that would be mostly zero padding (203 = 6 x 32 + 11): its columns
     * are a thin product of their own (try_thin's dot products), the rest full panels. */
    const int64_t rem = pr->n % kern->nr;
    if (kern == &ag_gemm_kernels[AG_ISA_AVX512][0] && rem && rem <= kern->nr / 2 &&
        pr->n > kern->nr && pr->a.cs == 1 && pr->k >= AG_THIN_MIN_K) {
        struct ag_gemm_problem edge = *pr;
        pr->n -= rem;
        edge.n = rem;
        edge.b.p += (size_t)(pr->n * pr->b.cs) * kern->es;
        edge.c += (size_t)(pr->n * pr->csc) * kern->es;
        if (edge.bias)
            edge.bias += (size_t)(pr->n * pr->bias_cs) * kern->es;
        const int status = run_gemm(&edge, NULL);
        if (status != AG_OK)
            return status;
    }
#endif
    /* A narrow C is computed as C^T = op(B)^T op(A)^T when that wastes less zero padding. */
    const int64_t cost = round_up(pr->m, kern->mr) * round_up(pr->n, kern->nr);
    const int64_t cost_t = round_up(pr->n, kern->mr) * round_up(pr->m, kern->nr);
    const int transposed = pr->n < kern->nr && cost_t < cost;
    if (transposed)
        transpose_problem(pr);

    int threads = pr->threads;
    if ((double)pr->m * (double)pr->n * (double)pr->k * 2.0 < AG_GEMM_PARALLEL_MIN_FLOPS)
        threads = 1;
    int tm, tn;
    split(pr, threads, &tm, &tn);
    threads = tm * tn;

    const int64_t kc = pr->kc = slice_depth(pr->k, kern->kc);
    const size_t a_bytes = (size_t)round_up(round_up(min64(kern->mc, pr->m), kern->mr) * kc *
                                            (int64_t)kern->es, AG_GEMM_ALIGN);  /* B aligned */
    const size_t b_bytes = (size_t)(round_up(min64(kern->nc, pr->n), kern->nr) * kc) * kern->es;
    const size_t per_thread = round_up((int64_t)(a_bytes + b_bytes), AG_GEMM_ALIGN);
    char *scratch = aligned_alloc(AG_GEMM_ALIGN, per_thread * (size_t)threads);
    if (!scratch)
        return AG_ERR_NOMEM;

    /* Tile runs at multiples of MR and NR, fixed by (tm, tn) alone. */
    const int64_t pm = (pr->m + kern->mr - 1) / kern->mr, pn = (pr->n + kern->nr - 1) / kern->nr;
    if (keep && !transposed && threads == 1 && pr->m <= kern->mc && pr->k <= kern->kc) {
        if (keep->bytes < a_bytes) {  /* first product of the batch on this thread */
            free(keep->buf);
            keep->buf = aligned_alloc(AG_GEMM_ALIGN, a_bytes);
            keep->bytes = keep->buf ? a_bytes : 0, keep->ready = 0;
        }
        if (keep->buf) {
            gemm_block(pr, 0, pr->m, 0, pr->n, 0, pr->n, keep->buf, scratch + a_bytes, keep->ready);
            keep->ready = 1;
            free(scratch);
            return AG_OK;
        }
    }
    if (threads == 1) {
        gemm_block(pr, 0, pr->m, 0, pr->n, 0, pr->n, scratch, scratch + a_bytes, 0);
        free(scratch);
        return AG_OK;
    }
    struct gemm_task task = {pr, scratch, per_thread, a_bytes, pm, pn, tm, tn};
    ag_parallel(gemm_share, &task, threads);
    free(scratch);
    return AG_OK;
}

/* op(A) m x k, op(B) k x n, C m x n row-major with row stride ldc; beta NULL: beta = 0. */
static struct ag_gemm_problem problem(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                      const void *alpha, const void *a, int64_t lda, const void *b,
                                      int64_t ldb, const void *beta, const void *bias, void *c,
                                      int64_t ldc, size_t es, int threads)
{
    const int is_f64 = es == sizeof(double);
    return (struct ag_gemm_problem){
        .kern = pick_kernel(ag_isa(), is_f64), .m = m, .n = n, .k = k,
        .a = {a, trans_a ? 1 : lda, trans_a ? lda : 1},
        .b = {b, trans_b ? 1 : ldb, trans_b ? ldb : 1},
        .c = c, .rsc = ldc, .csc = 1,
        .alpha = alpha, .beta = beta,
        .bias = bias, .bias_rs = 0, .bias_cs = 1,
        .one = is_f64 ? (const void *)&one_f64 : (const void *)&one_f32,
        .threads = threads,
    };
}

int ag_gemm_trusted(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const void *a,
                    int64_t lda, const void *b, int64_t ldb, int accumulate, void *c, int64_t ldc,
                    size_t es, int threads, struct ag_gemm_keep *keep)
{
    if (m == 0 || n == 0 || k == 0)
        return AG_OK;  /* callers never ask for these (an empty sum is their own zero fill) */
    const void *one = es == sizeof(double) ? (const void *)&one_f64 : (const void *)&one_f32;
    struct ag_gemm_problem pr = problem(trans_a, trans_b, m, n, k, one, a, lda, b, ldb,
                                        accumulate ? one : NULL, NULL, c, ldc, es, threads);
    return run_gemm(&pr, keep);
}

void ag_gemm_keep_free(struct ag_gemm_keep *keep)
{
    free(keep->buf);
    keep->buf = NULL, keep->bytes = 0, keep->ready = 0;
}

/* ------------------------------------------------------------------ checks and exports */

/* The byte range an r x c matrix with row stride ld spans (0 if empty). */
static uint64_t extent(int64_t rows, int64_t cols, int64_t ld, size_t es)
{
    return rows && cols ? ((uint64_t)(rows - 1) * (uint64_t)ld + (uint64_t)cols) * es : 0;
}

static int overlaps(const void *p, uint64_t pn, const void *q, uint64_t qn)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
    return pn && qn && a < b + qn && b < a + pn;
}

/* A batch of products, each on one thread: thread t takes an equal run of them in order. */
struct batch_task {
    const struct ag_gemm_problem *first;
    int64_t batch, stride_a, stride_b, stride_c;
    size_t es;
    _Atomic int failed;
};

static void batch_share(void *ctx, int t, int threads)
{
    struct batch_task *s = ctx;
    struct ag_gemm_keep kept = {NULL, 0, 0};
    int failed = 0;
    for (int64_t q = s->batch * t / threads; q < s->batch * (t + 1) / threads; q++) {
        struct ag_gemm_problem pr = *s->first;
        pr.a.p += (size_t)(q * s->stride_a) * s->es, pr.b.p += (size_t)(q * s->stride_b) * s->es;
        pr.c += (size_t)(q * s->stride_c) * s->es;
        pr.threads = 1;
        failed |= run_gemm(&pr, s->stride_a == 0 ? &kept : NULL) != AG_OK;
    }
    ag_gemm_keep_free(&kept);
    if (failed)
        atomic_store(&s->failed, 1);
}

int ag_gemm_batch_per_thread(int64_t batch)
{
    const int threads = ag_get_num_threads();
    return threads > 1 && batch >= threads && (batch % threads == 0 || batch >= 4 * threads);
}

/* batch products C_i = alpha op(A_i) op(B_i) + beta C_i, X_i at x + i * stride_x elements
 * (stride 0: one operand for all); with a bias (n elements; batch 1, beta 0), + bias[j] instead. A batch of small products runs one product per thread (each
 * on one thread, so the same arithmetic as alone); a single or large product threads inside. */
static int gemm(int64_t batch, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                const void *alpha, int alpha_zero, const void *a, int64_t lda, int64_t stride_a,
                const void *b, int64_t ldb, int64_t stride_b, const void *beta, int beta_zero,
                const void *bias, void *c, int64_t ldc, int64_t stride_c, size_t es)
{
    if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1))
        return AG_ERR_ARG;
    if (batch < 0 || m < 0 || n < 0 || k < 0 || lda < 0 || ldb < 0 || ldc < 0 || stride_a < 0 ||
        stride_b < 0 || stride_c < 0)
        return AG_ERR_SIZE;
    const int64_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
    const int64_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
    if (lda < (a_cols > 1 ? a_cols : 1) || ldb < (b_cols > 1 ? b_cols : 1) ||
        ldc < (n > 1 ? n : 1))
        return AG_ERR_ARG;
    const int64_t limit = (int64_t)(PTRDIFF_MAX / es) - 1;
    if ((ldc && m > limit / ldc) || (lda && a_rows > limit / lda) || (ldb && b_rows > limit / ldb))
        return AG_ERR_SIZE;
    if (batch == 0 || m == 0 || n == 0)
        return AG_OK;
    const uint64_t c_one = extent(m, n, ldc, es);
    /* the batch's C matrices must not overlap one another (they are written in parallel) */
    if (batch > 1 && (uint64_t)stride_c * es < c_one)
        return AG_ERR_ARG;
    const int64_t last = batch - 1;
    if ((stride_a && last > (limit - a_rows * lda) / stride_a) ||
        (stride_b && last > (limit - b_rows * ldb) / stride_b) ||
        (stride_c && last > (limit - m * ldc) / stride_c))
        return AG_ERR_SIZE;
    if (!c)
        return AG_ERR_NULL;
    if (bias && overlaps(c, c_one, bias, (uint64_t)n * es))
        return AG_ERR_OVERLAP;
    const int reads_ab = k > 0 && !alpha_zero;
    const uint64_t c_bytes = (uint64_t)last * (uint64_t)stride_c * es + c_one;
    if (reads_ab) {
        if (!a || !b)
            return AG_ERR_NULL;
        if (overlaps(c, c_bytes, a, (uint64_t)last * (uint64_t)stride_a * es + extent(a_rows, a_cols, lda, es)) ||
            overlaps(c, c_bytes, b, (uint64_t)last * (uint64_t)stride_b * es + extent(b_rows, b_cols, ldb, es)))
            return AG_ERR_OVERLAP;
    }
    const int is_f64 = es == sizeof(double);
    const struct ag_gemm_kernel *kern = pick_kernel(ag_isa(), is_f64);
    if (!reads_ab && bias) {  /* C = the bias rows */
        for (int64_t i = 0; i < m; i++)
            memcpy((char *)c + (size_t)(i * ldc) * es, bias, (size_t)n * es);
        return AG_OK;
    }
    if (!reads_ab) {  /* C = beta * C, without touching A or B (and without reading C if beta = 0) */
        const void *zero = is_f64 ? (const void *)&zero_f64 : (const void *)&zero_f32;
        const double tile[1] = {0};
        for (int64_t q = 0; q < batch; q++)
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++)
                    kern->store(1, 1, tile, 1, (char *)c + (size_t)(q * stride_c + i * ldc + j) * es,
                                0, 0, zero, beta_zero ? NULL : beta);
        return AG_OK;
    }
    const struct ag_gemm_problem first = problem(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
                                                 beta_zero ? NULL : beta, bias, c, ldc, es,
                                                 ag_get_num_threads());
    const int threads = first.threads;
    if (!ag_gemm_batch_per_thread(batch)) {
        int status = AG_OK;
        struct ag_gemm_keep kept = {NULL, 0, 0};
        for (int64_t q = 0; q < batch && status == AG_OK; q++) {
            struct ag_gemm_problem pr = first;  /* run_gemm may transpose its copy */
            pr.a.p += (size_t)(q * stride_a) * es, pr.b.p += (size_t)(q * stride_b) * es;
            pr.c += (size_t)(q * stride_c) * es;
            status = run_gemm(&pr, stride_a == 0 && batch > 1 ? &kept : NULL);
        }
        ag_gemm_keep_free(&kept);
        return status;
    }
    struct batch_task task = {&first, batch, stride_a, stride_b, stride_c, es, 0};
    ag_parallel(batch_share, &task, threads);
    return atomic_load(&task.failed) ? AG_ERR_NOMEM : AG_OK;  /* run_gemm's only failure: its scratch */
}

/* The exported entry points for one element type T: ag_sgemm, ag_sgemm_bias, ag_sgemm_batched
 * and ag_smatmul (P = s, float), the same with d for double (see ag_kernels.h). */
#define AG_GEMM_ENTRIES(P, T)                                                                   \
    int ag_##P##gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, T alpha,        \
                     const T *a, int64_t lda, const T *b, int64_t ldb, T beta, T *c, int64_t ldc) \
    {                                                                                           \
        return gemm(1, trans_a, trans_b, m, n, k, &alpha, alpha == 0, a, lda, 0, b, ldb, 0,     \
                    &beta, beta == 0, NULL, c, ldc, 0, sizeof(T));                              \
    }                                                                                           \
    int ag_##P##gemm_bias(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, T alpha,   \
                          const T *a, int64_t lda, const T *b, int64_t ldb, const T *bias,      \
                          T *c, int64_t ldc)                                                    \
    {                                                                                           \
        if (!bias)                                                                              \
            return AG_ERR_NULL;                                                                 \
        return gemm(1, trans_a, trans_b, m, n, k, &alpha, alpha == 0, a, lda, 0, b, ldb, 0,     \
                    NULL, 1, bias, c, ldc, 0, sizeof(T));                                       \
    }                                                                                           \
    int ag_##P##gemm_batched(int64_t batch, int trans_a, int trans_b, int64_t m, int64_t n,     \
                             int64_t k, T alpha, const T *a, int64_t lda, int64_t stride_a,     \
                             const T *b, int64_t ldb, int64_t stride_b, T beta, T *c,           \
                             int64_t ldc, int64_t stride_c)                                     \
    {                                                                                           \
        return gemm(batch, trans_a, trans_b, m, n, k, &alpha, alpha == 0, a, lda, stride_a, b,  \
                    ldb, stride_b, &beta, beta == 0, NULL, c, ldc, stride_c, sizeof(T));        \
    }                                                                                           \
    int ag_##P##matmul(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const T *a,   \
                       const T *b, T *c)                                                        \
    {                                                                                           \
        const T one = 1, zero = 0;                                                              \
        const int64_t lda = max64(trans_a ? m : k, 1), ldb = max64(trans_b ? k : n, 1);         \
        return gemm(1, trans_a, trans_b, m, n, k, &one, 0, a, lda, 0, b, ldb, 0, &zero, 1, NULL, \
                    c, max64(n, 1), 0, sizeof(T));                                              \
    }
AG_GEMM_ENTRIES(s, float)
AG_GEMM_ENTRIES(d, double)
#undef AG_GEMM_ENTRIES
