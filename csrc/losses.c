/* losses.c: fused softmax cross-entropy, binary cross-entropy with logits and MSE.
 *
 * Softmax cross-entropy works on rows of `classes` logits (the Python side moves the class
 * axis last). Per row, with m = max x, d = x - m, L = log sum e^d:
 *   class target t:       loss = L - (1 - eps) d_t - eps/C sum d
 *   probability target p: loss = L S - ((1 - eps) sum p d + eps/C sum d),  S = (1 - eps) sum p + eps
 * Every term is >= 0 for valid targets, so nothing cancels even for logits of +-1e4. The
 * forward saves (m, L) per row and the backward recomputes the softmax as e^((x - m) - L)
 * (m + L rounded to float32 would cost the softmax its precision at |x| ~ 1e4), in one sweep:
 *   grad = s (S e^(d - L) - (1 - eps) p - eps/C),   and  -= s (1 - eps) at the class t,
 * s being the row's upstream scale (0 for a row whose class is ignore_index).
 * Per-row work is vectorised (AVX-512, AVX2 + FMA, portable C: three row primitives each) and
 * rows are split statically across threads: each row's result is independent of the thread
 * count. Class indices are checked before any work: out of range (and not ignore_index) gives
 * AG_ERR_ARG, so no index can make the kernel read outside a row.
 */
#include "ag_kernels.h"
#include "ag_simd.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Below this many logits one thread does the work (a fork/join costs ~1-2 us). */
#define AG_LOSS_PARALLEL_MIN (1 << 14)

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

/* ------------------------------------------------------------------ portable C */

static double portable_max_f32(const void *px, int64_t n)
{
    const float *x = px;
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] > m || x[i] != x[i] ? x[i] : m;
    return m;
}

static double portable_max_f64(const void *px, int64_t n)
{
    const double *x = px;
    double m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        m = x[i] > m || x[i] != x[i] ? x[i] : m;
    return m;
}

static struct row_sums portable_sums_f32(const void *px, const void *pp, int64_t n, double m)
{
    const float *x = px, *p = pp;
    const float mf = (float)m;
    float e = 0, d = 0, pd = 0, ps = 0;
    for (int64_t i = 0; i < n; i++) {
        float di = x[i] - mf;
        e += expf(di);
        d += di;
        if (p) {
            pd += p[i] * di;
            ps += p[i];
        }
    }
    return (struct row_sums){e, d, pd, ps};
}

static struct row_sums portable_sums_f64(const void *px, const void *pp, int64_t n, double m)
{
    const double *x = px, *p = pp;
    double e = 0, d = 0, pd = 0, ps = 0;
    for (int64_t i = 0; i < n; i++) {
        double di = x[i] - m;
        e += exp(di);
        d += di;
        if (p) {
            pd += p[i] * di;
            ps += p[i];
        }
    }
    return (struct row_sums){e, d, pd, ps};
}

static void portable_grad_f32(const void *px, const void *pp, int64_t n, double m, double L,
                              double a, double b, double k, void *pout)
{
    const float *x = px, *p = pp;
    float *out = pout;
    const float mf = (float)m, lf = (float)L, af = (float)a, bf = (float)b, kf = (float)k;
    for (int64_t i = 0; i < n; i++)
        out[i] = af * expf((x[i] - mf) - lf) - (p ? bf * p[i] : 0.0f) - kf;
}

static void portable_grad_f64(const void *px, const void *pp, int64_t n, double m, double L,
                              double a, double b, double k, void *pout)
{
    const double *x = px, *p = pp;
    double *out = pout;
    for (int64_t i = 0; i < n; i++)
        out[i] = a * exp((x[i] - m) - L) - (p ? b * p[i] : 0.0) - k;
}

#ifdef AG_SIMD_X86
/* ------------------------------------------------------------------ AVX-512 */
/* Tails use masked loads; masked-off lanes contribute -inf to the max and 0 to the sums. */

AG_TARGET_AVX512 static double avx512_max_f32(const void *px, int64_t n)
{
    const float *x = px;
    __m512 m = _mm512_set1_ps(-INFINITY), nan = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, x + i);
        m = _mm512_max_ps(m, v);
        nan = _mm512_or_ps(nan, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v));
    }
    float r = _mm512_reduce_max_ps(m);
    return isnan(_mm512_reduce_add_ps(nan)) ? NAN : r;
}

