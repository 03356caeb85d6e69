/* conv.c: im2col / col2im for convolution, max and average pooling, float32 and float64.
 *
 * Layout: NCHW input, one "plane" is one (image, channel) pair of h x w elements. Every kernel
 * runs one plane at a time and a plane is written by exactly one thread, with a fixed order of
 * additions inside it: no atomics, no racing accumulation, and results that are bitwise
 * identical for any thread count. Planes are shared out with a static OpenMP schedule.
 *
 * cols (im2col's output, col2im's input) is (n, c * kh * kw, oh * ow), row-major: row
 * (ci * kh + i) * kw + j of image n holds input element (oh * sh - ph + i, ow * sw - pw + j) of
 * channel ci for every output position, zero where that falls in the padding. That is the
 * layout `weight.reshape(out, c * kh * kw) @ cols[n]` needs to give NCHW output directly.
 *
 * Summation orders match the numpy reference (backend/_numpy.py): kernel offsets (i, j)
 * outermost, output positions inside; pooling sums a window in (i, j) order.
 *
 * No explicit SIMD here: the inner loops are unit-stride copies, zero fills and axpy-like
 * updates that gcc -O3 vectorises for the baseline ISA; the arithmetic per byte moved is too low
 * for AVX-512 to pay over that (measured: these kernels run at memory speed).
 */
#include "ag_kernels.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Below this many element visits (planes x output positions x window) one thread does it all:
 * a fork/join costs ~1-2 us, about what 32k visits take. */
#define AG_CONV_PARALLEL_MIN (1 << 15)
#define AG_CONV_MAX_ELEMS ((int64_t)1 << 56)

struct geom {
    int64_t planes;          /* n * c */
    int64_t h, w;            /* input plane */
    int64_t kh, kw, sh, sw, ph, pw;
    int64_t oh, ow;          /* output plane */
};

/* a * b, or -1 when either is negative or the product exceeds AG_CONV_MAX_ELEMS. */
static int64_t mul_checked(int64_t a, int64_t b)
{
    if (a < 0 || b < 0)
        return -1;
    if (a != 0 && b > AG_CONV_MAX_ELEMS / a)
        return -1;
    return a * b;
}

/* Validates sizes against PyTorch's floor-mode output size, which the caller must pass. */
static int make_geom(struct geom *g, int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh,
                     int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t oh,
                     int64_t ow)
{
    if (n < 0 || c < 0 || h < 0 || w < 0)
        return AG_ERR_SIZE;
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0)
        return AG_ERR_ARG;
    if (h > AG_CONV_MAX_ELEMS || w > AG_CONV_MAX_ELEMS || kh > h + 2 * ph || kw > w + 2 * pw)
        return AG_ERR_ARG;
    if (oh != (h + 2 * ph - kh) / sh + 1 || ow != (w + 2 * pw - kw) / sw + 1)
        return AG_ERR_ARG;
    g->planes = mul_checked(n, c);
    const int64_t plane = mul_checked(h, w), out = mul_checked(oh, ow);
    const int64_t win = mul_checked(kh, kw);
    if (g->planes < 0 || mul_checked(g->planes, plane) < 0 || win < 0 || out < 0 ||
        mul_checked(mul_checked(g->planes, win), out) < 0)
        return AG_ERR_SIZE;
    g->h = h, g->w = w, g->kh = kh, g->kw = kw, g->sh = sh, g->sw = sw;
    g->ph = ph, g->pw = pw, g->oh = oh, g->ow = ow;
    return AG_OK;
}

/* Pooling also needs every window to hold at least one input element (PyTorch: pad <= k / 2). */
static int make_pool_geom(struct geom *g, int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                          int64_t oh, int64_t ow)
{
    int status = make_geom(g, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow);
    if (status == AG_OK && (2 * ph > kh || 2 * pw > kw || h < 1 || w < 1))
        status = AG_ERR_ARG;
    return status;
}

