/* cpu.c: which instruction set the kernels use, how many threads, how this was built.
 *
 * The only mutable state of the library lives here: the ISA level in use (detected once,
 * lowered by ag_set_isa_cap), the thread count, and whether this process is a child of fork().
 * All are atomics: kernels run with the GIL released and read them while another Python thread
 * may be setting them.
 */
#include "ag_kernels.h"
#include "ag_spans.h"

#include <stdatomic.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#include <pthread.h>
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define AG_HAVE_X86 1
#include <cpuid.h>
#else
#define AG_HAVE_X86 0
#endif

#define AG_MAX_THREADS 1024

static _Atomic int isa_level = -1;   /* -1: not decided yet (detected on first use) */
static _Atomic int num_threads = 0;  /* 0: OpenMP's default */

#ifdef _OPENMP
/* A child of fork() has only the thread that forked: libgomp's pool did not come along, and its
 * next parallel region waits for those threads forever (a multiprocessing worker forked after
 * one threaded product hung). So a forked child runs every kernel on one thread, as PyTorch's
 * do; a team of one needs no pool. Every child, even of a parent that never started the pool:
 * libgomp does not say whether it did. */
static _Atomic int forked_child = 0;

static void note_forked_child(void)
{
    atomic_store(&forked_child, 1);
}

__attribute__((constructor)) static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, note_forked_child);
}
#endif

#if AG_HAVE_X86
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* The CPU must report the instructions and the OS must save their registers (XCR0). */
static int detect_level(void)
{
#if AG_HAVE_X86
    unsigned a, b, c, d;
    const unsigned need1 = (1u << 12) | (1u << 27) | (1u << 28);  /* FMA, OSXSAVE, AVX */
    if (!__get_cpuid(1, &a, &b, &c, &d) || (c & need1) != need1)
        return AG_ISA_PORTABLE;
    const uint64_t xcr0 = xgetbv0();
    const uint64_t ymm_state = 0x6;    /* XMM, YMM upper halves */
    const uint64_t zmm_state = 0xe0;   /* opmask, ZMM upper halves, ZMM16-31 */
    if ((xcr0 & ymm_state) != ymm_state)
        return AG_ISA_PORTABLE;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 5)))  /* AVX2 */
        return AG_ISA_PORTABLE;
    const unsigned need7 = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);  /* F DQ BW VL */
    if ((b & need7) == need7 && (xcr0 & zmm_state) == zmm_state)
        return AG_ISA_AVX512;
    return AG_ISA_AVX2;
#else
    return AG_ISA_PORTABLE;
#endif
}

int ag_isa_detected(void)
{
    return detect_level();
}

int ag_isa(void)
{
    int level = atomic_load_explicit(&isa_level, memory_order_relaxed);
    if (level < 0) {
        int expected = -1;
        level = detect_level();
        /* A concurrent ag_set_isa_cap wins over this lazy initialisation. */
        if (!atomic_compare_exchange_strong(&isa_level, &expected, level))
            level = expected;
    }
    return level;
}

int ag_set_isa_cap(int cap)
{
    if (cap < AG_ISA_PORTABLE || cap > AG_ISA_AVX512)
        return AG_ERR_ARG;
    int level = detect_level();
    if (cap < level)
        level = cap;
    atomic_store(&isa_level, level);
    return level;
}

int ag_set_num_threads(int n)
{
    if (n < 1 || n > AG_MAX_THREADS)
        return AG_ERR_ARG;
    atomic_store(&num_threads, n);
    return AG_OK;
}

/* A training step allocates and frees the same large temporaries (activations, im2col
 * columns, gradients) every time. glibc returns the free top of its heap to the kernel once it
 * exceeds the trim threshold (dynamically about twice the largest freed block), so every step
 * page-faults all of that memory in again: a third of a small CNN's step here. Raising the trim
 * threshold keeps it; blocks above mmap_bytes are still mapped and unmapped on their own. */
int ag_keep_freed_memory(int64_t trim_bytes, int64_t mmap_bytes)
{
    if (trim_bytes < 0 || mmap_bytes < 0 || trim_bytes > INT32_MAX || mmap_bytes > INT32_MAX)
        return AG_ERR_ARG;
#ifdef __GLIBC__
    if (mallopt(M_MMAP_THRESHOLD, (int)mmap_bytes) != 1 || mallopt(M_TRIM_THRESHOLD, (int)trim_bytes) != 1)
        return AG_ERR_ARG;
    return AG_OK;
#else
    return AG_ERR_ARG;  /* not glibc: its allocator has its own policy */
#endif
}

int ag_get_num_threads(void)
{
#ifdef _OPENMP
    if (atomic_load_explicit(&forked_child, memory_order_relaxed))
        return 1;
    int n = atomic_load_explicit(&num_threads, memory_order_relaxed);
    return n > 0 ? n : omp_get_max_threads();
#else
    return 1;
#endif
}

void ag_run_spans(ag_span_fn fn, const void *args, int64_t n, int threads, int64_t align)
{
    if (threads < 2 || n <= align) {
        fn(args, 0, n);
        return;
    }
    int64_t chunk = (n + threads - 1) / threads;
    chunk = (chunk + align - 1) / align * align;
    const int64_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < nchunks; c++)
        fn(args, c * chunk, n - c * chunk < chunk ? n : c * chunk + chunk);
}

#ifndef AG_BUILD_FLAGS
#define AG_BUILD_FLAGS "(flags unknown)"
#endif
#define AG_STR_(x) #x
#define AG_STR(x) AG_STR_(x)

#if defined(__clang__)
#define AG_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define AG_COMPILER "gcc " __VERSION__
#else
#define AG_COMPILER "unknown compiler"
#endif

#ifdef _OPENMP
#define AG_OPENMP "openmp " AG_STR(_OPENMP)
#else
#define AG_OPENMP "no openmp"
#endif

const char *ag_build_info(void)
{
    return AG_COMPILER "; " AG_BUILD_FLAGS "; " AG_OPENMP;
}
