/* conv.c: im2col and col2im, the data movement around convolution's GEMM, float32/float64.
 *
 * cols (im2col's output, col2im's input) is (n, c * kh * kw, oh * ow), row-major: row
 * (ci * kh + i) * kw + j of image n holds input element (oh * sh - ph + i, ow * sw - pw + j) of
 * channel ci for every output position, zero where that falls in the padding. That is the
 * layout `weight.reshape(out, c * kh * kw) @ cols[n]` needs to give NCHW output directly.
 * Geometry checks and the per-plane threading are in ag_conv.h.
 *
 * col2im sums in the numpy reference's order (backend/_numpy.py): kernel offsets (i, j)
 * outermost, output positions inside; one thread per plane, so no racing accumulation.
 *
 * Each plane function exists twice, portable and inside an AVX-512 target (picked by ag_isa()):
 * what costs time at a small CNN's sizes is per-row overhead on short rows (3 to 26 elements),
 * so the AVX-512 versions copy and add a row under a mask, build col2im's rows in registers,
 * and move planes of at most 32 elements as two registers. (The kernels' tests run under every
 * ISA cap.)
 */
#include "ag_conv.h"
#include "ag_simd.h"
#include "ag_spans.h"

#include <string.h>

#ifdef AG_SIMD_X86
/* d[0, n) = s[0, n), and d[0, n) += s[0, n): whole vectors, then the tail under a mask, so a
 * row of 3 to 26 elements is one or two loads and stores instead of a scalar loop. Plain
 * `static inline`: the portable plane functions never reach them (their `simd` is 0). */
AG_TARGET_AVX512 static inline void copy_avx512(void *dst, const void *src, int64_t n, int f64)
{
    if (f64) {
        double *d = dst;
        const double *s = src;
        int64_t k = 0;
        for (; k + 8 <= n; k += 8)
            _mm512_storeu_pd(d + k, _mm512_loadu_pd(s + k));
        const __mmask8 m = (__mmask8)((1u << (n - k)) - 1);
        _mm512_mask_storeu_pd(d + k, m, _mm512_maskz_loadu_pd(m, s + k));
    } else {
        float *d = dst;
        const float *s = src;
        int64_t k = 0;
        for (; k + 16 <= n; k += 16)
            _mm512_storeu_ps(d + k, _mm512_loadu_ps(s + k));
        const __mmask16 m = (__mmask16)((1u << (n - k)) - 1);
        _mm512_mask_storeu_ps(d + k, m, _mm512_maskz_loadu_ps(m, s + k));
    }
}

AG_TARGET_AVX512 static inline void add_avx512(void *dst, const void *src, int64_t n, int f64)
{
    if (f64) {
        double *d = dst;
        const double *s = src;
        int64_t k = 0;
        for (; k + 8 <= n; k += 8)
            _mm512_storeu_pd(d + k, _mm512_add_pd(_mm512_loadu_pd(d + k), _mm512_loadu_pd(s + k)));
        const __mmask8 m = (__mmask8)((1u << (n - k)) - 1);
        _mm512_mask_storeu_pd(d + k, m, _mm512_add_pd(_mm512_maskz_loadu_pd(m, d + k),
                                                      _mm512_maskz_loadu_pd(m, s + k)));
    } else {
        float *d = dst;
        const float *s = src;
        int64_t k = 0;
        for (; k + 16 <= n; k += 16)
            _mm512_storeu_ps(d + k, _mm512_add_ps(_mm512_loadu_ps(d + k), _mm512_loadu_ps(s + k)));
        const __mmask16 m = (__mmask16)((1u << (n - k)) - 1);
        _mm512_mask_storeu_ps(d + k, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, d + k),
                                                      _mm512_maskz_loadu_ps(m, s + k)));
    }
}
#endif

/* dst[k] = 0 for k in [lo, hi). */
AG_INLINE void zero_span(void *dst, int64_t lo, int64_t hi, int f64)
{
    if (f64) {
        double *d = dst;
        for (int64_t k = lo; k < hi; k++)
            d[k] = 0.0;
    } else {
        float *d = dst;
        for (int64_t k = lo; k < hi; k++)
            d[k] = 0.0f;
    }
}

