/* ag_spans.h: internal to csrc/ (not part of the cffi cdef). A kernel's loop over [0, n) as
 * spans [lo, hi), run on one thread or shared out across several. */
#ifndef AG_SPANS_H
#define AG_SPANS_H

#include <stdint.h>

typedef void (*ag_span_fn)(const void *args, int64_t lo, int64_t hi);

/* fn over [0, n): one call on this thread when threads < 2 (an OpenMP region costs ~0.3 us
 * even with one thread, as much as a small kernel's work), else static chunks of a multiple of
 * `align` units, one per thread. Callers whose units are independent get the same result on
 * any thread count. */
void ag_run_spans(ag_span_fn fn, const void *args, int64_t n, int threads, int64_t align);

#endif
