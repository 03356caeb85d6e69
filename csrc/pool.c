/* pool.c: max pooling (with argmax indices) and average pooling, forward and backward,
 * float32/float64, over NCHW planes; geometry checks and threading in ag_conv.h.
 *
 * max_pool2d keeps each window's first maximum, or its first NaN (numpy's argmax), and records
 * its offset ih * w + iw in the plane; padding never wins. Its backward scatter-adds by that
 * index in output order, one thread per plane. avg_pool2d divides by kh * kw
 * (count_include_pad) and sums a window in (i, j) order; its backward uses col2im's order.
 * Both orders match the numpy reference.
 *
 * max_pool2d(x, 2) on float32 has AVX-512 and AVX2 twins (16 and 8 windows per step, picked by
 * ag_isa()); the rest is plain C, whose 2 x 2 rows gcc vectorises for the baseline ISA. (The
 * kernels' tests run under every ISA cap.)
 */
#include "ag_conv.h"

#include <string.h>

/* First maximum of each window, or its first NaN (numpy's argmax); idx is ih * w + iw. */
#define AG_POOL_WINDOW_BOUNDS                                                              \
    const int64_t ih0 = r * g->sh - g->ph, iw0 = q * g->sw - g->pw;                        \
    const int64_t i_lo = ih0 < 0 ? -ih0 : 0, j_lo = iw0 < 0 ? -iw0 : 0;                   \
    const int64_t i_hi = g->h - ih0 < g->kh ? g->h - ih0 : g->kh;                          \
    const int64_t j_hi = g->w - iw0 < g->kw ? g->w - iw0 : g->kw

/* v replaces the running maximum when greater, or when it is the window's first NaN. */
#define AG_TAKES(v, best) ((v) > (best) || ((v) != (v) && (best) == (best)))
/* The same test without short-circuit jumps, for branch-free selects. */
#define AG_TAKES_BITS(v, best) (((v) > (best)) | (((v) != (v)) & ((best) == (best))))

/* x[k], as a double (exact for float) to compare. */
AG_INLINE double load(const void *x, int64_t k, int f64)
{
    return f64 ? ((const double *)x)[k] : (double)((const float *)x)[k];
}

/* dst[k] = src[j], bit for bit. */
AG_INLINE void copy_elem(void *dst, int64_t k, const void *src, int64_t j, int f64)
{
    if (f64)
        ((double *)dst)[k] = ((const double *)src)[j];
    else
        ((float *)dst)[k] = ((const float *)src)[j];
}

/* A 2 x 2 window entirely inside the plane (the common max_pool2d(x, 2)) at offset `at`: the
 * same rule as the general loop below, written as bit selects so that no jump depends on the
 * data: on real data the comparisons are unpredictable, and mispredicted jumps made this kernel
 * 2-3x slower. Compares in double (exact for float); returns the index of the winner. */
AG_INLINE int64_t max4(const void *x, int64_t at, int64_t w, int f64)
{
    const int64_t where[4] = {at, at + 1, at + w, at + w + 1};
    double best = load(x, at, f64);
    int64_t arg = at;
    for (int k = 1; k < 4; k++) {
        const double v = load(x, where[k], f64);
        const uint64_t take = (uint64_t)AG_TAKES_BITS(v, best);
        uint64_t b, c;
        memcpy(&b, &best, sizeof b);
        memcpy(&c, &v, sizeof c);
        b = AG_PICK_BITS(uint64_t, take, c, b);
        memcpy(&best, &b, sizeof b);
        arg = (int64_t)AG_PICK_BITS(uint64_t, take, (uint64_t)where[k], (uint64_t)arg);
    }
    return arg;
}

/* One output row of max_pool2d(x, 2) (2 x 2 windows, stride 2, no padding), rows `at` and
 * `at + w` of the plane: max4's rule, each take a bit pick (AG_PICK_BITS) of the value (in the
 * element type's bits: the output is the winner's value bitwise) and of the index. gcc
 * vectorises the float32 row (as `take ? v : best` it compiled jumps, mispredicted on real
 * data: the seeds' first pooling layer took 4.2 ms without AVX2, now 0.58 ms). */