AG_TARGET_AVX512 static double avx512_max_f64(const void *px, int64_t n)
{
    const double *x = px;
    __m512d m = _mm512_set1_pd(-INFINITY), nan = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? 0xFF : (__mmask8)((1u << (n - i)) - 1u);
        __m512d v = _mm512_mask_loadu_pd(_mm512_set1_pd(-INFINITY), k, x + i);
        m = _mm512_max_pd(m, v);
        nan = _mm512_or_pd(nan, _mm512_maskz_mov_pd(_mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q), v));
    }
    double r = _mm512_reduce_max_pd(m);
    return isnan(_mm512_reduce_add_pd(nan)) ? NAN : r;
}

AG_TARGET_AVX512 static struct row_sums avx512_sums_f32(const void *px, const void *pp,
                                                        int64_t n, double m)
{
    const float *x = px, *p = pp;
    const __m512 vm = _mm512_set1_ps((float)m);
    __m512 e = _mm512_setzero_ps(), d = e, pd = e, ps = e;
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 di = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, x + i), vm);
        e = _mm512_add_ps(e, _mm512_maskz_mov_ps(k, ag512_exp_ps(di)));
        d = _mm512_add_ps(d, di);
        if (p) {
            __m512 pi = _mm512_maskz_loadu_ps(k, p + i);
            pd = _mm512_fmadd_ps(pi, di, pd);
            ps = _mm512_add_ps(ps, pi);
        }
    }
    return (struct row_sums){_mm512_reduce_add_ps(e), _mm512_reduce_add_ps(d),
                             _mm512_reduce_add_ps(pd), _mm512_reduce_add_ps(ps)};
}

AG_TARGET_AVX512 static struct row_sums avx512_sums_f64(const void *px, const void *pp,
                                                        int64_t n, double m)
{
    const double *x = px, *p = pp;
    const __m512d vm = _mm512_set1_pd(m);
    __m512d e = _mm512_setzero_pd(), d = e, pd = e, ps = e;
    for (int64_t i = 0; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? 0xFF : (__mmask8)((1u << (n - i)) - 1u);
        __m512d di = _mm512_maskz_sub_pd(k, _mm512_maskz_loadu_pd(k, x + i), vm);
        e = _mm512_add_pd(e, _mm512_maskz_mov_pd(k, ag512_exp_pd(di)));
        d = _mm512_add_pd(d, di);
        if (p) {
            __m512d pi = _mm512_maskz_loadu_pd(k, p + i);
            pd = _mm512_fmadd_pd(pi, di, pd);
            ps = _mm512_add_pd(ps, pi);
        }
    }
    return (struct row_sums){_mm512_reduce_add_pd(e), _mm512_reduce_add_pd(d),
                             _mm512_reduce_add_pd(pd), _mm512_reduce_add_pd(ps)};
}

AG_TARGET_AVX512 static void avx512_grad_f32(const void *px, const void *pp, int64_t n,
                                             double m, double L, double a, double b, double kk,
                                             void *pout)
{
    const float *x = px, *p = pp;
    float *out = pout;
    const __m512 vm = _mm512_set1_ps((float)m), vL = _mm512_set1_ps((float)L);
    const __m512 va = _mm512_set1_ps((float)a);
    const __m512 vb = _mm512_set1_ps((float)b), vk = _mm512_set1_ps((float)kk);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? 0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 s = ag512_exp_ps(_mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm), vL));
        __m512 r = _mm512_fmsub_ps(va, s, vk);
        if (p)
            r = _mm512_fnmadd_ps(vb, _mm512_maskz_loadu_ps(k, p + i), r);
        _mm512_mask_storeu_ps(out + i, k, r);
    }
}