/* dst[k] = src[k * sw + off] for k in [lo, hi); unit stride kept apart so it vectorises. */
AG_INLINE void gather_span(void *restrict dst, const void *restrict src, int64_t lo, int64_t hi,
                           int64_t sw, int64_t off, int f64, int simd)
{
#ifdef AG_SIMD_X86
    if (simd && sw == 1 && hi > lo) {
        const size_t es = f64 ? sizeof(double) : sizeof(float);
        copy_avx512((char *)dst + (size_t)lo * es, (const char *)src + (size_t)(lo + off) * es, hi - lo, f64);
        return;
    }
#else
    (void)simd;
#endif
    if (f64) {
        double *restrict d = dst;
        const double *restrict s = src;
        if (sw == 1) {
            for (int64_t k = lo; k < hi; k++)
                d[k] = s[k + off];
        } else {
            for (int64_t k = lo; k < hi; k++)
                d[k] = s[k * sw + off];
        }
    } else {
        float *restrict d = dst;
        const float *restrict s = src;
        if (sw == 1) {
            for (int64_t k = lo; k < hi; k++)
                d[k] = s[k + off];
        } else {
            for (int64_t k = lo; k < hi; k++)
                d[k] = s[k * sw + off];
        }
    }
}

/* Planes with at most this many outputs and no padding take the small-plane path: every
 * kernel offset (i, j) reads the input at the same pattern of offsets from i * w + j, so one
 * table of oh * ow offsets serves the whole plane, instead of a loop per output row (rows of
 * 3 elements cost ~10x their copy in loop overhead). */
#define AG_SMALL_PLANE 64

AG_INLINE int small_plane(const struct geom *g)
{
    return g->ph == 0 && g->pw == 0 && g->oh * g->ow <= AG_SMALL_PLANE;
}

/* off[r * ow + k] = r * sh * w + k * sw, the input offset of output (r, k) from its window's
 * corner. */
AG_INLINE void window_offsets(const struct geom *g, int64_t off[AG_SMALL_PLANE])
{
    for (int64_t r = 0; r < g->oh; r++)
        for (int64_t k = 0; k < g->ow; k++)
            off[r * g->ow + k] = r * g->sh * g->w + k * g->sw;
}

#ifdef AG_SIMD_X86
/* Float planes this small (h w <= 32 elements, oh ow <= 16 outputs, no padding) fit in two
 * registers: each kernel offset (i, j) is one permute of them (the window offsets plus the
 * offset's corner i w + j index the 32 elements). A conv layer after two poolings (5 x 5
 * planes, 3 x 3 outputs) spent ~2 cycles per element in the offset table's scalar loop. */
AG_INLINE int tiny_plane(const struct geom *g)
{
    return small_plane(g) && g->h * g->w <= 32 && g->oh * g->ow <= 16;
}

/* The masks of a tiny plane's elements in its two registers: nothing past the plane. */
AG_INLINE __mmask16 plane_lanes(const struct geom *g, int64_t half)
{
    const int64_t left = g->h * g->w - 16 * half;
    return (__mmask16)(left >= 16 ? 0xffff : left > 0 ? (1u << left) - 1 : 0);
}

/* im2col of a tiny plane: per (i, j), one permute and one masked store of oh * ow elements. */
AG_TARGET_AVX512 static void im2col_tiny_avx512(const float *x, float *col, const struct geom *g)
{
    const __m512 x0 = _mm512_maskz_loadu_ps(plane_lanes(g, 0), x);
    const __m512 x1 = _mm512_maskz_loadu_ps(plane_lanes(g, 1), x + 16);
    _Alignas(64) int32_t off[16] = {0};
    for (int64_t r = 0; r < g->oh; r++)
        for (int64_t k = 0; k < g->ow; k++)
            off[r * g->ow + k] = (int32_t)(r * g->sh * g->w + k * g->sw);
    const __m512i base = _mm512_load_si512(off);
    const __mmask16 out = (__mmask16)((1u << (g->oh * g->ow)) - 1);
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
            const __m512i idx = _mm512_add_epi32(base, _mm512_set1_epi32((int32_t)(i * g->w + j)));
            _mm512_mask_storeu_ps(col + (i * g->kw + j) * g->cols_row, out,
                                  _mm512_permutex2var_ps(x0, idx, x1));
        }
}

/* Float planes whose input rows fit one vector (w <= 16), with unit stride and no padding (a
 * 3 x 3 layer on 13 x 13 planes), other than tiny ones. im2col: each kernel offset's row of
 * cols is oh input row segments back to back, one masked load and store each, with no per-row
 * loop set-up (the general path's ~7 cycles a row were most of a small CNN's im2col). col2im:
 * each input row is one register, summed over the window rows that land on it in (i, j)
 * order with masks fixed per j. */
AG_INLINE int short_rows(const struct geom *g)
{
    return g->sw == 1 && g->sh == 1 && g->ph == 0 && g->pw == 0 && g->w <= 16 && !tiny_plane(g);
}