#define AG_MAX2X2_TAKE(T, U, next, where)                                                  \
    do {                                                                                   \
        const T v = (next);                                                                \
        const U take = (U)AG_TAKES_BITS(v, best);                                          \
        U vb, bb;                                                                          \
        memcpy(&vb, &v, sizeof v);                                                         \
        memcpy(&bb, &best, sizeof best);                                                   \
        bb = AG_PICK_BITS(U, take, vb, bb);                                                \
        memcpy(&best, &bb, sizeof bb);                                                     \
        arg = (int64_t)AG_PICK_BITS(uint64_t, take, (uint64_t)(where), (uint64_t)arg);      \
    } while (0)
#define AG_MAX2X2_ROW(T, U)                                                                \
    do {                                                                                   \
        const T *restrict ra = (const T *)x + at, *restrict rb = ra + w;                   \
        T *restrict o = (T *)out;                                                          \
        int64_t *restrict ix = idx;                                                        \
        for (int64_t q = 0; q < ow; q++) {                                                 \
            T best = ra[2 * q];                                                            \
            int64_t arg = at + 2 * q;                                                      \
            AG_MAX2X2_TAKE(T, U, ra[2 * q + 1], at + 2 * q + 1);                           \
            AG_MAX2X2_TAKE(T, U, rb[2 * q], at + w + 2 * q);                               \
            AG_MAX2X2_TAKE(T, U, rb[2 * q + 1], at + w + 2 * q + 1);                       \
            o[q] = best;                                                                   \
            ix[q] = arg;                                                                   \
        }                                                                                  \
    } while (0)

AG_INLINE void max2x2_row(const void *x, int64_t at, int64_t w, int64_t ow, void *out,
                          int64_t *idx, int f64)
{
    if (f64)
        AG_MAX2X2_ROW(double, uint64_t);
    else
        AG_MAX2X2_ROW(float, uint32_t);
}

/* Buffers {x, idx, out}; the output is copied from the winner, so it is x's value bitwise. */
AG_INLINE void max_pool_plane(const void *x, int64_t *idx, void *out, const struct geom *g,
                              int f64)
{
    if (pool_2x2(g)) {
        const size_t es = f64 ? sizeof(double) : sizeof(float);
        for (int64_t r = 0; r < g->oh; r++)  /* floor mode: every window is inside the plane */
            max2x2_row(x, 2 * r * g->w, g->w, g->ow, (char *)out + (size_t)(r * g->ow) * es,
                       idx + r * g->ow, f64);
        return;
    }
    for (int64_t r = 0; r < g->oh; r++) {
        for (int64_t q = 0; q < g->ow; q++) {
            AG_POOL_WINDOW_BOUNDS;
            int64_t arg = -1;
            if (i_lo == 0 && j_lo == 0 && i_hi == 2 && j_hi == 2 && g->kh == 2 && g->kw == 2) {
                arg = max4(x, ih0 * g->w + iw0, g->w, f64);
            } else {
                double best = 0.0;
                for (int64_t i = i_lo; i < i_hi; i++) {
                    for (int64_t j = j_lo; j < j_hi; j++) {
                        const int64_t at = (ih0 + i) * g->w + iw0 + j;
                        const double v = load(x, at, f64);
                        if (arg < 0 || AG_TAKES(v, best)) {
                            best = v;
                            arg = at;
                        }
                    }
                }
            }
            copy_elem(out, r * g->ow + q, x, arg, f64);
            idx[r * g->ow + q] = arg;
        }
    }
}

/* Buffers {gy, idx, gx}: scatter-add by index, in output order; returns 1 if an index is
 * outside the plane. */
