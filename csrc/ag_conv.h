/* ag_conv.h: internal to csrc/ (not part of the cffi cdef), shared by conv.c and pool.c.
 *
 * The geometry of a window sliding over NCHW planes, its validation against PyTorch's
 * floor-mode output size (the caller sizes buffers from that, so a mismatch is refused), the
 * thread count for a call, and the plane loop: every kernel runs one (image, channel) plane
 * at a time, each plane written by exactly one thread in a fixed order, so results are
 * bitwise identical for any thread count. Planes are shared out with a static schedule.
 */
#ifndef AG_CONV_H
#define AG_CONV_H

#include "ag_kernels.h"
#include "ag_simd.h"
#include "ag_spans.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define AG_CONV_PARALLEL_MIN (1 << 15)
#define AG_CONV_MAX_ELEMS ((int64_t)1 << 56)

struct geom {
    int64_t planes;          /* n * c */
    int64_t n, c;
    int64_t h, w;            /* input plane */
    int64_t kh, kw, sh, sw, ph, pw;
    int64_t oh, ow;          /* output plane */
    int64_t cols_row;        /* elements between rows of cols: oh * ow, or n * oh * ow when
                                batch-major (PLANE_COLS_BM) */
};

/* a * b, or -1 when either is negative or the product exceeds AG_CONV_MAX_ELEMS. */
static inline int64_t mul_checked(int64_t a, int64_t b)
{
    if (a < 0 || b < 0)
        return -1;
    if (a != 0 && b > AG_CONV_MAX_ELEMS / a)
        return -1;
    return a * b;
}

/* Validates sizes against PyTorch's floor-mode output size, which the caller must pass. */
static inline int make_geom(struct geom *g, int64_t n, int64_t c, int64_t h, int64_t w,
                            int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                            int64_t pw, int64_t oh, int64_t ow)
{
    if (n < 0 || c < 0 || h < 0 || w < 0)
        return AG_ERR_SIZE;
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || ph < 0 || pw < 0)
        return AG_ERR_ARG;
    const int64_t big = AG_CONV_MAX_ELEMS;  /* keeps h + 2 * ph and the like from overflowing */
    if (h > big || w > big || kh > big || kw > big || sh > big || sw > big || ph > big ||
        pw > big || kh > h + 2 * ph || kw > w + 2 * pw)
        return AG_ERR_ARG;
    if (oh != (h + 2 * ph - kh) / sh + 1 || ow != (w + 2 * pw - kw) / sw + 1)
        return AG_ERR_ARG;
    g->planes = mul_checked(n, c);
    const int64_t plane = mul_checked(h, w), out = mul_checked(oh, ow);
    const int64_t win = mul_checked(kh, kw);
    if (g->planes < 0 || mul_checked(g->planes, plane) < 0 || win < 0 || out < 0 ||
        mul_checked(mul_checked(g->planes, win), out) < 0)
        return AG_ERR_SIZE;
    g->n = n, g->c = c, g->h = h, g->w = w, g->kh = kh, g->kw = kw, g->sh = sh, g->sw = sw;
    g->ph = ph, g->pw = pw, g->oh = oh, g->ow = ow, g->cols_row = out;
    return AG_OK;
}

/* Pooling also needs every window to hold at least one input element (PyTorch: pad <= k / 2). */
static inline int make_pool_geom(struct geom *g, int64_t n, int64_t c, int64_t h, int64_t w,
                                 int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                                 int64_t pw, int64_t oh, int64_t ow)
{
    int status = make_geom(g, n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow);
    if (status == AG_OK && (2 * ph > kh || 2 * pw > kw || h < 1 || w < 1))
        status = AG_ERR_ARG;
    return status;
}

/* 2 x 2 windows at stride 2 without padding (max_pool2d(x, 2)): in floor mode every window lies
 * inside the plane and none overlaps another, which the pooling kernels' fast rows rely on. */
static inline int pool_2x2(const struct geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->sh == 2 && g->sw == 2 && g->ph == 0 && g->pw == 0;
}

static inline int use_threads(const struct geom *g)
{
    const int64_t work = g->planes * g->oh * g->ow * g->kh * g->kw;
    const int threads = ag_get_num_threads();
    return work >= AG_CONV_PARALLEL_MIN && g->planes > 1 ? threads : 1;
}

/* The output columns ow whose input column ow * sw - pw + j lies in [0, w): [*lo, *hi). */
static inline void valid_range(int64_t j, int64_t sw, int64_t pw, int64_t w, int64_t ow,
                               int64_t *lo, int64_t *hi)
{
    const int64_t first = pw - j > 0 ? (pw - j + sw - 1) / sw : 0;
    const int64_t last = w - 1 + pw - j >= 0 ? (w - 1 + pw - j) / sw + 1 : 0;
    *lo = first < ow ? first : ow;
    *hi = last < ow ? last : ow;
    if (*hi < *lo)
        *hi = *lo;
}

#define AG_GEOM_ARGS n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow
#define AG_GEOM_PARAMS                                                                     \
    int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t sh,        \
        int64_t sw, int64_t ph, int64_t pw, int64_t oh, int64_t ow

/* The per-plane length of a buffer, in elements: -, h w, oh ow, kh kw oh ow. PLANE_COLS_BM is
 * cols batch-major, (c kh kw, n oh ow): plane (image i, channel ci) owns rows ci kh kw.. of it,
 * columns i oh ow.. (so one GEMM over the whole batch reads it as it is). */
enum plane_len { PLANE_NONE, PLANE_IN, PLANE_OUT, PLANE_COLS, PLANE_COLS_BM };