static int use_threads(const struct geom *g)
{
    const int64_t work = g->planes * g->oh * g->ow * g->kh * g->kw;
    const int threads = ag_get_num_threads();
    return work >= AG_CONV_PARALLEL_MIN && g->planes > 1 ? threads : 1;
}

/* The output columns ow whose input column ow * sw - pw + j lies in [0, w): [*lo, *hi). */
static void valid_range(int64_t j, int64_t sw, int64_t pw, int64_t w, int64_t ow, int64_t *lo,
                        int64_t *hi)
{
    const int64_t first = pw - j > 0 ? (pw - j + sw - 1) / sw : 0;
    const int64_t last = w - 1 + pw - j >= 0 ? (w - 1 + pw - j) / sw + 1 : 0;
    *lo = first < ow ? first : ow;
    *hi = last < ow ? last : ow;
    if (*hi < *lo)
        *hi = *lo;
}

/* ------------------------------------------------------------------ im2col / col2im */

/* One plane of x into its kh * kw rows of cols (each oh * ow long). Plain loops rather than
 * memcpy/memset: rows are often a few elements long (3 to 26 in a small CNN), where the calls
 * cost more than the copy; gcc vectorises the unit-stride loops. */
static void im2col_plane_f32(const float *restrict x, float *restrict col, const struct geom *g)
{
    const int64_t ow = g->ow, sw = g->sw;
    for (int64_t i = 0; i < g->kh; i++) {
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t lo, hi;
            valid_range(j, sw, g->pw, g->w, ow, &lo, &hi);
            for (int64_t r = 0; r < g->oh; r++) {
                float *dst = col + ((i * g->kw + j) * g->oh + r) * ow;
                const int64_t ih = r * g->sh - g->ph + i;
                if (ih < 0 || ih >= g->h) {
                    for (int64_t k = 0; k < ow; k++)
                        dst[k] = 0.0f;
                    continue;
                }
                const float *row = x + ih * g->w;
                const int64_t off = j - g->pw;  /* input column of output column k: k sw + off */
                for (int64_t k = 0; k < lo; k++)
                    dst[k] = 0.0f;
                if (sw == 1) {
                    for (int64_t k = lo; k < hi; k++)
                        dst[k] = row[k + off];
                } else {
                    for (int64_t k = lo; k < hi; k++)
                        dst[k] = row[k * sw + off];
                }
                for (int64_t k = hi; k < ow; k++)
                    dst[k] = 0.0f;
            }
        }
    }
}

static void im2col_plane_f64(const double *restrict x, double *restrict col,
                             const struct geom *g)
{
    const int64_t ow = g->ow, sw = g->sw;
    for (int64_t i = 0; i < g->kh; i++) {
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t lo, hi;
            valid_range(j, sw, g->pw, g->w, ow, &lo, &hi);
            for (int64_t r = 0; r < g->oh; r++) {
                double *dst = col + ((i * g->kw + j) * g->oh + r) * ow;
                const int64_t ih = r * g->sh - g->ph + i;
                if (ih < 0 || ih >= g->h) {
                    for (int64_t k = 0; k < ow; k++)
                        dst[k] = 0.0;
                    continue;
                }
                const double *row = x + ih * g->w;
                const int64_t off = j - g->pw;  /* input column of output column k: k sw + off */
                for (int64_t k = 0; k < lo; k++)
                    dst[k] = 0.0;
                if (sw == 1) {
                    for (int64_t k = lo; k < hi; k++)
                        dst[k] = row[k + off];
                } else {
                    for (int64_t k = lo; k < hi; k++)
                        dst[k] = row[k * sw + off];
                }
                for (int64_t k = hi; k < ow; k++)
                    dst[k] = 0.0;
            }
        }
    }
}