AG_TARGET_AVX512 static void avx512_grad_f64(const void *px, const void *pp, int64_t n,
                                             double m, double L, double a, double b, double kk,
                                             void *pout)
{
    const double *x = px, *p = pp;
    double *out = pout;
    const __m512d vm = _mm512_set1_pd(m), vL = _mm512_set1_pd(L);
    const __m512d va = _mm512_set1_pd(a);
    const __m512d vb = _mm512_set1_pd(b), vk = _mm512_set1_pd(kk);
    for (int64_t i = 0; i < n; i += 8) {
        __mmask8 k = n - i >= 8 ? 0xFF : (__mmask8)((1u << (n - i)) - 1u);
        __m512d s = ag512_exp_pd(_mm512_sub_pd(_mm512_sub_pd(_mm512_maskz_loadu_pd(k, x + i), vm), vL));
        __m512d r = _mm512_fmsub_pd(va, s, vk);
        if (p)
            r = _mm512_fnmadd_pd(vb, _mm512_maskz_loadu_pd(k, p + i), r);
        _mm512_mask_storeu_pd(out + i, k, r);
    }
}
/* ------------------------------------------------------------------ AVX2 + FMA */
/* Tails use maskload/maskstore (masked-off lanes are neither read nor written, and are blended
 * to -inf for the max and to 0 for the sums). */

AG_TARGET_AVX2 static inline __m256i avx2_mask32(int64_t left)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(left < 8 ? left : 8)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AG_TARGET_AVX2 static inline __m256i avx2_mask64(int64_t left)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(left < 4 ? left : 4), _mm256_setr_epi64x(0, 1, 2, 3));
}

AG_TARGET_AVX2 static double avx2_max_f32(const void *px, int64_t n)
{
    const float *x = px;
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 m = ninf, nan = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        __m256i k = avx2_mask32(n - i);
        __m256 v = _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + i, k), _mm256_castsi256_ps(k));
        m = _mm256_max_ps(m, v);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    float r = lanes[0];
    for (int j = 1; j < 8; j++)
        r = lanes[j] > r ? lanes[j] : r;
    return _mm256_movemask_ps(nan) ? NAN : r;
}

AG_TARGET_AVX2 static double avx2_max_f64(const void *px, int64_t n)
{
    const double *x = px;
    const __m256d ninf = _mm256_set1_pd(-INFINITY);
    __m256d m = ninf, nan = _mm256_setzero_pd();
    for (int64_t i = 0; i < n; i += 4) {
        __m256i k = avx2_mask64(n - i);
        __m256d v = _mm256_blendv_pd(ninf, _mm256_maskload_pd(x + i, k), _mm256_castsi256_pd(k));
        m = _mm256_max_pd(m, v);
        nan = _mm256_or_pd(nan, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, m);
    double r = lanes[0];
    for (int j = 1; j < 4; j++)
        r = lanes[j] > r ? lanes[j] : r;
    return _mm256_movemask_pd(nan) ? NAN : r;
}

AG_TARGET_AVX2 static double avx2_hsum_ps(__m256 v)
{
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    double r = 0.0;
    for (int j = 0; j < 8; j++)
        r += lanes[j];
    return r;
}

AG_TARGET_AVX2 static double avx2_hsum_pd(__m256d v)
{
    double lanes[4];
    _mm256_storeu_pd(lanes, v);
    return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

AG_TARGET_AVX2 static struct row_sums avx2_sums_f32(const void *px, const void *pp, int64_t n,
                                                    double m)
{
    const float *x = px, *p = pp;
    const __m256 vm = _mm256_set1_ps((float)m);
    __m256 e = _mm256_setzero_ps(), d = e, pd = e, ps = e;
    for (int64_t i = 0; i < n; i += 8) {
        __m256i k = avx2_mask32(n - i);
        __m256 kf = _mm256_castsi256_ps(k);
        __m256 di = _mm256_and_ps(kf, _mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm));
        e = _mm256_add_ps(e, _mm256_and_ps(kf, ag256_exp_ps(di)));
        d = _mm256_add_ps(d, di);
        if (p) {
            __m256 pi = _mm256_maskload_ps(p + i, k);
            pd = _mm256_fmadd_ps(pi, di, pd);
            ps = _mm256_add_ps(ps, pi);
        }
    }
    return (struct row_sums){avx2_hsum_ps(e), avx2_hsum_ps(d), avx2_hsum_ps(pd), avx2_hsum_ps(ps)};
}

AG_TARGET_AVX2 static struct row_sums avx2_sums_f64(const void *px, const void *pp, int64_t n,
                                                    double m)
{
    const double *x = px, *p = pp;
    const __m256d vm = _mm256_set1_pd(m);
    __m256d e = _mm256_setzero_pd(), d = e, pd = e, ps = e;
    for (int64_t i = 0; i < n; i += 4) {
        __m256i k = avx2_mask64(n - i);
        __m256d kf = _mm256_castsi256_pd(k);
        __m256d di = _mm256_and_pd(kf, _mm256_sub_pd(_mm256_maskload_pd(x + i, k), vm));
        e = _mm256_add_pd(e, _mm256_and_pd(kf, ag256_exp_pd(di)));
        d = _mm256_add_pd(d, di);
        if (p) {
            __m256d pi = _mm256_maskload_pd(p + i, k);
            pd = _mm256_fmadd_pd(pi, di, pd);
            ps = _mm256_add_pd(ps, pi);
        }
    }
    return (struct row_sums){avx2_hsum_pd(e), avx2_hsum_pd(d), avx2_hsum_pd(pd), avx2_hsum_pd(ps)};
}

AG_TARGET_AVX2 static void avx2_grad_f32(const void *px, const void *pp, int64_t n, double m,
                                         double L, double a, double b, double kk, void *pout)
{
    const float *x = px, *p = pp;
    float *out = pout;
    const __m256 vm = _mm256_set1_ps((float)m), vL = _mm256_set1_ps((float)L);
    const __m256 va = _mm256_set1_ps((float)a), vb = _mm256_set1_ps((float)b);
    const __m256 vk = _mm256_set1_ps((float)kk);
    for (int64_t i = 0; i < n; i += 8) {
        __m256i k = avx2_mask32(n - i);
        __m256 s = ag256_exp_ps(_mm256_sub_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, k), vm), vL));
        __m256 r = _mm256_fmsub_ps(va, s, vk);
        if (p)
            r = _mm256_fnmadd_ps(vb, _mm256_maskload_ps(p + i, k), r);
        _mm256_maskstore_ps(out + i, k, r);
    }
}