AG_INLINE int max_unpool_plane(const void *gy, const int64_t *idx, void *gx,
                               const struct geom *g, int f64)
{
    const int64_t size = g->h * g->w, n = g->oh * g->ow;
    memset(gx, 0, (size_t)size * (f64 ? sizeof(double) : sizeof(float)));
    for (int64_t k = 0; k < n; k++) {
        if ((uint64_t)idx[k] >= (uint64_t)size)  /* also catches idx[k] < 0 */
            return 1;
        if (f64)
            ((double *)gx)[idx[k]] += ((const double *)gy)[k];
        else
            ((float *)gx)[idx[k]] += ((const float *)gy)[k];
    }
    return 0;
}

/* One output row of avg_pool2d(x, 2) (2 x 2 windows, stride 2, no padding) from rows `at` and
 * `at + w`: the general loop's sum, 0 + the four in (i, j) order (so -0.0 sums to +0.0 as
 * there), written without the bounds so that gcc vectorises it over windows. */
#define AG_AVG2X2_ROW(T)                                                                   \
    do {                                                                                   \
        const T *restrict ra = (const T *)x + at, *restrict rb = ra + w;                   \
        T *restrict o = (T *)out;                                                          \
        for (int64_t q = 0; q < ow; q++)                                                   \
            o[q] = (((((T)0 + ra[2 * q]) + ra[2 * q + 1]) + rb[2 * q]) + rb[2 * q + 1]) / (T)4; \
    } while (0)

AG_INLINE void avg2x2_row(const void *x, int64_t at, int64_t w, int64_t ow, void *out, int f64)
{
    if (f64)
        AG_AVG2X2_ROW(double);
    else
        AG_AVG2X2_ROW(float);
}

/* Buffers {x, -, out}. count_include_pad: the divisor is kh * kw (in floor mode no window
 * leaves the padded input); the window is summed in (i, j) order, in the buffer's dtype,
 * padding contributing nothing. */
AG_INLINE void avg_pool_plane(const void *x, void *out, const struct geom *g, int f64)
{
    if (pool_2x2(g)) {
        const size_t es = f64 ? sizeof(double) : sizeof(float);
        for (int64_t r = 0; r < g->oh; r++)  /* floor mode: every window is inside the plane */
            avg2x2_row(x, 2 * r * g->w, g->w, g->ow, (char *)out + (size_t)(r * g->ow) * es, f64);
        return;
    }
    for (int64_t r = 0; r < g->oh; r++) {
        for (int64_t q = 0; q < g->ow; q++) {
            AG_POOL_WINDOW_BOUNDS;
            const int64_t o = r * g->ow + q;
            if (f64) {
                const double *p = x;
                double acc = 0.0;
                for (int64_t i = i_lo; i < i_hi; i++)
                    for (int64_t j = j_lo; j < j_hi; j++)
                        acc += p[(ih0 + i) * g->w + iw0 + j];
                ((double *)out)[o] = acc / (double)(g->kh * g->kw);
            } else {
                const float *p = x;
                float acc = 0.0f;
                for (int64_t i = i_lo; i < i_hi; i++)
                    for (int64_t j = j_lo; j < j_hi; j++)
                        acc += p[(ih0 + i) * g->w + iw0 + j];
                ((float *)out)[o] = acc / (float)(g->kh * g->kw);
            }
        }
    }
}

static int max_pool_f32(void *const b[3], const struct geom *g)
{
    max_pool_plane(b[0], b[1], b[2], g, 0);
    return 0;
}

#ifdef AG_SIMD_X86
/* One output row of max_pool2d(x, 2) on float32 with AVX2, 8 windows per step: the AVX-512
 * row's method (below) in 256-bit vectors, with AVX2's masked loads and stores for the tail
 * (masked-off lanes are not read or written). gcc had not vectorised the scalar row's selects,
 * and without this a CPU without AVX-512 took 13x longer over the seeds' first pooling layer. */
