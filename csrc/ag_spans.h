/* ag_spans.h: internal to csrc/ (not part of the cffi cdef). A kernel's loop over [0, n) as
 * spans [lo, hi), run on one thread or shared out across several. */
#ifndef AG_SPANS_H
#define AG_SPANS_H

#include <stdint.h>

#include "ag_kernels.h"
#include "ag_simd.h"

typedef void (*ag_span_fn)(const void *args, int64_t lo, int64_t hi);
typedef void (*ag_task_fn)(void *ctx, int id, int threads);

/* fn(ctx, id, threads) for every id in [0, threads), returning when all have run: id 0 on this
 * thread, the others on the pool's workers, or here when no worker has taken them by the time
 * id 0 is done. Nested in a task, or while another caller has the pool, the ids run one after
 * another on this thread. So a task must not wait for its team's other ids, and what an id
 * computes may depend on the id, not on the thread that runs it. */
void ag_parallel(ag_task_fn fn, void *ctx, int threads);

/* fn over [0, n): one call on this thread when threads < 2, else static chunks of a multiple of
 * `align` units, one per thread. Callers whose units are independent get the same result on
 * any thread count. */
void ag_run_spans(ag_span_fn fn, const void *args, int64_t n, int threads, int64_t align);

/* A span function NAME(const ARGS *, lo, hi) written as plain C that the compiler vectorises,
 * compiled for the portable target and inside AVX2 and AVX-512 target functions;
 * SPAN_VARIANTS(NAME) lists the three and ag_pick_span takes the one ag_isa() allows. */
#ifdef AG_SIMD_X86
#define DEFINE_SPAN_VARIANTS(NAME, ARGS)                                                        \
    static void NAME##_portable(const void *a, int64_t lo, int64_t hi) { NAME((const ARGS *)a, lo, hi); } \
    AG_TARGET_AVX2 static void NAME##_avx2(const void *a, int64_t lo, int64_t hi) { NAME((const ARGS *)a, lo, hi); } \
    AG_TARGET_AVX512 static void NAME##_avx512(const void *a, int64_t lo, int64_t hi) { NAME((const ARGS *)a, lo, hi); }
#define SPAN_VARIANTS(NAME) {NAME##_portable, NAME##_avx2, NAME##_avx512}
#else
#define DEFINE_SPAN_VARIANTS(NAME, ARGS)                                                        \
    static void NAME##_portable(const void *a, int64_t lo, int64_t hi) { NAME((const ARGS *)a, lo, hi); }
#define SPAN_VARIANTS(NAME) {NAME##_portable, NAME##_portable, NAME##_portable}
#endif

static inline ag_span_fn ag_pick_span(const ag_span_fn variants[3])
{
    switch (ag_isa()) {
    case AG_ISA_AVX512:
        return variants[2];
    case AG_ISA_AVX2:
        return variants[1];
    default:
        return variants[0];
    }
}

#endif
