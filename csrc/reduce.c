/* reduce.c: the sum over the rows of a matrix, the gradient of a linear layer's bias.
 *
 * numpy's x.sum(axis=0) costs ~1 us of call overhead on a small batch and adds a (1024, 10)
 * matrix at 0.8 GFLOPS (its inner loop runs over 10 columns at a time). Here each block of
 * columns is added row after row into a buffer on the stack, in plain C that the compiler
 * vectorises; compiled for each instruction set like optim.c's loops. The order is numpy's:
 * out[j] = ((0 + x[0, j]) + x[1, j]) + ..., each addition rounded in the dtype, so the
 * result is bitwise x.sum(axis=0) whatever the instruction set or the thread count (threads
 * take disjoint columns). Except for one column: numpy then sums the contiguous run pairwise
 * (the binding leaves that case to numpy).
 *
 * The same pass also serves a LinearReLU's backward (ops/linalg.py): given the gradient g and
 * the relu's output y, it writes masked = g * (y > 0), as activations.c's relu_backward
 * computes it, and sums masked, the bias gradient. (Where a column sums two NaNs, which one it
 * keeps, and so the sign of that NaN, is the operand order the compiler picks; masking an inf
 * makes a NaN of either sign.)
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ag_kernels.h"
#include "ag_simd.h"
#include "ag_spans.h"

#define SUM_BLOCK 256              /* columns added at a time: 1 KiB of floats in L1 */
#define SUM_PARALLEL_MIN (1 << 17) /* elements: below this a thread's start costs more */
#define SUM_CHUNK_ALIGN 64         /* columns per thread, a multiple of this: whole lines */

/* out = the column sums of x; with relu, of masked = x * (y > 0) (y: the relu's output),
 * which is written too. */
struct sum_rows_args {
    const void *x, *y;
    void *masked, *out;
    int64_t rows, cols;
    int relu;
};

/* Columns [lo, hi); MASKED (a constant) says whether y and masked are used. */
#define DEFINE_SUM_ROWS_SPAN(T, NAME, MASKED)                                                   \
    static inline __attribute__((always_inline)) void NAME(const struct sum_rows_args *a,        \
                                                           int64_t lo, int64_t hi)              \
    {                                                                                           \
        const T *x = a->x, *y = a->y;                                                           \
        T *masked = a->masked, *out = a->out;                                                   \
        const int64_t rows = a->rows, cols = a->cols;                                           \
        for (int64_t j0 = lo; j0 < hi; j0 += SUM_BLOCK) {                                       \
            const int64_t w = hi - j0 < SUM_BLOCK ? hi - j0 : SUM_BLOCK;                        \
            T acc[SUM_BLOCK];                                                                   \
            for (int64_t j = 0; j < w; j++)                                                     \
                acc[j] = 0; /* numpy's start: +0, so -0 + -0 ... sums to +0 as there */         \
            for (int64_t i = 0; i < rows; i++) {                                                \
                const int64_t at = i * cols + j0;                                               \
                for (int64_t j = 0; j < w; j++) {                                               \
                    T v = x[at + j];                                                            \
                    if (MASKED) {                                                               \
                        v = v * (y[at + j] > 0 ? (T)1 : (T)0);                                  \
                        masked[at + j] = v;                                                     \
                    }                                                                           \
                    acc[j] += v;                                                                \
                }                                                                               \
            }                                                                                   \
            memcpy(out + j0, acc, (size_t)w * sizeof(T));                                       \
        }                                                                                       \
    }

DEFINE_SUM_ROWS_SPAN(float, sum_rows_span_f32, 0)
DEFINE_SUM_ROWS_SPAN(double, sum_rows_span_f64, 0)
DEFINE_SUM_ROWS_SPAN(float, relu_sum_rows_span_f32, 1)
DEFINE_SUM_ROWS_SPAN(double, relu_sum_rows_span_f64, 1)
DEFINE_SPAN_VARIANTS(sum_rows_span_f32, struct sum_rows_args)
DEFINE_SPAN_VARIANTS(sum_rows_span_f64, struct sum_rows_args)
DEFINE_SPAN_VARIANTS(relu_sum_rows_span_f32, struct sum_rows_args)
DEFINE_SPAN_VARIANTS(relu_sum_rows_span_f64, struct sum_rows_args)

static int overlap(const void *p, uint64_t pn, const void *q, uint64_t qn)
{
    return (uintptr_t)p < (uintptr_t)q + qn && (uintptr_t)q < (uintptr_t)p + pn;
}

static int sum_rows(const struct sum_rows_args *a, size_t elsize, const ag_span_fn variants[3])
{
    if (a->rows < 0 || a->cols < 0 || (a->cols && (uint64_t)a->rows > UINT64_MAX / 16 / (uint64_t)a->cols))
        return AG_ERR_SIZE;
    if (a->cols == 0)
        return AG_OK;
    if (!a->x || !a->out || (a->relu && (!a->y || !a->masked)))
        return AG_ERR_NULL;
    const uint64_t bytes = (uint64_t)a->rows * (uint64_t)a->cols * elsize, sums = (uint64_t)a->cols * elsize;
    if (overlap(a->x, bytes, a->out, sums))
        return AG_ERR_OVERLAP;  /* the sums would read what they wrote */
    /* masked may be x or y exactly (each element is read before it is written), nothing else */
    if (a->relu && (overlap(a->out, sums, a->y, bytes) || overlap(a->out, sums, a->masked, bytes) ||
                 (a->masked != a->x && overlap(a->masked, bytes, a->x, bytes)) ||
                 (a->masked != a->y && overlap(a->masked, bytes, a->y, bytes))))
        return AG_ERR_OVERLAP;
    const int threads = a->rows * a->cols < SUM_PARALLEL_MIN ? 1 : ag_get_num_threads();
    ag_run_spans(ag_pick_span(variants), a, a->cols, threads, SUM_CHUNK_ALIGN);
    return AG_OK;
}

int ag_sum_rows_f32(const float *x, int64_t rows, int64_t cols, float *out)
{
    static const ag_span_fn variants[3] = SPAN_VARIANTS(sum_rows_span_f32);
    const struct sum_rows_args a = {x, NULL, NULL, out, rows, cols, 0};
    return sum_rows(&a, sizeof *x, variants);
}

int ag_sum_rows_f64(const double *x, int64_t rows, int64_t cols, double *out)
{
    static const ag_span_fn variants[3] = SPAN_VARIANTS(sum_rows_span_f64);
    const struct sum_rows_args a = {x, NULL, NULL, out, rows, cols, 0};
    return sum_rows(&a, sizeof *x, variants);
}

int ag_relu_backward_sum_rows_f32(const float *g, const float *y, float *masked, int64_t rows,
                                  int64_t cols, float *out)
{
    static const ag_span_fn variants[3] = SPAN_VARIANTS(relu_sum_rows_span_f32);
    const struct sum_rows_args a = {g, y, masked, out, rows, cols, 1};
    return sum_rows(&a, sizeof *g, variants);
}

int ag_relu_backward_sum_rows_f64(const double *g, const double *y, double *masked, int64_t rows,
                                  int64_t cols, double *out)
{
    static const ag_span_fn variants[3] = SPAN_VARIANTS(relu_sum_rows_span_f64);
    const struct sum_rows_args a = {g, y, masked, out, rows, cols, 1};
    return sum_rows(&a, sizeof *g, variants);
}