AG_TARGET_AVX2 static void max2x2_row_avx2(const float *x, int64_t at, int64_t w, int64_t ow,
                                           float *out, int64_t *idx)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i twice = _mm256_add_epi32(lane, lane);
    for (int64_t q = 0; q < ow; q += 8) {
        const int windows = ow - q < 8 ? (int)(ow - q) : 8, cols = 2 * windows;
        const __m256i m_lo = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols), lane);
        const __m256i m_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols - 8), lane);
        const __m256i m_out = _mm256_cmpgt_epi32(_mm256_set1_epi32(windows), lane);
        const float *ra = x + at + 2 * q, *rb = ra + w;
        const __m256 rows[4] = {_mm256_maskload_ps(ra, m_lo), _mm256_maskload_ps(ra + 8, m_hi),
                                _mm256_maskload_ps(rb, m_lo), _mm256_maskload_ps(rb + 8, m_hi)};
        __m256 cand[4];
        for (int r = 0; r < 2; r++) {  /* columns 0 2 4 .. 14 and 1 3 5 .. 15 of the two rows */
            const __m256 even = _mm256_shuffle_ps(rows[2 * r], rows[2 * r + 1], _MM_SHUFFLE(2, 0, 2, 0));
            const __m256 odd = _mm256_shuffle_ps(rows[2 * r], rows[2 * r + 1], _MM_SHUFFLE(3, 1, 3, 1));
            cand[2 * r] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0)));
            cand[2 * r + 1] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(odd), _MM_SHUFFLE(3, 1, 2, 0)));
        }
        const __m256i top = _mm256_add_epi32(_mm256_set1_epi32((int)(at + 2 * q)), twice);
        const __m256i where[4] = {top, _mm256_add_epi32(top, _mm256_set1_epi32(1)),
                                  _mm256_add_epi32(top, _mm256_set1_epi32((int)w)),
                                  _mm256_add_epi32(top, _mm256_set1_epi32((int)w + 1))};
        __m256 best = cand[0];
        __m256i arg = where[0];
        for (int k = 1; k < 4; k++) {
            const __m256 greater = _mm256_cmp_ps(cand[k], best, _CMP_GT_OQ);
            const __m256 first_nan = _mm256_and_ps(_mm256_cmp_ps(cand[k], cand[k], _CMP_UNORD_Q),
                                                   _mm256_cmp_ps(best, best, _CMP_ORD_Q));
            const __m256 take = _mm256_or_ps(greater, first_nan);
            best = _mm256_blendv_ps(best, cand[k], take);
            arg = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(arg),
                                                       _mm256_castsi256_ps(where[k]), take));
        }
        _mm256_maskstore_ps(out + q, m_out, best);
        _mm256_maskstore_epi64((long long *)(idx + q), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m_out)),
                               _mm256_cvtepi32_epi64(_mm256_castsi256_si128(arg)));
        _mm256_maskstore_epi64((long long *)(idx + q + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(m_out, 1)),
                               _mm256_cvtepi32_epi64(_mm256_extracti128_si256(arg, 1)));
    }
}

/* One output row of max_pool2d(x, 2) on float32, 16 windows per step: the even and odd
 * columns of the window's two input rows are split by two-source permutes into the four
 * candidates, taken in window order (top-left, top-right, bottom-left, bottom-right) by
 * AG_TAKES' rule as mask compares; so value and index are the scalar row's, bit for bit.
 * Indices are computed in 32 bits (the caller checks the plane fits) and widened to store. */