/* x[plane] = sum over (i, j), in that order, of the cols rows scattered back. */
static void col2im_plane_f32(const float *restrict col, float *restrict x, const struct geom *g)
{
    memset(x, 0, (size_t)(g->h * g->w) * sizeof *x);
    for (int64_t i = 0; i < g->kh; i++) {
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t lo, hi;
            valid_range(j, g->sw, g->pw, g->w, g->ow, &lo, &hi);
            for (int64_t r = 0; r < g->oh; r++) {
                const int64_t ih = r * g->sh - g->ph + i;
                if (ih < 0 || ih >= g->h)
                    continue;
                const float *src = col + ((i * g->kw + j) * g->oh + r) * g->ow;
                float *dst = x + ih * g->w - g->pw + j;
                if (g->sw == 1) {  /* unit stride: a vectorisable axpy */
                    for (int64_t k = lo; k < hi; k++)
                        dst[k] += src[k];
                } else {
                    for (int64_t k = lo; k < hi; k++)
                        dst[k * g->sw] += src[k];
                }
            }
        }
    }
}

static void col2im_plane_f64(const double *restrict col, double *restrict x,
                             const struct geom *g)
{
    memset(x, 0, (size_t)(g->h * g->w) * sizeof *x);
    for (int64_t i = 0; i < g->kh; i++) {
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t lo, hi;
            valid_range(j, g->sw, g->pw, g->w, g->ow, &lo, &hi);
            for (int64_t r = 0; r < g->oh; r++) {
                const int64_t ih = r * g->sh - g->ph + i;
                if (ih < 0 || ih >= g->h)
                    continue;
                const double *src = col + ((i * g->kw + j) * g->oh + r) * g->ow;
                double *dst = x + ih * g->w - g->pw + j;
                if (g->sw == 1) {  /* unit stride: a vectorisable axpy */
                    for (int64_t k = lo; k < hi; k++)
                        dst[k] += src[k];
                } else {
                    for (int64_t k = lo; k < hi; k++)
                        dst[k * g->sw] += src[k];
                }
            }
        }
    }
}

/* ------------------------------------------------------------------ pooling */

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

/* A 2 x 2 window entirely inside the plane (the common max_pool2d(x, 2)): the same rule as the
 * general loop below, written as bit selects so that no jump depends on the data: on real data
 * the comparisons are unpredictable, and mispredicted jumps made this kernel 2-3x slower. */
static inline void max4_f32(const float *r0, const float *r1, int64_t at, int64_t w, float *out,
                            int64_t *idx)
{
    const float v[4] = {r0[0], r0[1], r1[0], r1[1]};
    const int64_t where[4] = {at, at + 1, at + w, at + w + 1};
    float best = v[0];
    int64_t arg = where[0];
    for (int k = 1; k < 4; k++) {
        const uint32_t take = (uint32_t)AG_TAKES_BITS(v[k], best);
        uint32_t b, c;
        memcpy(&b, &best, sizeof b);
        memcpy(&c, &v[k], sizeof c);
        b ^= (b ^ c) & (0 - take);  /* all ones when taken */
        memcpy(&best, &b, sizeof b);
        arg ^= (arg ^ where[k]) & (0 - (int64_t)take);
    }
    *out = best;
    *idx = arg;
}

static inline void max4_f64(const double *r0, const double *r1, int64_t at, int64_t w,
                            double *out, int64_t *idx)
{
    const double v[4] = {r0[0], r0[1], r1[0], r1[1]};
    const int64_t where[4] = {at, at + 1, at + w, at + w + 1};
    double best = v[0];
    int64_t arg = where[0];
    for (int k = 1; k < 4; k++) {
        const uint64_t take = (uint64_t)AG_TAKES_BITS(v[k], best);
        uint64_t b, c;
        memcpy(&b, &best, sizeof b);
        memcpy(&c, &v[k], sizeof c);
        b ^= (b ^ c) & (0 - take);  /* all ones when taken */
        memcpy(&best, &b, sizeof b);
        arg ^= (arg ^ where[k]) & (0 - (int64_t)take);
    }
    *out = best;
    *idx = arg;
}