AG_TARGET_AVX512 static void im2col_short_rows_avx512(const float *x, float *col, const struct geom *g)
{
    const int64_t kh = g->kh, kw = g->kw, w = g->w, oh = g->oh, ow = g->ow, cols_row = g->cols_row;
    const __mmask16 m = (__mmask16)((1u << ow) - 1);
    for (int64_t i = 0; i < kh; i++)
        for (int64_t j = 0; j < kw; j++) {
            const float *s = x + i * w + j;
            float *d = col + (i * kw + j) * cols_row;
            for (int64_t r = 0; r < oh; r++, s += w, d += ow)
                _mm512_mask_storeu_ps(d, m, _mm512_maskz_loadu_ps(m, s));
        }
}

/* Input row ih collects, for each i with window row r = ih - i in the output, the rows (i, j)
 * shifted right by j: lane l takes output column l - j (lanes j .. j + ow - 1; the rest are
 * masked off, so nothing before a row is read). The same additions in the same order as
 * scatter_plane's general path, from 0. */
AG_TARGET_AVX512 static void col2im_short_rows_avx512(const float *src, float *x, const struct geom *g)
{
    const int64_t kh = g->kh, kw = g->kw, h = g->h, w = g->w, oh = g->oh, ow = g->ow;
    const int64_t cols_row = g->cols_row;
    const __mmask16 row = (__mmask16)((1u << ow) - 1), store = (__mmask16)((1u << w) - 1);
    for (int64_t ih = 0; ih < h; ih++) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t i = 0; i < kh; i++) {
            const int64_t r = ih - i;
            if (r < 0 || r >= oh)
                continue;
            const float *s = src + i * kw * cols_row + r * ow;
            for (int64_t j = 0; j < kw; j++, s += cols_row - 1) {
                const __mmask16 m = (__mmask16)(row << j);
                acc = _mm512_mask_add_ps(acc, m, acc, _mm512_maskz_loadu_ps(m, s));
            }
        }
        _mm512_mask_storeu_ps(x + ih * w, store, acc);
    }
}

/* col2im of a tiny plane: the plane is summed in two registers and stored once. Plane
 * element p takes output t of offset (i, j) when p = off[t] + corner: `inverse` holds t at
 * 32 + off[t] (-1 elsewhere), so the lanes for a corner are one unaligned load at 32 - corner.
 * Per element the same additions in the same (i, j) order as the scalar path, from 0. */
AG_TARGET_AVX512 static void col2im_tiny_avx512(const float *src, float *x, const struct geom *g)
{
    const int64_t len = g->oh * g->ow;
    int32_t inverse[64];
    for (int q = 0; q < 64; q++)
        inverse[q] = -1;
    for (int64_t r = 0; r < g->oh; r++)
        for (int64_t k = 0; k < g->ow; k++)
            inverse[32 + r * g->sh * g->w + k * g->sw] = (int32_t)(r * g->ow + k);
    const __mmask16 in = (__mmask16)((1u << len) - 1);
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
            const int64_t corner = i * g->w + j;
            const __m512 v = _mm512_maskz_loadu_ps(in, src + (i * g->kw + j) * g->cols_row);
            const __m512i t0 = _mm512_loadu_si512(inverse + 32 - corner);
            const __m512i t1 = _mm512_loadu_si512(inverse + 48 - corner);
            const __mmask16 m0 = _mm512_cmpge_epi32_mask(t0, _mm512_setzero_si512());
            const __mmask16 m1 = _mm512_cmpge_epi32_mask(t1, _mm512_setzero_si512());
            a0 = _mm512_mask_add_ps(a0, m0, a0, _mm512_permutexvar_ps(t0, v));
            a1 = _mm512_mask_add_ps(a1, m1, a1, _mm512_permutexvar_ps(t1, v));
        }
    _mm512_mask_storeu_ps(x, plane_lanes(g, 0), a0);
    _mm512_mask_storeu_ps(x + 16, plane_lanes(g, 1), a1);
}
#endif

/* One plane of x into its kh * kw rows of cols (each oh * ow long). Plain loops rather than
 * memcpy/memset: rows are often a few elements long (3 to 26 in a small CNN), where the calls
 * cost more than the copy; gcc vectorises the unit-stride loops. */