AG_TARGET_AVX512 static void max2x2_row_avx512(const float *x, int64_t at, int64_t w, int64_t ow,
                                               float *out, int64_t *idx)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (int64_t q = 0; q < ow; q += 16) {
        const int64_t windows = ow - q < 16 ? ow - q : 16, cols = 2 * windows;
        const __mmask16 m_lo = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
        const __mmask16 m_hi = cols >= 32 ? 0xffff : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
        const __mmask16 m_out = windows == 16 ? 0xffff : (__mmask16)((1u << windows) - 1);
        const float *ra = x + at + 2 * q, *rb = ra + w;
        const __m512 a0 = _mm512_maskz_loadu_ps(m_lo, ra), a1 = _mm512_maskz_loadu_ps(m_hi, ra + 16);
        const __m512 b0 = _mm512_maskz_loadu_ps(m_lo, rb), b1 = _mm512_maskz_loadu_ps(m_hi, rb + 16);
        const __m512 cand[4] = {_mm512_permutex2var_ps(a0, even, a1), _mm512_permutex2var_ps(a0, odd, a1),
                                _mm512_permutex2var_ps(b0, even, b1), _mm512_permutex2var_ps(b0, odd, b1)};
        const __m512i top = _mm512_add_epi32(_mm512_set1_epi32((int)(at + 2 * q)), even);
        const __m512i where[4] = {top, _mm512_add_epi32(top, _mm512_set1_epi32(1)),
                                  _mm512_add_epi32(top, _mm512_set1_epi32((int)w)),
                                  _mm512_add_epi32(top, _mm512_set1_epi32((int)w + 1))};
        __m512 best = cand[0];
        __m512i arg = where[0];
        for (int k = 1; k < 4; k++) {
            const __mmask16 greater = _mm512_cmp_ps_mask(cand[k], best, _CMP_GT_OQ);
            const __mmask16 first_nan = _mm512_cmp_ps_mask(cand[k], cand[k], _CMP_UNORD_Q) &
                                        _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q);
            const __mmask16 take = greater | first_nan;
            best = _mm512_mask_mov_ps(best, take, cand[k]);
            arg = _mm512_mask_mov_epi32(arg, take, where[k]);
        }
        _mm512_mask_storeu_ps(out + q, m_out, best);
        _mm512_mask_storeu_epi64(idx + q, (__mmask8)m_out, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(arg)));
        _mm512_mask_storeu_epi64(idx + q + 8, (__mmask8)(m_out >> 8),
                                 _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(arg, 1)));
    }
}

/* The float32 max_pool2d plane function of an instruction set: its row kernel for 2 x 2
 * windows at stride 2 (indices computed in 32 bits: the plane must fit), else the portable
 * plane compiled for it. */
#define DEFINE_MAX_POOL_F32(ISA, TARGET)                                                        \
    TARGET static int max_pool_f32_##ISA(void *const b[3], const struct geom *g)                \
    {                                                                                           \
        if (pool_2x2(g) && g->h * g->w <= INT32_MAX) {                                          \
            for (int64_t r = 0; r < g->oh; r++) /* floor mode: every window is inside */        \
                max2x2_row_##ISA((const float *)b[0], 2 * r * g->w, g->w, g->ow,                \
                                 (float *)b[2] + r * g->ow, (int64_t *)b[1] + r * g->ow);       \
            return 0;                                                                           \
        }                                                                                       \
        max_pool_plane(b[0], b[1], b[2], g, 0);                                                 \
        return 0;                                                                               \
    }
DEFINE_MAX_POOL_F32(avx2, AG_TARGET_AVX2)
DEFINE_MAX_POOL_F32(avx512, AG_TARGET_AVX512)
#endif
static int max_pool_f64(void *const b[3], const struct geom *g)
{
    max_pool_plane(b[0], b[1], b[2], g, 1);
    return 0;
}
static int max_unpool_f32(void *const b[3], const struct geom *g)
{
    return max_unpool_plane(b[0], b[1], b[2], g, 0);
}

#ifdef AG_SIMD_X86
/* max_pool2d(x, 2)'s backward on float32, 16 windows per step. The windows do not overlap, so
 * when every index lies in its own window each input element receives at most one gradient:
 * the two input rows of an output row are written whole, 0 + gy where the index points (the
 * scalar scatter-add's 0 + gy, so -0.0 becomes +0.0 there too) and +0.0 elsewhere. An index
 * outside its window sends the plane to the scalar scatter, which also reports one outside the
 * plane. */