AG_TARGET_AVX2 static void avx2_grad_f64(const void *px, const void *pp, int64_t n, double m,
                                         double L, double a, double b, double kk, void *pout)
{
    const double *x = px, *p = pp;
    double *out = pout;
    const __m256d vm = _mm256_set1_pd(m), vL = _mm256_set1_pd(L);
    const __m256d va = _mm256_set1_pd(a), vb = _mm256_set1_pd(b), vk = _mm256_set1_pd(kk);
    for (int64_t i = 0; i < n; i += 4) {
        __m256i k = avx2_mask64(n - i);
        __m256d s = ag256_exp_pd(_mm256_sub_pd(_mm256_sub_pd(_mm256_maskload_pd(x + i, k), vm), vL));
        __m256d r = _mm256_fmsub_pd(va, s, vk);
        if (p)
            r = _mm256_fnmadd_pd(vb, _mm256_maskload_pd(p + i, k), r);
        _mm256_maskstore_pd(out + i, k, r);
    }
}
#endif /* AG_SIMD_X86 */

/* ------------------------------------------------------------------ driver */

static struct row_kernels pick(int is_f64)
{
#ifdef AG_SIMD_X86
    if (ag_isa() == AG_ISA_AVX512)
        return is_f64 ? (struct row_kernels){avx512_max_f64, avx512_sums_f64, avx512_grad_f64}
                      : (struct row_kernels){avx512_max_f32, avx512_sums_f32, avx512_grad_f32};
    if (ag_isa() == AG_ISA_AVX2)
        return is_f64 ? (struct row_kernels){avx2_max_f64, avx2_sums_f64, avx2_grad_f64}
                      : (struct row_kernels){avx2_max_f32, avx2_sums_f32, avx2_grad_f32};
#endif
    return is_f64 ? (struct row_kernels){portable_max_f64, portable_sums_f64, portable_grad_f64}
                  : (struct row_kernels){portable_max_f32, portable_sums_f32, portable_grad_f32};
}

static int check_rows(int64_t rows, int64_t classes, size_t elsize)
{
    if (rows < 0 || classes < 0 || (classes && (uint64_t)rows > PTRDIFF_MAX / elsize / classes))
        return AG_ERR_SIZE;
    return AG_OK;
}

/* Every label is a class or ignore_index; checked before any work is done. */
static int check_labels(const int64_t *labels, int64_t rows, int64_t classes, int64_t ignore)
{
    for (int64_t i = 0; i < rows; i++)
        if ((labels[i] < 0 || labels[i] >= classes) && labels[i] != ignore)
            return AG_ERR_ARG;
    return AG_OK;
}

static int threads_for(int64_t work)
{
    int t = ag_get_num_threads();
    return work < AG_LOSS_PARALLEL_MIN ? 1 : t;
}