AG_INLINE void im2col_plane(const void *restrict x, void *restrict col, const struct geom *g,
                            int f64, int simd)
{
    const size_t es = f64 ? sizeof(double) : sizeof(float);
    const int64_t ow = g->ow;
#ifdef AG_SIMD_X86
    if (simd && !f64 && tiny_plane(g)) {
        im2col_tiny_avx512(x, col, g);
        return;
    }
    if (simd && !f64 && short_rows(g)) {
        im2col_short_rows_avx512(x, col, g);
        return;
    }
#endif
    if (small_plane(g)) {
        int64_t off[AG_SMALL_PLANE];
        window_offsets(g, off);
        const int64_t len = g->oh * ow;
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const int64_t row = (i * g->kw + j) * g->cols_row, corner = i * g->w + j;
                if (f64) {
                    double *restrict d = (double *)col + row;
                    const double *restrict s = (const double *)x + corner;
                    for (int64_t t = 0; t < len; t++)
                        d[t] = s[off[t]];
                } else {
                    float *restrict d = (float *)col + row;
                    const float *restrict s = (const float *)x + corner;
                    for (int64_t t = 0; t < len; t++)
                        d[t] = s[off[t]];
                }
            }
        return;
    }
    /* The geometry in locals: through g, every store to col would make the compiler reload it
     * (it may alias), which cost more than the copies of short rows. */
    const int64_t kh = g->kh, kw = g->kw, sh = g->sh, sw = g->sw, ph = g->ph, pw = g->pw;
    const int64_t h = g->h, w = g->w, oh = g->oh, cols_row = g->cols_row;
    for (int64_t i = 0; i < kh; i++) {
        /* output rows r whose input row r sh - ph + i lies in [0, h): [r0, r1) */
        int64_t r0, r1;
        valid_range(i, sh, ph, h, oh, &r0, &r1);
        for (int64_t j = 0; j < kw; j++) {
            int64_t lo, hi;
            valid_range(j, sw, pw, w, ow, &lo, &hi);
            char *dst = (char *)col + (size_t)((i * kw + j) * cols_row) * es;
            zero_span(dst, 0, r0 * ow, f64);
            /* input column of output column k: k sw + j - pw */
            const char *row = (const char *)x + (size_t)((r0 * sh - ph + i) * w + j - pw) * es;
            char *d = dst + (size_t)(r0 * ow) * es;
            const size_t d_step = (size_t)ow * es, x_step = (size_t)(sh * w) * es;
            if (lo == 0 && hi == ow) {  /* no padding in this column range: only the copies */
                for (int64_t r = r0; r < r1; r++, d += d_step, row += x_step)
                    gather_span(d, row, 0, ow, sw, 0, f64, simd);
            } else {
                for (int64_t r = r0; r < r1; r++, d += d_step, row += x_step) {
                    zero_span(d, 0, lo, f64);
                    gather_span(d, row, lo, hi, sw, 0, f64, simd);
                    zero_span(d, hi, ow, f64);
                }
            }
            zero_span(dst, r1 * ow, oh * ow, f64);
        }
    }
}

/* dst[k * sw + off] += src[k] (avg: src[k] / count) for k in [lo, hi). */
AG_INLINE void scatter_add_span(void *restrict dst, const void *restrict src, int64_t lo,
                                int64_t hi, int64_t sw, int64_t off, int avg, int64_t count,
                                int f64, int simd)
{
#ifdef AG_SIMD_X86
    if (simd && sw == 1 && !avg && hi > lo) {  /* the same single add per element */
        const size_t es = f64 ? sizeof(double) : sizeof(float);
        add_avx512((char *)dst + (size_t)(lo + off) * es, (const char *)src + (size_t)lo * es, hi - lo, f64);
        return;
    }
#else
    (void)simd;
#endif
    if (f64) {
        double *restrict d = dst;
        const double *restrict s = src;
        const double c = (double)count;
        if (sw == 1 && !avg) {  /* unit stride: a vectorisable axpy */
            for (int64_t k = lo; k < hi; k++)
                d[k + off] += s[k];
        } else {
            for (int64_t k = lo; k < hi; k++)
                d[k * sw + off] += avg ? s[k] / c : s[k];
        }
    } else {
        float *restrict d = dst;
        const float *restrict s = src;
        const float c = (float)count;
        if (sw == 1 && !avg) {
            for (int64_t k = lo; k < hi; k++)
                d[k + off] += s[k];
        } else {
            for (int64_t k = lo; k < hi; k++)
                d[k * sw + off] += avg ? s[k] / c : s[k];
        }
    }
}

#ifdef AG_SIMD_X86
/* col2im of one plane with unit column stride: each input row is built in registers, 16
 * (float) or 8 (double) columns at a time, from every window row (i, j) that lands on it, in
 * (i, j) order, and stored once. The same additions in the same order as scatter_plane's
 * general path, whose masked read-modify-writes of one row, one per (i, j), stall on store
 * forwarding (43% of a conv layer's input gradient went there). Lanes a window row does not
 * reach are masked out of its load and its add, so they are never touched. */