static void max_pool_plane_f32(const float *x, float *out, int64_t *idx, const struct geom *g)
{
    for (int64_t r = 0; r < g->oh; r++) {
        for (int64_t q = 0; q < g->ow; q++) {
            AG_POOL_WINDOW_BOUNDS;
            if (i_lo == 0 && j_lo == 0 && i_hi == 2 && j_hi == 2 && g->kh == 2 && g->kw == 2) {
                const float *top = x + ih0 * g->w + iw0;
                max4_f32(top, top + g->w, ih0 * g->w + iw0, g->w, out + r * g->ow + q,
                         idx + r * g->ow + q);
                continue;
            }
            float best = 0.0f;
            int64_t arg = -1;
            for (int64_t i = i_lo; i < i_hi; i++) {
                const float *row = x + (ih0 + i) * g->w + iw0;
                for (int64_t j = j_lo; j < j_hi; j++) {
                    const float v = row[j];
                    if (arg < 0 || AG_TAKES(v, best)) {
                        best = v;
                        arg = (ih0 + i) * g->w + iw0 + j;
                    }
                }
            }
            out[r * g->ow + q] = best;
            idx[r * g->ow + q] = arg;
        }
    }
}

static void max_pool_plane_f64(const double *x, double *out, int64_t *idx, const struct geom *g)
{
    for (int64_t r = 0; r < g->oh; r++) {
        for (int64_t q = 0; q < g->ow; q++) {
            AG_POOL_WINDOW_BOUNDS;
            if (i_lo == 0 && j_lo == 0 && i_hi == 2 && j_hi == 2 && g->kh == 2 && g->kw == 2) {
                const double *top = x + ih0 * g->w + iw0;
                max4_f64(top, top + g->w, ih0 * g->w + iw0, g->w, out + r * g->ow + q,
                         idx + r * g->ow + q);
                continue;
            }
            double best = 0.0;
            int64_t arg = -1;
            for (int64_t i = i_lo; i < i_hi; i++) {
                const double *row = x + (ih0 + i) * g->w + iw0;
                for (int64_t j = j_lo; j < j_hi; j++) {
                    const double v = row[j];
                    if (arg < 0 || AG_TAKES(v, best)) {
                        best = v;
                        arg = (ih0 + i) * g->w + iw0 + j;
                    }
                }
            }
            out[r * g->ow + q] = best;
            idx[r * g->ow + q] = arg;
        }
    }
}

/* Scatter-add by index, in output order; returns 1 if an index is outside the plane. */
static int max_unpool_plane_f32(const float *gy, const int64_t *idx, float *gx,
                                const struct geom *g)
{
    const int64_t size = g->h * g->w, n = g->oh * g->ow;
    memset(gx, 0, (size_t)size * sizeof *gx);
    for (int64_t k = 0; k < n; k++) {
        if (idx[k] < 0 || idx[k] >= size)
            return 1;
        gx[idx[k]] += gy[k];
    }
    return 0;
}

static int max_unpool_plane_f64(const double *gy, const int64_t *idx, double *gx,
                                const struct geom *g)
{
    const int64_t size = g->h * g->w, n = g->oh * g->ow;
    memset(gx, 0, (size_t)size * sizeof *gx);
    for (int64_t k = 0; k < n; k++) {
        if (idx[k] < 0 || idx[k] >= size)
            return 1;
        gx[idx[k]] += gy[k];
    }
    return 0;
}

/* count_include_pad: the divisor is kh * kw (in floor mode no window leaves the padded input);
 * the window is summed in (i, j) order, padding contributing nothing. */
static void avg_pool_plane_f32(const float *x, float *out, const struct geom *g)
{
    const float count = (float)(g->kh * g->kw);
    for (int64_t r = 0; r < g->oh; r++) {
        for (int64_t q = 0; q < g->ow; q++) {
            AG_POOL_WINDOW_BOUNDS;
            float acc = 0.0f;
            for (int64_t i = i_lo; i < i_hi; i++)
                for (int64_t j = j_lo; j < j_hi; j++)
                    acc += x[(ih0 + i) * g->w + iw0 + j];
            out[r * g->ow + q] = acc / count;
        }
    }
}