static int xent_forward(size_t es, const void *x, int64_t rows, int64_t classes,
                        const int64_t *labels, const void *probs, double eps, int64_t ignore,
                        void *loss, void *stats)
{
    int status = check_rows(rows, classes, es);
    if (status != AG_OK || rows == 0)
        return status;
    if (!x || !loss || !stats || (!labels == !probs) || classes == 0)
        return classes == 0 ? AG_ERR_ARG : AG_ERR_NULL;
    if (labels && (status = check_labels(labels, rows, classes, ignore)) != AG_OK)
        return status;
    const struct row_kernels rk = pick(es == sizeof(double));
    const char *cx = x, *cp = probs;
    const double smooth = eps / (double)classes;
#pragma omp parallel for num_threads(threads_for(rows * classes)) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const size_t off = (size_t)i * (size_t)classes * es;
        const double m = rk.max(cx + off, classes);
        const struct row_sums s = rk.sums(cx + off, probs ? cp + off : NULL, classes, m);
        const double L = log(s.e);
        double r;
        if (labels) {
            const int64_t t = labels[i];
            double xt = t == ignore ? 0.0
                        : es == sizeof(double) ? ((const double *)x)[i * classes + t]
                                               : ((const float *)x)[i * classes + t];
            r = t == ignore ? 0.0 : L - (1.0 - eps) * (xt - m) - smooth * s.d;
        } else {
            r = L * ((1.0 - eps) * s.p + eps) - ((1.0 - eps) * s.pd + smooth * s.d);
        }
        if (es == sizeof(double)) {
            ((double *)loss)[i] = r;
            ((double *)stats)[2 * i] = m;
            ((double *)stats)[2 * i + 1] = L;
        } else {
            ((float *)loss)[i] = (float)r;
            ((float *)stats)[2 * i] = (float)m;
            ((float *)stats)[2 * i + 1] = (float)L;
        }
    }
    return AG_OK;
}

static int xent_backward(size_t es, const void *x, const void *stats, int64_t rows,
                         int64_t classes, const int64_t *labels, const void *probs, double eps,
                         int64_t ignore, const void *scale, int64_t scale_stride, void *grad)
{
    int status = check_rows(rows, classes, es);
    if (status != AG_OK || rows == 0 || classes == 0)
        return status;
    if (!x || !stats || !scale || !grad || (!labels == !probs))
        return AG_ERR_NULL;
    if (scale_stride < 0)
        return AG_ERR_ARG;
    if (labels && (status = check_labels(labels, rows, classes, ignore)) != AG_OK)
        return status;
    const struct row_kernels rk = pick(es == sizeof(double));
    const int f64 = es == sizeof(double);
    const char *cx = x, *cp = probs;
    char *cg = grad;
    const double smooth = eps / (double)classes;
#pragma omp parallel for num_threads(threads_for(rows * classes)) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
        const size_t off = (size_t)i * (size_t)classes * es;
        const int64_t si = i * scale_stride;
        const double s = f64 ? ((const double *)scale)[si] : ((const float *)scale)[si];
        const double m = f64 ? ((const double *)stats)[2 * i] : ((const float *)stats)[2 * i];
        const double L = f64 ? ((const double *)stats)[2 * i + 1] : ((const float *)stats)[2 * i + 1];
        if (labels) {
            const int64_t t = labels[i];
            const double st = t == ignore ? 0.0 : s;
            rk.grad(cx + off, NULL, classes, m, L, st, 0.0, st * smooth, cg + off);
            if (t != ignore) {
                if (f64)
                    ((double *)grad)[i * classes + t] -= st * (1.0 - eps);
                else
                    ((float *)grad)[i * classes + t] -= (float)(st * (1.0 - eps));
            }
        } else {
            const struct row_sums ps = rk.sums(cp + off, NULL, classes, 0.0);
            const double total = (1.0 - eps) * ps.d + eps;  /* sum of the smoothed targets */
            rk.grad(cx + off, cp + off, classes, m, L, s * total, s * (1.0 - eps), s * smooth,
                    cg + off);
        }
    }
    return AG_OK;
}

/* ------------------------------------------------------------------ elementwise losses */

enum pair_op { BCE, BCE_BACKWARD, MSE, MSE_BACKWARD };