AG_TARGET_AVX512 static void col2im_rows_avx512(const void *src, void *x, const struct geom *g,
                                                int f64)
{
    const int64_t kh = g->kh, kw = g->kw, sh = g->sh, ph = g->ph, pw = g->pw, h = g->h, w = g->w;
    const int64_t oh = g->oh, ow = g->ow, ij_stride = g->cols_row, lanes = f64 ? 8 : 16;
    const size_t es = f64 ? sizeof(double) : sizeof(float);
    for (int64_t ih = 0; ih < h; ih++) {
        for (int64_t c0 = 0; c0 < w; c0 += lanes) {
            __m512 acc = _mm512_setzero_ps();
            __m512d acc_d = _mm512_setzero_pd();
            for (int64_t i = 0; i < kh; i++) {
                const int64_t t = ih + ph - i;  /* r sh, for the window row r reading input row ih */
                if (t < 0 || t % sh || t / sh >= oh)
                    continue;
                const int64_t r = t / sh;
                for (int64_t j = 0; j < kw; j++) {
                    /* lane l is input column c0 + l, output column q = c0 + l + pw - j */
                    const int64_t first = j - pw - c0 > 0 ? j - pw - c0 : 0;
                    int64_t end = ow + j - pw - c0;
                    end = end < lanes ? end : lanes;
                    end = end < w - c0 ? end : w - c0;
                    if (first >= end)
                        continue;
                    const uint32_t mask = ((1u << end) - 1) & ~((1u << first) - 1);
                    /* element q = 0 of this window row, as an address (lanes before it are
                     * masked off, so nothing before the row is read) */
                    const uintptr_t at = (uintptr_t)src + (uintptr_t)(((i * kw + j) * ij_stride + r * ow +
                                                                      c0 + pw - j) * (int64_t)es);
                    if (f64)
                        acc_d = _mm512_mask_add_pd(acc_d, (__mmask8)mask, acc_d,
                                                   _mm512_maskz_loadu_pd((__mmask8)mask, (const void *)at));
                    else
                        acc = _mm512_mask_add_ps(acc, (__mmask16)mask, acc,
                                                 _mm512_maskz_loadu_ps((__mmask16)mask, (const void *)at));
                }
            }
            const int64_t n = w - c0 < lanes ? w - c0 : lanes;
            char *dst = (char *)x + (size_t)(ih * w + c0) * es;
            if (f64)
                _mm512_mask_storeu_pd(dst, (__mmask8)((1u << n) - 1), acc_d);
            else
                _mm512_mask_storeu_ps(dst, (__mmask16)((1u << n) - 1), acc);
        }
    }
}
#endif

/* avg_pool2d(x, 2)'s backward (2 x 2 windows, stride 2, no padding): the windows do not
 * overlap, so each input element gets exactly one share, 0 + gy / 4 as in the general scatter
 * (-0.0 becomes +0.0 there too), written directly; the row and column no window covers (odd
 * h, w) are zero. */
#define AG_AVG_UNPOOL2X2(T)                                                                 \
    do {                                                                                    \
        const T *restrict gy = src;                                                         \
        T *restrict gx = x;                                                                 \
        const int64_t w = g->w, ow = g->ow;                                                 \
        for (int64_t r = 0; r < g->oh; r++) {                                               \
            T *restrict top = gx + 2 * r * w, *restrict bottom = top + w;                   \
            for (int64_t q = 0; q < ow; q++) {                                              \
                const T v = (T)0 + gy[r * ow + q] / (T)4;                                   \
                top[2 * q] = v, top[2 * q + 1] = v, bottom[2 * q] = v, bottom[2 * q + 1] = v; \
            }                                                                               \
            if (w > 2 * ow)                                                                 \
                top[w - 1] = 0, bottom[w - 1] = 0;                                          \
        }                                                                                   \
        if (g->h > 2 * g->oh)                                                               \
            memset(gx + 2 * g->oh * w, 0, (size_t)((g->h - 2 * g->oh) * w) * sizeof(T));     \
    } while (0)

AG_INLINE void avg_unpool2x2(const void *restrict src, void *restrict x, const struct geom *g,
                             int f64)
{
    if (f64)
        AG_AVG_UNPOOL2X2(double);
    else
        AG_AVG_UNPOOL2X2(float);
}

/* x[plane] = sum over (i, j), in that order, of the rows of src scattered back: col2im, where
 * the row for (i, j, r) is src[((i kw + j) oh + r) ow ...], or (avg) avg_pool2d's backward,
 * where it is gy[r ow ...] / (kh kw) for every (i, j). */