static void avg_pool_plane_f64(const double *x, double *out, const struct geom *g)
{
    const double count = (double)(g->kh * g->kw);
    for (int64_t r = 0; r < g->oh; r++) {
        for (int64_t q = 0; q < g->ow; q++) {
            AG_POOL_WINDOW_BOUNDS;
            double acc = 0.0;
            for (int64_t i = i_lo; i < i_hi; i++)
                for (int64_t j = j_lo; j < j_hi; j++)
                    acc += x[(ih0 + i) * g->w + iw0 + j];
            out[r * g->ow + q] = acc / count;
        }
    }
}

/* gx = col2im of gy / (kh * kw) repeated over the window: the same loop order as col2im. */
static void avg_unpool_plane_f32(const float *restrict gy, float *restrict gx,
                                 const struct geom *g)
{
    const float count = (float)(g->kh * g->kw);
    memset(gx, 0, (size_t)(g->h * g->w) * sizeof *gx);
    for (int64_t i = 0; i < g->kh; i++) {
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t lo, hi;
            valid_range(j, g->sw, g->pw, g->w, g->ow, &lo, &hi);
            for (int64_t r = 0; r < g->oh; r++) {
                const int64_t ih = r * g->sh - g->ph + i;
                if (ih < 0 || ih >= g->h)
                    continue;
                const float *src = gy + r * g->ow;
                float *dst = gx + ih * g->w - g->pw + j;
                for (int64_t k = lo; k < hi; k++)
                    dst[k * g->sw] += src[k] / count;
            }
        }
    }
}

static void avg_unpool_plane_f64(const double *restrict gy, double *restrict gx,
                                 const struct geom *g)
{
    const double count = (double)(g->kh * g->kw);
    memset(gx, 0, (size_t)(g->h * g->w) * sizeof *gx);
    for (int64_t i = 0; i < g->kh; i++) {
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t lo, hi;
            valid_range(j, g->sw, g->pw, g->w, g->ow, &lo, &hi);
            for (int64_t r = 0; r < g->oh; r++) {
                const int64_t ih = r * g->sh - g->ph + i;
                if (ih < 0 || ih >= g->h)
                    continue;
                const double *src = gy + r * g->ow;
                double *dst = gx + ih * g->w - g->pw + j;
                for (int64_t k = lo; k < hi; k++)
                    dst[k * g->sw] += src[k] / count;
            }
        }
    }
}

/* ------------------------------------------------------------------ exports */

#define AG_GEOM_ARGS n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow
#define AG_GEOM_PARAMS                                                                     \
    int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh,        \
        int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow

/* Runs body(p) for every plane p, threaded; `status` must be AG_OK on entry. */
#define AG_FOR_PLANES(g, body)                                                             \
    do {                                                                                   \
        _Pragma("omp parallel for num_threads(use_threads(&g)) schedule(static)")          \
        for (int64_t p = 0; p < g.planes; p++) {                                           \
            body;                                                                          \
        }                                                                                  \
    } while (0)

int ag_im2col_f32(const float *x, float *cols, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0)
        return status;
    if (!x || !cols)
        return AG_ERR_NULL;
    const int64_t xs = h * w, cs = kh * kw * oh * ow;
    AG_FOR_PLANES(g, im2col_plane_f32(x + p * xs, cols + p * cs, &g));
    return AG_OK;
}

int ag_im2col_f64(const double *x, double *cols, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0)
        return status;
    if (!x || !cols)
        return AG_ERR_NULL;
    const int64_t xs = h * w, cs = kh * kw * oh * ow;
    AG_FOR_PLANES(g, im2col_plane_f64(x + p * xs, cols + p * cs, &g));
    return AG_OK;
}

int ag_col2im_f32(const float *cols, float *x, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0 || h * w == 0)
        return status;
    if (!cols || !x)
        return AG_ERR_NULL;
    const int64_t cstride = kh * kw * oh * ow, xstride = h * w;
    AG_FOR_PLANES(g, col2im_plane_f32(cols + p * cstride, x + p * xstride, &g));
    return AG_OK;
}