static int pair_loss(enum pair_op op, size_t es, const void *x, const void *t, void *out,
                     int64_t n)
{
    if (n < 0 || (uint64_t)n > PTRDIFF_MAX / es)
        return AG_ERR_SIZE;
    if (n == 0)
        return AG_OK;
    if (!x || !t || !out)
        return AG_ERR_NULL;
    const int f64 = es == sizeof(double);
#pragma omp parallel for num_threads(threads_for(n * 4)) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        const double a = f64 ? ((const double *)x)[i] : ((const float *)x)[i];
        const double b = f64 ? ((const double *)t)[i] : ((const float *)t)[i];
        double r;
        switch (op) {
        case BCE:  /* (1 - t) x + log(1 + e^-x), as max(x, 0) - x t + log1p(e^-|x|) */
            r = fmax(a, 0.0) - a * b + log1p(exp(-fabs(a)));
            break;
        case BCE_BACKWARD: {  /* sigmoid(x) - t, two branches so that exp never overflows */
            const double z = exp(-fabs(a));
            r = (a < 0.0 ? z : 1.0) / (1.0 + z) - b;
            break;
        }
        case MSE: r = (a - b) * (a - b); break;
        default: r = 2.0 * (a - b); break;
        }
        if (f64)
            ((double *)out)[i] = r;
        else
            ((float *)out)[i] = (float)r;
    }
    return AG_OK;
}

/* ------------------------------------------------------------------ exports */
int ag_softmax_xent_f32(const float *x, int64_t rows, int64_t classes, const int64_t *labels,
                        const float *probs, double label_smoothing, int64_t ignore_index,
                        float *loss, float *stats)
{
    return xent_forward(sizeof *x, x, rows, classes, labels, probs, label_smoothing,
                        ignore_index, loss, stats);
}
int ag_softmax_xent_f64(const double *x, int64_t rows, int64_t classes, const int64_t *labels,
                        const double *probs, double label_smoothing, int64_t ignore_index,
                        double *loss, double *stats)
{
    return xent_forward(sizeof *x, x, rows, classes, labels, probs, label_smoothing,
                        ignore_index, loss, stats);
}
int ag_softmax_xent_backward_f32(const float *x, const float *stats, int64_t rows, int64_t classes,
                                 const int64_t *labels, const float *probs,
                                 double label_smoothing, int64_t ignore_index,
                                 const float *scale, int64_t scale_stride, float *grad)
{
    return xent_backward(sizeof *x, x, stats, rows, classes, labels, probs, label_smoothing,
                         ignore_index, scale, scale_stride, grad);
}
int ag_softmax_xent_backward_f64(const double *x, const double *stats, int64_t rows, int64_t classes,
                                 const int64_t *labels, const double *probs,
                                 double label_smoothing, int64_t ignore_index,
                                 const double *scale, int64_t scale_stride, double *grad)
{
    return xent_backward(sizeof *x, x, stats, rows, classes, labels, probs, label_smoothing,
                         ignore_index, scale, scale_stride, grad);
}
int ag_bce_with_logits_f32(const float *x, const float *target, float *out, int64_t n)
{
    return pair_loss(BCE, sizeof *x, x, target, out, n);
}
int ag_bce_with_logits_f64(const double *x, const double *target, double *out, int64_t n)
{
    return pair_loss(BCE, sizeof *x, x, target, out, n);
}
int ag_bce_with_logits_backward_f32(const float *x, const float *target, float *out, int64_t n)
{
    return pair_loss(BCE_BACKWARD, sizeof *x, x, target, out, n);
}
int ag_bce_with_logits_backward_f64(const double *x, const double *target, double *out, int64_t n)
{
    return pair_loss(BCE_BACKWARD, sizeof *x, x, target, out, n);
}
int ag_mse_f32(const float *x, const float *target, float *out, int64_t n)
{
    return pair_loss(MSE, sizeof *x, x, target, out, n);
}
int ag_mse_f64(const double *x, const double *target, double *out, int64_t n)
{
    return pair_loss(MSE, sizeof *x, x, target, out, n);
}
int ag_mse_backward_f32(const float *x, const float *target, float *out, int64_t n)
{
    return pair_loss(MSE_BACKWARD, sizeof *x, x, target, out, n);
}
int ag_mse_backward_f64(const double *x, const double *target, double *out, int64_t n)
{
    return pair_loss(MSE_BACKWARD, sizeof *x, x, target, out, n);
}