AG_INLINE void scatter_plane(const void *restrict src, void *restrict x, const struct geom *g,
                             int avg, int f64, int simd)
{
    if (avg && pool_2x2(g)) {
        avg_unpool2x2(src, x, g, f64);
        return;
    }
    const size_t es = f64 ? sizeof(double) : sizeof(float);
    const int64_t ij_stride = avg ? 0 : g->cols_row;  /* src elements per kernel offset (i, j) */
#ifdef AG_SIMD_X86
    if (simd && !avg && !f64 && short_rows(g)) {
        col2im_short_rows_avx512(src, x, g);
        return;
    }
    if (simd && !avg && g->sw == 1 && !small_plane(g)) {  /* small planes: the table below is 15% faster */
        col2im_rows_avx512(src, x, g, f64);
        return;
    }
    if (simd && !avg && !f64 && tiny_plane(g)) {
        col2im_tiny_avx512(src, x, g);
        return;
    }
#endif
    memset(x, 0, (size_t)(g->h * g->w) * es);
    if (small_plane(g) && !avg) {  /* the same order: (i, j) outermost, then outputs */
        int64_t off[AG_SMALL_PLANE];
        window_offsets(g, off);
        const int64_t len = g->oh * g->ow;
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const int64_t row = (i * g->kw + j) * ij_stride, corner = i * g->w + j;
                if (f64) {
                    double *restrict d = (double *)x + corner;
                    const double *restrict s = (const double *)src + row;
                    for (int64_t t = 0; t < len; t++)
                        d[off[t]] += s[t];
                } else {
                    float *restrict d = (float *)x + corner;
                    const float *restrict s = (const float *)src + row;
                    for (int64_t t = 0; t < len; t++)
                        d[off[t]] += s[t];
                }
            }
        return;
    }
    for (int64_t i = 0; i < g->kh; i++) {
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t lo, hi;
            valid_range(j, g->sw, g->pw, g->w, g->ow, &lo, &hi);
            for (int64_t r = 0; r < g->oh; r++) {
                const int64_t ih = r * g->sh - g->ph + i;
                if (ih < 0 || ih >= g->h)
                    continue;
                const char *s = (const char *)src + (size_t)((i * g->kw + j) * ij_stride + r * g->ow) * es;
                char *dst = (char *)x + (size_t)(ih * g->w) * es;
                scatter_add_span(dst, s, lo, hi, g->sw, j - g->pw, avg, g->kh * g->kw, f64, simd);
            }
        }
    }
}

/* Buffers: {x, -, cols}, {cols, -, x} and (avg_pool2d's backward, exported to pool.c)
 * {gy, -, gx}. Each im2col/col2im plane function twice: portable, and (x86) inside an AVX-512
 * target with masked row copies; `plane_fn_for` picks by ag_isa(). */
#define DEFINE_PLANE_FNS(SIMD, ATTR, USE_SIMD)                                                            \
    ATTR static int im2col_f32##SIMD(void *const b[3], const struct geom *g)                    \
    {                                                                                           \
        im2col_plane(b[0], b[2], g, 0, USE_SIMD);                                       \
        return 0;                                                                               \
    }                                                                                           \
    ATTR static int im2col_f64##SIMD(void *const b[3], const struct geom *g)                    \
    {                                                                                           \
        im2col_plane(b[0], b[2], g, 1, USE_SIMD);                                       \
        return 0;                                                                               \
    }                                                                                           \
    ATTR static int col2im_f32##SIMD(void *const b[3], const struct geom *g)                    \
    {                                                                                           \
        scatter_plane(b[0], b[2], g, 0, 0, USE_SIMD);                                   \
        return 0;                                                                               \
    }                                                                                           \
    ATTR static int col2im_f64##SIMD(void *const b[3], const struct geom *g)                    \
    {                                                                                           \
        scatter_plane(b[0], b[2], g, 0, 1, USE_SIMD);                                   \
        return 0;                                                                               \
    }

DEFINE_PLANE_FNS(, , 0)
#ifdef AG_SIMD_X86
DEFINE_PLANE_FNS(_avx512, AG_TARGET_AVX512, 1)
#endif

int ag_avg_unpool_plane_f32(void *const b[3], const struct geom *g)
{
    scatter_plane(b[0], b[2], g, 1, 0, 0);
    return 0;
}
int ag_avg_unpool_plane_f64(void *const b[3], const struct geom *g)
{
    scatter_plane(b[0], b[2], g, 1, 1, 0);
    return 0;
}

plane_fn ag_im2col_plane(int f64)
{
    return f64 ? PLANE_FN(im2col_f64) : PLANE_FN(im2col_f32);
}
plane_fn ag_col2im_plane(int f64)
{
    return f64 ? PLANE_FN(col2im_f64) : PLANE_FN(col2im_f32);
}