AG_TARGET_AVX512 static int max_unpool_f32_avx512(void *const b[3], const struct geom *g)
{
    /* fewer than 8 windows a row: the scalar scatter is faster (the seeds' second pooling layer,
     * 5 windows a row: 148 -> 77 us) */
    if (!(pool_2x2(g) && g->h * g->w <= INT32_MAX && g->ow >= 8))
        return max_unpool_plane(b[0], b[1], b[2], g, 0);
    const float *gy = b[0];
    const int64_t *idx = b[1];
    float *gx = b[2];
    const int64_t w = g->w;
    const __m512i lanes2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i mix_lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i mix_hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512 zero = _mm512_setzero_ps();
    /* the row and column no window covers (odd h, w); the windows' rows are written whole */
    if (g->h > 2 * g->oh)
        memset(gx + 2 * g->oh * w, 0, (size_t)((g->h - 2 * g->oh) * w) * sizeof(float));
    for (int64_t i = 0; i < 2 * g->oh && w > 2 * g->ow; i++)
        gx[i * w + w - 1] = 0.0f;
    for (int64_t r = 0; r < g->oh; r++) {
        for (int64_t q = 0; q < g->ow; q += 16) {
            const int64_t windows = g->ow - q < 16 ? g->ow - q : 16, cols = 2 * windows;
            const __mmask16 m = windows == 16 ? 0xffff : (__mmask16)((1u << windows) - 1);
            const int64_t *ix = idx + r * g->ow + q;
            const __m256i i_lo = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64((__mmask8)m, ix));
            const __m256i i_hi = _mm512_cvtepi64_epi32(_mm512_maskz_loadu_epi64((__mmask8)(m >> 8), ix + 8));
            const __m512i id = _mm512_inserti64x4(_mm512_castsi256_si512(i_lo), i_hi, 1);
            const __m512i top = _mm512_add_epi32(_mm512_set1_epi32((int)(2 * r * w + 2 * q)), lanes2);
            const __m512i rel = _mm512_sub_epi32(id, top);
            const __mmask16 tl = _mm512_cmpeq_epi32_mask(rel, _mm512_setzero_si512());
            const __mmask16 tr = _mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32(1));
            const __mmask16 bl = _mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32((int)w));
            const __mmask16 br = _mm512_cmpeq_epi32_mask(rel, _mm512_set1_epi32((int)w + 1));
            /* also catches an int64 index that 32 bits would alias into the window */
            const __mmask16 wide = _mm512_cmpneq_epi64_mask(_mm512_maskz_loadu_epi64((__mmask8)m, ix),
                                                            _mm512_cvtepi32_epi64(i_lo)) |
                                   (__mmask16)(_mm512_cmpneq_epi64_mask(
                                       _mm512_maskz_loadu_epi64((__mmask8)(m >> 8), ix + 8),
                                       _mm512_cvtepi32_epi64(i_hi)) << 8);
            if ((((tl | tr | bl | br) & m) != m) || (wide & m))
                return max_unpool_plane(b[0], b[1], b[2], g, 0);
            const __m512 v = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(m, gy + r * g->ow + q));
            const __mmask16 m_lo = cols >= 16 ? 0xffff : (__mmask16)((1u << cols) - 1);
            const __mmask16 m_hi = cols >= 32 ? 0xffff : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1) : 0;
            const __m512 even[2] = {_mm512_maskz_mov_ps(tl, v), _mm512_maskz_mov_ps(bl, v)};
            const __m512 odd[2] = {_mm512_maskz_mov_ps(tr, v), _mm512_maskz_mov_ps(br, v)};
            for (int row = 0; row < 2; row++) {
                float *dst = gx + (2 * r + row) * w + 2 * q;
                _mm512_mask_storeu_ps(dst, m_lo, _mm512_permutex2var_ps(even[row], mix_lo, odd[row]));
                _mm512_mask_storeu_ps(dst + 16, m_hi, _mm512_permutex2var_ps(even[row], mix_hi, odd[row]));
            }
        }
    }
    return 0;
}
#endif
static int max_unpool_f64(void *const b[3], const struct geom *g)
{
    return max_unpool_plane(b[0], b[1], b[2], g, 1);
}
static int avg_pool_f32(void *const b[3], const struct geom *g)
{
    avg_pool_plane(b[0], b[2], g, 0);
    return 0;
}
static int avg_pool_f64(void *const b[3], const struct geom *g)
{
    avg_pool_plane(b[0], b[2], g, 1);
    return 0;
}