/* One of a call's buffers: its pointer, per-plane length and element size. */
struct plane_buf {
    const void *ptr;
    enum plane_len len;
    size_t es;
};

#define AG_BUF(p, len) ((struct plane_buf){(p), (len), sizeof *(p)})
#define AG_NOBUF ((struct plane_buf){NULL, PLANE_NONE, 0})

/* One plane's work on its slices of the call's buffers (each kernel says which is which; the
 * inputs are never written). Returns nonzero if the input is invalid (an index out of range). */
typedef int (*plane_fn)(void *const buf[3], const struct geom *g);

static inline int64_t plane_elems(const struct geom *g, enum plane_len len)
{
    switch (len) {
    case PLANE_IN: return g->h * g->w;
    case PLANE_OUT: return g->oh * g->ow;
    case PLANE_COLS:
    case PLANE_COLS_BM: return g->kh * g->kw * g->oh * g->ow;
    default: return 0;
    }
}

struct planes_task {
    plane_fn fn;
    const struct geom *g;
    struct plane_buf bufs[3];
    int64_t stride[3];  /* bytes from one plane to the next */
    int batch_major;
    _Atomic int bad;
};

/* Planes [lo, hi) in the order (outer, inner): images then channels, or channels then images
 * for batch-major cols. The index is split once, then stepped: four 64-bit divisions per plane
 * cost more than a 5 x 5 plane's copy. */
static void run_plane_span(const void *ctx, int64_t lo, int64_t hi)
{
    struct planes_task *s = (struct planes_task *)ctx;
    const struct geom *g = s->g;
    const int64_t inner = s->batch_major ? g->n : g->c;
    int64_t o = lo / inner, i = lo % inner;
    int bad = 0;
    for (int64_t q = lo; q < hi; q++) {
        const int64_t img = s->batch_major ? i : o, ch = s->batch_major ? o : i, p = img * g->c + ch;
        void *slice[3];
        for (int k = 0; k < 3; k++) {
            char *base = (char *)s->bufs[k].ptr;
            if (!base)
                slice[k] = NULL;
            else if (s->bufs[k].len == PLANE_COLS_BM)
                slice[k] = base + (ch * g->kh * g->kw * g->cols_row + img * g->oh * g->ow) * (int64_t)s->bufs[k].es;
            else
                slice[k] = base + p * s->stride[k];
        }
        bad |= s->fn(slice, g);
        if (++i == inner)
            i = 0, o++;
    }
    if (bad)
        atomic_store(&s->bad, 1);
}

/* The whole of an exported kernel: validates the geometry (pool: with pooling's rule), returns
 * early when there is nothing to write (no planes, or an empty plane of the last buffer, which
 * is the one written), checks the pointers, then runs fn on every plane p with each buffer
 * advanced by p planes, on use_threads(g) threads with a static schedule. fn is called
 * indirectly, once per plane: its work is a whole plane, so the call costs nothing. */
static inline int run_planes(plane_fn fn, int pool, struct plane_buf b0, struct plane_buf b1,
                             struct plane_buf b2, AG_GEOM_PARAMS)
{
    struct geom g;
    int status = pool ? make_pool_geom(&g, AG_GEOM_ARGS) : make_geom(&g, AG_GEOM_ARGS);
    if (status != AG_OK || g.planes == 0 || plane_elems(&g, b2.len) == 0)
        return status;
    struct planes_task task = {.fn = fn, .g = &g, .bufs = {b0, b1, b2}};
    for (int k = 0; k < 3; k++) {
        const struct plane_buf *b = &task.bufs[k];
        if (b->len != PLANE_NONE && !b->ptr)
            return AG_ERR_NULL;
        task.stride[k] = plane_elems(&g, b->len) * (int64_t)b->es;
        if (b->len == PLANE_COLS_BM)
            g.cols_row = g.n * g.oh * g.ow, task.batch_major = 1;
    }
    /* Batch-major cols go channel by channel: the planes of one channel's images fill the same
     * rows of cols side by side, whole cache lines at a time. Planes are independent, so the
     * order changes no result. */
    ag_run_spans(run_plane_span, &task, g.planes, use_threads(&g), 1);
    return atomic_load(&task.bad) ? AG_ERR_ARG : AG_OK;
}

/* avg_pool2d's backward planes ({gy, -, gx}): col2im's scatter (conv.c), its source rows
 * divided by kh * kw. */
int ag_avg_unpool_plane_f32(void *const buf[3], const struct geom *g);
int ag_avg_unpool_plane_f64(void *const buf[3], const struct geom *g);

/* conv.c's im2col ({x, -, cols}) and col2im ({cols, -, x}) plane functions for the ISA in use
 * (float64 or float32), for conv2d.c's per-image loops. */
plane_fn ag_im2col_plane(int f64);
plane_fn ag_col2im_plane(int f64);

/* The plane function `name`, or its AVX-512 twin `name##_avx512` when that is the ISA in use
 * (the twin must exist on x86). */
#ifdef AG_SIMD_X86
#define PLANE_FN(name) (ag_isa() == AG_ISA_AVX512 ? name##_avx512 : name)
#else
#define PLANE_FN(name) (name)
#endif

/* Dtype-generic code is written once as an always-inline function taking an `f64` flag; each
 * dtype's plane function calls it with a constant, so the compiler emits one specialised copy
 * per dtype and the flag costs nothing at run time. */
#define AG_INLINE static inline __attribute__((always_inline))

#endif /* AG_CONV_H */