/* ------------------------------------------------------------------ exports */

int ag_im2col_f32(const float *x, float *cols, AG_GEOM_PARAMS)
{
    return run_planes(PLANE_FN(im2col_f32), 0, AG_BUF(x, PLANE_IN), AG_NOBUF, AG_BUF(cols, PLANE_COLS),
                      AG_GEOM_ARGS);
}
int ag_im2col_f64(const double *x, double *cols, AG_GEOM_PARAMS)
{
    return run_planes(PLANE_FN(im2col_f64), 0, AG_BUF(x, PLANE_IN), AG_NOBUF, AG_BUF(cols, PLANE_COLS),
                      AG_GEOM_ARGS);
}
int ag_im2col_bm_f32(const float *x, float *cols, AG_GEOM_PARAMS)
{
    return run_planes(PLANE_FN(im2col_f32), 0, AG_BUF(x, PLANE_IN), AG_NOBUF, AG_BUF(cols, PLANE_COLS_BM),
                      AG_GEOM_ARGS);
}
int ag_im2col_bm_f64(const double *x, double *cols, AG_GEOM_PARAMS)
{
    return run_planes(PLANE_FN(im2col_f64), 0, AG_BUF(x, PLANE_IN), AG_NOBUF, AG_BUF(cols, PLANE_COLS_BM),
                      AG_GEOM_ARGS);
}
int ag_col2im_bm_f32(const float *cols, float *x, AG_GEOM_PARAMS)
{
    return run_planes(PLANE_FN(col2im_f32), 0, AG_BUF(cols, PLANE_COLS_BM), AG_NOBUF, AG_BUF(x, PLANE_IN),
                      AG_GEOM_ARGS);
}
int ag_col2im_bm_f64(const double *cols, double *x, AG_GEOM_PARAMS)
{
    return run_planes(PLANE_FN(col2im_f64), 0, AG_BUF(cols, PLANE_COLS_BM), AG_NOBUF, AG_BUF(x, PLANE_IN),
                      AG_GEOM_ARGS);
}
int ag_col2im_f32(const float *cols, float *x, AG_GEOM_PARAMS)
{
    return run_planes(PLANE_FN(col2im_f32), 0, AG_BUF(cols, PLANE_COLS), AG_NOBUF, AG_BUF(x, PLANE_IN),
                      AG_GEOM_ARGS);
}
int ag_col2im_f64(const double *cols, double *x, AG_GEOM_PARAMS)
{
    return run_planes(PLANE_FN(col2im_f64), 0, AG_BUF(cols, PLANE_COLS), AG_NOBUF, AG_BUF(x, PLANE_IN),
                      AG_GEOM_ARGS);
}

/* ------------------------------------------------------------------ per-channel bias */

/* A convolution's bias: added to every element of its output channel, and its gradient, the
 * sum of the output gradient over images and positions. Both are a pass over the whole output
 * (5.5 MB for the seeds' first conv layer at batch 64), which numpy makes on one thread. */

#define CHANNEL_PARALLEL_MIN ((int64_t)1 << 15)
#define CHANNEL_BLOCK 2048  /* elements per block of the sum: 24 KB of stack for float */

static int check_channels(const void *x, const void *bias, int64_t n, int64_t c, int64_t hw)
{
    if (n < 0 || c < 0 || hw < 0)
        return AG_ERR_SIZE;
    if ((n && hw && c > AG_CONV_MAX_ELEMS / n / hw))
        return AG_ERR_SIZE;
    if (n * c * hw > 0 && (!x || !bias))
        return AG_ERR_NULL;
    return AG_OK;
}

static int channel_threads(int64_t elems, int64_t tasks)
{
    return elems >= CHANNEL_PARALLEL_MIN && tasks > 1 ? ag_get_num_threads() : 1;
}

struct channel_args {
    void *x;      /* x, or g */
    void *other;  /* bias, or out */
    int64_t n, c, hw, group;
};