/* ------------------------------------------------------------------ exports */

int ag_max_pool2d_f32(const float *x, float *out, int64_t *idx, AG_GEOM_PARAMS)
{
#ifdef AG_SIMD_X86
    const plane_fn fn = ag_isa() == AG_ISA_AVX512 ? max_pool_f32_avx512
                        : ag_isa() == AG_ISA_AVX2 ? max_pool_f32_avx2 : max_pool_f32;
#else
    const plane_fn fn = max_pool_f32;
#endif
    return run_planes(fn, 1, AG_BUF(x, PLANE_IN), AG_BUF(idx, PLANE_OUT),
                      AG_BUF(out, PLANE_OUT), AG_GEOM_ARGS);
}
int ag_max_pool2d_f64(const double *x, double *out, int64_t *idx, AG_GEOM_PARAMS)
{
    return run_planes(max_pool_f64, 1, AG_BUF(x, PLANE_IN), AG_BUF(idx, PLANE_OUT),
                      AG_BUF(out, PLANE_OUT), AG_GEOM_ARGS);
}
int ag_max_pool2d_backward_f32(const float *gy, const int64_t *idx, float *gx, AG_GEOM_PARAMS)
{
    return run_planes(PLANE_FN(max_unpool_f32), 1, AG_BUF(gy, PLANE_OUT), AG_BUF(idx, PLANE_OUT),
                      AG_BUF(gx, PLANE_IN), AG_GEOM_ARGS);
}
int ag_max_pool2d_backward_f64(const double *gy, const int64_t *idx, double *gx,
                               AG_GEOM_PARAMS)
{
    return run_planes(max_unpool_f64, 1, AG_BUF(gy, PLANE_OUT), AG_BUF(idx, PLANE_OUT),
                      AG_BUF(gx, PLANE_IN), AG_GEOM_ARGS);
}
int ag_avg_pool2d_f32(const float *x, float *out, AG_GEOM_PARAMS)
{
    return run_planes(avg_pool_f32, 1, AG_BUF(x, PLANE_IN), AG_NOBUF, AG_BUF(out, PLANE_OUT),
                      AG_GEOM_ARGS);
}
int ag_avg_pool2d_f64(const double *x, double *out, AG_GEOM_PARAMS)
{
    return run_planes(avg_pool_f64, 1, AG_BUF(x, PLANE_IN), AG_NOBUF, AG_BUF(out, PLANE_OUT),
                      AG_GEOM_ARGS);
}
int ag_avg_pool2d_backward_f32(const float *gy, float *gx, AG_GEOM_PARAMS)
{
    return run_planes(ag_avg_unpool_plane_f32, 1, AG_BUF(gy, PLANE_OUT), AG_NOBUF,
                      AG_BUF(gx, PLANE_IN), AG_GEOM_ARGS);
}
int ag_avg_pool2d_backward_f64(const double *gy, double *gx, AG_GEOM_PARAMS)
{
    return run_planes(ag_avg_unpool_plane_f64, 1, AG_BUF(gy, PLANE_OUT), AG_NOBUF,
                      AG_BUF(gx, PLANE_IN), AG_GEOM_ARGS);
}
