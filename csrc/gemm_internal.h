/* gemm_internal.h: internal to csrc/ (not part of the cffi cdef), shared by the GEMM files:
 * gemm.c (packing, loops, threads, checks), gemm_kernels.c (micro-kernels) and gemm_thin.c
 * (thin products: a C with at most AG_THIN_MAX_N columns, or a depth k <= AG_SMALLK_MAX_K; and
 * small and mid-sized products with B by rows, A read in place). */
#ifndef AG_GEMM_INTERNAL_H
#define AG_GEMM_INTERNAL_H

#include "ag_kernels.h"
#include "ag_simd.h"

#include <stddef.h>

/* The micro-kernel: c (MR x NR, row stride ldc, unit column stride) = alpha * a @ b + beta * c
 * over kc packed steps; beta == NULL means beta = 0 and c is never read. */
typedef void (*ag_micro_fn)(int64_t kc, const void *a, const void *b, void *c, int64_t ldc,
                            const void *alpha, const void *beta);
/* The same update for the top-left mr x nr of a tile held in `ab` (row stride NR), into a C
 * with any strides. */
typedef void (*ag_store_fn)(int64_t mr, int64_t nr, const void *ab, int64_t ldab, void *c,
                            int64_t rsc, int64_t csc, const void *alpha, const void *beta);

/* The micro-kernel's update for an edge tile, the first rows x cols (rows <= MR, cols <= NR)
 * of a packed A and B panel, stored straight into a C with unit column stride, at less cost
 * than a full tile (optional: NULL where an instruction set has none). */
typedef void (*ag_part_fn)(int64_t rows, int64_t cols, int64_t kc, const void *a, const void *b,
                           void *c, int64_t ldc, const void *alpha, const void *beta);

struct ag_gemm_kernel {
    int64_t mr, nr, kc, mc, nc;
    size_t es;            /* element size in bytes */
    ag_micro_fn micro;
    ag_store_fn store;
    ag_part_fn part;
};

/* [isa][is_f64]: the micro-kernel and blocking of each instruction set (gemm_kernels.c). */
extern const struct ag_gemm_kernel ag_gemm_kernels[3][2];

#define AG_THIN_MAX_N 32

/* C = alpha * A @ B + beta * C for an m x k A whose rows are contiguous (element (i, p) at
 * a[i * lda + p]), B element (p, j) at b[p * rsb + j * csb] (rsb or csb is 1), C element
 * (i, j) at c[i * rsc + j * csc]; beta NULL means beta = 0 and C is never read. With a bias
 * (beta then NULL), C = alpha * A @ B + bias[j], or + bias[i] with bias_per_row. */
struct ag_thin_f32 {
    int64_t m, n, k;
    float alpha;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t rsb, csb;
    const float *beta;
    float *c;
    int64_t rsc, csc;
    const float *bias;
    int bias_per_row;
};

#define AG_SMALLK_MAX_K 16
#define AG_SMALLK_MIN_N 16  /* narrower C: the packed kernel */

/* Few rows: m <= AG_FEWROWS_MAX_M with B row-major, such as a 10-class layer's weight
 * gradient g^T @ x (10 x batch @ batch x 512). */
#define AG_FEWROWS_MAX_M 12

/* The same for the paths that take B by rows (A read in place, or few rows): A with any
 * strides (element (i, p) at a[i rsa + p csa]), B row-major (element (p, j) at b[p * ldb + j])
 * and C row-major; a bias (or NULL) is bias[j]. */
struct ag_direct_b_f32 {
    int64_t m, n, k;
    float alpha;
    const float *a;
    int64_t rsa, csa;
    const float *b;
    int64_t ldb;
    const float *beta;
    float *c;
    int64_t ldc;
    const float *bias;
};

/* A thread's packed A kept across products that share A (a batch's stride-0 A, a convolution's
 * weights): one MC x KC block, packed by the first product, reused by the rest. Zero-initialise;
 * release with ag_gemm_keep_free. */
struct ag_gemm_keep {
    char *buf;
    size_t bytes;
    int ready;
};
void ag_gemm_keep_free(struct ag_gemm_keep *keep);

/* For csrc/'s own callers, whose arguments are already checked (conv2d.c): C = op(A) @ op(B),
 * or C += op(A) @ op(B) with `accumulate`, row-major operands of element size es (lda, ldb, ldc
 * as in ag_sgemm), on at most `threads` threads; keep (or NULL) as above, for products sharing
 * A. Nothing is done when m, n or k is 0. The same arithmetic as ag_sgemm/ag_dgemm with alpha
 * 1 and beta 0 or 1, for any thread count. Returns AG_OK or AG_ERR_NOMEM. */
int ag_gemm_trusted(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, const void *a,
                    int64_t lda, const void *b, int64_t ldb, int accumulate, void *c, int64_t ldc,
                    size_t es, int threads, struct ag_gemm_keep *keep);

#ifdef AG_SIMD_X86
/* out[c] lane i = r[i] lane c: a 16 x 16 transpose in registers (32-bit then 64-bit interleaves
 * within 128-bit lanes, then two rounds across them; 64 shuffles for 256 values). */
AG_TARGET_AVX512 static inline __attribute__((always_inline)) void
ag_transpose16_f32(const __m512 r[16], __m512 out[16])
{
    __m512 t[16], u[16];
#pragma GCC unroll 8
    for (int i = 0; i < 16; i += 2)
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]), t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
#pragma GCC unroll 4
    for (int g = 0; g < 16; g += 4) {  /* u[g + c], lane L: column 4L + c of rows g..g + 3 */
        const __m512d t0 = _mm512_castps_pd(t[g]), t1 = _mm512_castps_pd(t[g + 1]);
        const __m512d t2 = _mm512_castps_pd(t[g + 2]), t3 = _mm512_castps_pd(t[g + 3]);
        u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {  /* column 4L + c: lane L of u[c], u[4 + c], u[8 + c], u[12 + c] */
        const __m512 x0 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
        const __m512 x1 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee);
        const __m512 y0 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
        const __m512 y1 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
        out[0 + c] = _mm512_shuffle_f32x4(x0, y0, 0x88);
        out[4 + c] = _mm512_shuffle_f32x4(x0, y0, 0xdd);
        out[8 + c] = _mm512_shuffle_f32x4(x1, y1, 0x88);
        out[12 + c] = _mm512_shuffle_f32x4(x1, y1, 0xdd);
    }
}

/* AVX-512 only; return AG_OK or AG_ERR_NOMEM. */
int ag_gemm_thin_f32(const struct ag_thin_f32 *t, int threads);
/* Does ag_gemm_thin_f32 take a product with n > AG_THIN_MAX_N columns and depth k? (x @ W^T at
 * a batch of up to 256, as C^T = W x^T, with W's rows read in place; see gemm_thin.c.) */
int ag_gemm_bcast_wide(int64_t n, int64_t k);
/* k in slices of kc (the packed kernel's: gemm.c's slice_depth); AG_OK or AG_ERR_NOMEM. */
int ag_gemm_in_place_a_f32(const struct ag_direct_b_f32 *t, int64_t kc, int threads);
int ag_gemm_fewrows_f32(const struct ag_direct_b_f32 *t, int threads);
/* A with a quarter or more zeros, k <= 64, n >= 128, B finite (see gemm_thin.c); -1 when not
 * taken. */
int ag_gemm_sparse_a_f32(const struct ag_direct_b_f32 *t, int threads);
#endif

#endif