int ag_col2im_f64(const double *cols, double *x, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0 || h * w == 0)
        return status;
    if (!cols || !x)
        return AG_ERR_NULL;
    const int64_t cstride = kh * kw * oh * ow, xstride = h * w;
    AG_FOR_PLANES(g, col2im_plane_f64(cols + p * cstride, x + p * xstride, &g));
    return AG_OK;
}

int ag_max_pool2d_f32(const float *x, float *out, int64_t *idx, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_pool_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0)
        return status;
    if (!x || !out || !idx)
        return AG_ERR_NULL;
    const int64_t xs = h * w, os = oh * ow;
    AG_FOR_PLANES(g, max_pool_plane_f32(x + p * xs, out + p * os, idx + p * os, &g));
    return AG_OK;
}

int ag_max_pool2d_f64(const double *x, double *out, int64_t *idx, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_pool_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0)
        return status;
    if (!x || !out || !idx)
        return AG_ERR_NULL;
    const int64_t xs = h * w, os = oh * ow;
    AG_FOR_PLANES(g, max_pool_plane_f64(x + p * xs, out + p * os, idx + p * os, &g));
    return AG_OK;
}

int ag_max_pool2d_backward_f32(const float *gy, const int64_t *idx, float *gx, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_pool_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0)
        return status;
    if (!gy || !idx || !gx)
        return AG_ERR_NULL;
    const int64_t xs = h * w, os = oh * ow;
    int bad = 0;
#pragma omp parallel for num_threads(use_threads(&g)) schedule(static) reduction(| : bad)
    for (int64_t p = 0; p < g.planes; p++)
        bad |= max_unpool_plane_f32(gy + p * os, idx + p * os, gx + p * xs, &g);
    return bad ? AG_ERR_ARG : AG_OK;
}

int ag_max_pool2d_backward_f64(const double *gy, const int64_t *idx, double *gx,
                               AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_pool_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0)
        return status;
    if (!gy || !idx || !gx)
        return AG_ERR_NULL;
    const int64_t xs = h * w, os = oh * ow;
    int bad = 0;
#pragma omp parallel for num_threads(use_threads(&g)) schedule(static) reduction(| : bad)
    for (int64_t p = 0; p < g.planes; p++)
        bad |= max_unpool_plane_f64(gy + p * os, idx + p * os, gx + p * xs, &g);
    return bad ? AG_ERR_ARG : AG_OK;
}

int ag_avg_pool2d_f32(const float *x, float *out, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_pool_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0)
        return status;
    if (!x || !out)
        return AG_ERR_NULL;
    const int64_t xs = h * w, os = oh * ow;
    AG_FOR_PLANES(g, avg_pool_plane_f32(x + p * xs, out + p * os, &g));
    return AG_OK;
}

int ag_avg_pool2d_f64(const double *x, double *out, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_pool_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0)
        return status;
    if (!x || !out)
        return AG_ERR_NULL;
    const int64_t xs = h * w, os = oh * ow;
    AG_FOR_PLANES(g, avg_pool_plane_f64(x + p * xs, out + p * os, &g));
    return AG_OK;
}

int ag_avg_pool2d_backward_f32(const float *gy, float *gx, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_pool_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0)
        return status;
    if (!gy || !gx)
        return AG_ERR_NULL;
    const int64_t xs = h * w, os = oh * ow;
    AG_FOR_PLANES(g, avg_unpool_plane_f32(gy + p * os, gx + p * xs, &g));
    return AG_OK;
}

int ag_avg_pool2d_backward_f64(const double *gy, double *gx, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = make_pool_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0)
        return status;
    if (!gy || !gx)
        return AG_ERR_NULL;
    const int64_t xs = h * w, os = oh * ow;
    AG_FOR_PLANES(g, avg_unpool_plane_f64(gy + p * os, gx + p * xs, &g));
    return AG_OK;
}