#define DEFINE_CHANNEL_FNS(T, SUFFIX)                                                           \
    /* Rows [lo, hi) of x (n * c of hw), each plus its channel's bias. */                       \
    static void add_bias_rows_##SUFFIX(const void *args, int64_t lo, int64_t hi)                \
    {                                                                                           \
        const struct channel_args *s = args;                                                    \
        T *x = s->x;                                                                            \
        const T *bias = s->other;                                                               \
        for (int64_t p = lo; p < hi; p++) {                                                     \
            T *restrict row = x + p * s->hw;                                                    \
            const T b = bias[p % s->c];                                                         \
            for (int64_t t = 0; t < s->hw; t++)                                                 \
                row[t] += b;                                                                    \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    int ag_add_channel_bias_##SUFFIX(T *x, const T *bias, int64_t n, int64_t c, int64_t hw)     \
    {                                                                                           \
        const int status = check_channels(x, bias, n, c, hw);                                   \
        if (status != AG_OK || n * c * hw == 0)                                                 \
            return status;                                                                      \
        const struct channel_args args = {x, (void *)bias, n, c, hw, 0};                         \
        ag_run_spans(add_bias_rows_##SUFFIX, &args, n * c, channel_threads(n * c * hw, n * c), 1); \
        return AG_OK;                                                                           \
    }                                                                                           \
                                                                                                \
    /* Channel groups [lo, hi) of the sum below. */                                             \
    static void channel_sum_groups_##SUFFIX(const void *args, int64_t lo, int64_t hi)           \
    {                                                                                           \
        const struct channel_args *s = args;                                                    \
        const T *g = s->x;                                                                      \
        T *out = s->other;                                                                      \
        const int64_t n = s->n, c = s->c, hw = s->hw, group = s->group;                         \
        for (int64_t gi = lo; gi < hi; gi++) {                                                  \
            const int64_t c0 = gi * group, nc = c - c0 < group ? c - c0 : group, run = nc * hw; \
            T buf[CHANNEL_BLOCK];                                                               \
            double total[CHANNEL_BLOCK];                                                        \
            memset(total, 0, (size_t)nc * sizeof(double));                                      \
            for (int64_t t0 = 0; t0 < run; t0 += CHANNEL_BLOCK) {                               \
                const int64_t len = run - t0 < CHANNEL_BLOCK ? run - t0 : CHANNEL_BLOCK;        \
                memcpy(buf, g + c0 * hw + t0, (size_t)len * sizeof(T));                         \
                for (int64_t i = 1; i < n; i++) {                                               \
                    const T *restrict row = g + (i * c + c0) * hw + t0;                         \
                    for (int64_t t = 0; t < len; t++)                                           \
                        buf[t] += row[t];                                                       \
                }                                                                               \
                for (int64_t s0 = 0; s0 < len;) {  /* the part of each channel in this block */ \
                    const int64_t local = (t0 + s0) / hw;                                       \
                    const int64_t end = (local + 1) * hw - t0 < len ? (local + 1) * hw - t0 : len; \
                    T acc[16] = {0};                                                            \
                    int64_t t = s0;                                                             \
                    for (; t + 16 <= end; t += 16)                                              \
                        for (int l = 0; l < 16; l++)                                            \
                            acc[l] += buf[t + l];                                               \
                    for (int l = 0; t + l < end; l++)                                           \
                        acc[l] += buf[t + l];                                                   \
                    for (int l = 0; l < 16; l++)                                                \
                        total[local] += (double)acc[l];                                         \
                    s0 = end;                                                                   \
                }                                                                               \
            }                                                                                   \
            for (int64_t j = 0; j < nc; j++)                                                    \
                out[c0 + j] = (T)total[j];                                                      \
        }                                                                                       \
    }                                                                                           \
                                                                                                \
    /* Channels in groups whose planes make a run of at most CHANNEL_BLOCK elements in each     \
     * image; a group's runs summed over the images as whole rows (long vectorised adds, numpy's \
     * sum over axis 0), then each channel's part in 16 interleaved partials, in double across  \
     * blocks of a plane longer than that. A fixed order: the same bits for any thread count. */ \
    int ag_channel_sum_##SUFFIX(const T *g, T *out, int64_t n, int64_t c, int64_t hw)           \
    {                                                                                           \
        const int status = check_channels(g, out, n, c, hw);                                    \
        if (status != AG_OK || c == 0)                                                          \
            return status;                                                                      \
        if (n * hw == 0) {                                                                      \
            memset(out, 0, (size_t)c * sizeof(T));                                              \
            return AG_OK;                                                                       \
        }                                                                                       \
        const int64_t group = hw >= CHANNEL_BLOCK ? 1 : CHANNEL_BLOCK / hw;                     \
        const int64_t groups = (c + group - 1) / group;                                         \
        const struct channel_args args = {(void *)g, out, n, c, hw, group};                     \
        ag_run_spans(channel_sum_groups_##SUFFIX, &args, groups, channel_threads(n * c * hw, groups), 1); \
        return AG_OK;                                                                           \
    }

DEFINE_CHANNEL_FNS(float, f32)
DEFINE_CHANNEL_FNS(double, f64)
