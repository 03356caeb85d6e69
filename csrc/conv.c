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
 * No explicit SIMD or run-time ISA dispatch in this family yet: the inner loops are unit-stride
 * copies, zero fills and axpy updates that gcc -O3 vectorises for the baseline ISA, and what
 * costs time at a small CNN's sizes is per-row overhead on short rows (3 to 26 elements), which
 * wider vectors do not remove. (The kernels' tests still run under every ISA cap.)
 */
#include "ag_conv.h"

#include <string.h>

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
                float *dst = x + ih * g->w;  /* output column k adds to column k sw + off */
                const int64_t off = j - g->pw;
                if (g->sw == 1) {  /* unit stride: a vectorisable axpy */
                    for (int64_t k = lo; k < hi; k++)
                        dst[k + off] += src[k];
                } else {
                    for (int64_t k = lo; k < hi; k++)
                        dst[k * g->sw + off] += src[k];
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
                double *dst = x + ih * g->w;  /* output column k adds to column k sw + off */
                const int64_t off = j - g->pw;
                if (g->sw == 1) {  /* unit stride: a vectorisable axpy */
                    for (int64_t k = lo; k < hi; k++)
                        dst[k + off] += src[k];
                } else {
                    for (int64_t k = lo; k < hi; k++)
                        dst[k * g->sw + off] += src[k];
                }
            }
        }
    }
}

/* ------------------------------------------------------------------ exports */

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
