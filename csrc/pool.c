/* pool.c: max pooling (with argmax indices) and average pooling, forward and backward,
 * float32/float64, over NCHW planes; geometry checks and threading in ag_conv.h.
 *
 * max_pool2d keeps each window's first maximum, or its first NaN (numpy's argmax), and records
 * its offset ih * w + iw in the plane; padding never wins. Its backward scatter-adds by that
 * index in output order, one thread per plane. avg_pool2d divides by kh * kw
 * (count_include_pad) and sums a window in (i, j) order; its backward uses col2im's order.
 * Both orders match the numpy reference.
 *
 * No explicit SIMD or run-time ISA dispatch in this family yet: the inner loops are unit-stride
 * copies, zero fills and axpy updates that gcc -O3 vectorises for the baseline ISA, and what
 * costs time at a small CNN's sizes is per-row overhead on short rows (3 to 26 elements), which
 * wider vectors do not remove. (The kernels' tests still run under every ISA cap.)
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
                float *dst = gx + ih * g->w;  /* output column k adds to column k sw + off */
                const int64_t off = j - g->pw;
                for (int64_t k = lo; k < hi; k++)
                    dst[k * g->sw + off] += src[k] / count;
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
                double *dst = gx + ih * g->w;  /* output column k adds to column k sw + off */
                const int64_t off = j - g->pw;
                for (int64_t k = lo; k < hi; k++)
                    dst[k * g->sw + off] += src[k] / count;
            }
        }
    }
}

/* ------------------------------------------------------------------ exports */

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
