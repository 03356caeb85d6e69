/* ag_xent.h: internal to csrc/ (not part of the cffi cdef), shared by losses.c (portable C,
 * the softmax cross-entropy driver, the elementwise losses, the exports) and losses_simd.c
 * (the per-row primitives for AVX-512 and AVX2 + FMA).
 */
#ifndef AG_XENT_H
#define AG_XENT_H

#include "ag_kernels.h"
#include "ag_simd.h"

#include <stdint.h>

/* Row sums: e = sum e^(x - m), d = sum (x - m), pd = sum p (x - m), p = sum p. */
struct row_sums {
    double e, d, pd, p;
};

struct row_kernels {
    double (*max)(const void *x, int64_t n);
    struct row_sums (*sums)(const void *x, const void *p, int64_t n, double m);
    /* out = a e^((x - m) - L) - b p - k  (p NULL: no p term); two subtractions, because
     * m + L rounded to float32 would lose the softmax's precision at |x| ~ 1e4 */
    void (*grad)(const void *x, const void *p, int64_t n, double m, double L, double a, double b,
                 double k, void *out);
};

#ifdef AG_SIMD_X86
/* [is_f64]: the row primitives of each instruction set. */
extern const struct row_kernels ag_xent_rows_avx512[2];
extern const struct row_kernels ag_xent_rows_avx2[2];
#endif

#endif /* AG_XENT_H */
