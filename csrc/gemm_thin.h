/* gemm_thin.h: internal to csrc/ (not part of the cffi cdef): gemm.c's paths for thin products
 * (gemm_thin.c): a C with at most AG_THIN_MAX_N columns, or a depth k <= AG_SMALLK_MAX_K. */
#ifndef AG_GEMM_THIN_H
#define AG_GEMM_THIN_H

#include "ag_kernels.h"
#include "ag_simd.h"

#define AG_THIN_MAX_N 16

/* C = alpha * A @ B + beta * C for an m x k A whose rows are contiguous (element (i, p) at
 * a[i * lda + p]), B element (p, j) at b[p * rsb + j * csb], C element (i, j) at
 * c[i * rsc + j * csc]; beta NULL means beta = 0 and C is never read. */
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
};

#define AG_SMALLK_MAX_K 16

/* The same for k <= AG_SMALLK_MAX_K, A with any strides (element (i, p) at a[i rsa + p csa]),
 * B row-major (element (p, j) at b[p * ldb + j]) and C row-major. */
struct ag_smallk_f32 {
    int64_t m, n, k;
    float alpha;
    const float *a;
    int64_t rsa, csa;
    const float *b;
    int64_t ldb;
    const float *beta;
    float *c;
    int64_t ldc;
};

#ifdef AG_SIMD_X86
/* AVX-512 only; return AG_OK or AG_ERR_NOMEM. */
int ag_gemm_thin_f32(const struct ag_thin_f32 *t, int threads);
int ag_gemm_smallk_f32(const struct ag_smallk_f32 *t, int threads);
#endif

#endif
