/* gemm_thin.h: internal to csrc/ (not part of the cffi cdef): gemm.c's path for a C with at
 * most AG_THIN_MAX_N columns (gemm_thin.c). */
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

#ifdef AG_SIMD_X86
/* AVX-512 only; returns AG_OK or AG_ERR_NOMEM. */
int ag_gemm_thin_f32(const struct ag_thin_f32 *t, int threads);
#endif

#endif
