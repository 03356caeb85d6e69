/* cpu.c: which instruction set the kernels use, how many threads, how this was built.
 *
 * The only mutable state of the library lives here: the ISA level in use (detected once,
 * lowered by ag_set_isa_cap), the thread count, whether this process is a child of fork(), and
 * the thread pool that runs the kernels' parallel parts. All are atomics (the pool's task
 * handed over through them): kernels run with the GIL released, and another Python thread may
 * be calling them or setting the thread count meanwhile.
 */
#define _GNU_SOURCE  /* sched_getaffinity, CPU_COUNT */
#include "ag_kernels.h"
#include "ag_spans.h"

#include <stdatomic.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define AG_HAVE_X86 1
#include <cpuid.h>
#else
#define AG_HAVE_X86 0
#endif

#define AG_MAX_THREADS 1024

static _Atomic int isa_level = -1;   /* -1: not decided yet (detected on first use) */
static _Atomic int num_threads = 0;  /* 0: the default (default_threads) */

/* A child of fork() has only the thread that forked: the pool's workers did not come along.
 * So a forked child runs every kernel on one thread, as PyTorch's do (a multiprocessing
 * worker is one of several processes sharing the cores); a team of one needs no pool. */
static _Atomic int forked_child = 0;

static void note_forked_child(void)
{
    atomic_store(&forked_child, 1);
}

__attribute__((constructor)) static void watch_forks(void)
{
    pthread_atfork(NULL, NULL, note_forked_child);
}

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

/* OMP_NUM_THREADS when it is a thread count (the variable threaded numeric libraries share),
 * else the CPUs this process may run on. */
static int default_threads(void)
{
    const char *env = getenv("OMP_NUM_THREADS");
    if (env) {
        char *end;
        const long n = strtol(env, &end, 10);
        if (end != env && (*end == '\0' || *end == ',') && n >= 1)
            return n < AG_MAX_THREADS ? (int)n : AG_MAX_THREADS;
    }
#ifdef __linux__
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) >= 1)
        return CPU_COUNT(&cpus) < AG_MAX_THREADS ? CPU_COUNT(&cpus) : AG_MAX_THREADS;
#endif
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online < 1 ? 1 : online < AG_MAX_THREADS ? (int)online : AG_MAX_THREADS;
}

int ag_get_num_threads(void)
{
    if (atomic_load_explicit(&forked_child, memory_order_relaxed))
        return 1;
    int n = atomic_load_explicit(&num_threads, memory_order_relaxed);
    if (n > 0)
        return n;
    n = default_threads();
    int unset = 0;  /* a concurrent ag_set_num_threads wins */
    atomic_compare_exchange_strong(&num_threads, &unset, n);
    return atomic_load_explicit(&num_threads, memory_order_relaxed);
}

/* ---- The thread pool: workers 1, 2, ... started on first use and kept, each waiting for the
 * next task by spinning on one word for a millisecond (calls from Python microseconds apart
 * find them awake), then asleep on a condition variable. Handing a task to a spinning worker
 * and waiting for it takes ~0.1 us on the Zen 5 host, where an OpenMP region took 0.40 us
 * (libgomp; clang's libomp 1.07): on two threads 128 x 10 @ 10 x 512 went 3.69 -> 3.31 us in a
 * C loop and 5.47 -> 4.87 us called from Python, 10 x 128 @ 128 x 512 3.35 -> 2.97 and 4.80 ->
 * 4.31 us. A worker takes the next id not yet taken, and the caller, after its own, runs those
 * left: a worker slow to wake, or whose core another process has, delays nothing (a CNN step
 * on two threads beside a busy process: 17.1 ms with OpenMP, 13.3 ms so). One caller at a time
 * owns the pool; a task of any other runs on its own thread. */

#define AG_SPIN_NS 1000000  /* how long an idle worker spins before it sleeps */
#define AG_SPIN_BEFORE_YIELD 2000  /* pauses (~50 us) a caller spins for its workers */

static struct {
    pthread_mutex_t lock;   /* starting workers; sleeping and waking */
    pthread_cond_t wake;
    _Atomic uint64_t job;   /* generation << 16 | team size: a new value hands out fn (ctx) */
    _Atomic uint64_t next;  /* generation << 16 | the next id of that job not yet taken */
    _Atomic int done;       /* ids 1 .. team - 1 of the job finished */
    _Atomic int sleepers;
    _Atomic int busy;       /* a caller owns the pool */
    ag_task_fn fn;          /* written by the owner before job */
    void *ctx;
    int workers;            /* started: ids 1 .. workers */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Takes the next id of job `job` not yet taken, or returns 0 when there is none (the job's ids
 * are all taken, or the job is over). */
static int take_id(uint64_t job)
{
    const uint64_t generation = job >> 16, team = job & 0xffff;
    uint64_t next = atomic_load_explicit(&pool.next, memory_order_relaxed);
    while (next >> 16 == generation && (next & 0xffff) < team)
        if (atomic_compare_exchange_weak_explicit(&pool.next, &next, next + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return (int)(next & 0xffff);
    return 0;
}

/* Runs ids of job `job` until none is left. The job is not over before the ids taken are done,
 * so fn and ctx, read after taking one, are still its own. */
static void run_ids(uint64_t job)
{
    for (int id; (id = take_id(job));) {
        pool.fn(pool.ctx, id, (int)(job & 0xffff));
        atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
    }
}

static uint64_t worker_born_at[AG_MAX_THREADS];  /* pool.job when worker i was started */

static inline void cpu_relax(void)
{
#if AG_HAVE_X86
    __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The next value of pool.job after `seen`. */
static uint64_t next_job(uint64_t seen)
{
    const int64_t start = now_ns();
    for (unsigned i = 1;; i++) {
        const uint64_t job = atomic_load_explicit(&pool.job, memory_order_acquire);
        if (job != seen)
            return job;
        cpu_relax();
        if (i % 64 == 0 && now_ns() - start > AG_SPIN_NS)
            break;
    }
    /* The owner stores job, then reads sleepers; this adds to sleepers, then reads job (all
     * sequentially consistent): one of the two sees the other, so no wake-up is lost. */
    pthread_mutex_lock(&pool.lock);
    atomic_fetch_add(&pool.sleepers, 1);
    uint64_t job;
    while ((job = atomic_load(&pool.job)) == seen)
        pthread_cond_wait(&pool.wake, &pool.lock);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.lock);
    return job;
}

static void *worker_main(void *arg)
{
    uint64_t seen = worker_born_at[(intptr_t)arg];
    for (;;) {
        seen = next_job(seen);
        run_ids(seen);
    }
    return NULL;
}

/* At least `count` workers started (called by the owner, so job does not change meanwhile). */
static int have_workers(int count)
{
    if (pool.workers >= count)
        return 1;
    pthread_mutex_lock(&pool.lock);
    while (pool.workers < count) {
        const int id = pool.workers + 1;
        worker_born_at[id] = atomic_load(&pool.job);
        pthread_t thread;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int failed = pthread_create(&thread, &attr, worker_main, (void *)(intptr_t)id);
        pthread_attr_destroy(&attr);
        if (failed)
            break;
        pool.workers = id;
    }
    pthread_mutex_unlock(&pool.lock);
    return pool.workers >= count;
}

void ag_parallel(ag_task_fn fn, void *ctx, int threads)
{
    if (threads > 1 && !atomic_exchange_explicit(&pool.busy, 1, memory_order_acquire)) {
        if (have_workers(threads - 1)) {
            pool.fn = fn;
            pool.ctx = ctx;
            atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
            const uint64_t generation = (atomic_load_explicit(&pool.job, memory_order_relaxed) >> 16) + 1;
            const uint64_t job = generation << 16 | (uint64_t)threads;
            atomic_store_explicit(&pool.next, generation << 16 | 1, memory_order_relaxed);
            atomic_store(&pool.job, job);
            if (atomic_load(&pool.sleepers)) {
                pthread_mutex_lock(&pool.lock);
                pthread_cond_broadcast(&pool.wake);
                pthread_mutex_unlock(&pool.lock);
            }
            fn(ctx, 0, threads);
            /* Ids no worker has taken yet (asleep, or its core taken by another process) are run
             * here rather than waited for; ids taken are waited for, spinning a while, then
             * yielding this core. */
            run_ids(job);
            for (unsigned i = 0; atomic_load_explicit(&pool.done, memory_order_acquire) < threads - 1; i++) {
                cpu_relax();
                if (i > AG_SPIN_BEFORE_YIELD)
                    sched_yield();
            }
            atomic_store_explicit(&pool.busy, 0, memory_order_release);
            return;
        }
        atomic_store_explicit(&pool.busy, 0, memory_order_release);
    }
    /* One thread, the pool in use (a nested call, or another caller's), or no threads to be
     * had: the team's parts one after another, here. */
    for (int id = 0; id < threads; id++)
        fn(ctx, id, threads);
}

struct spans_task {
    ag_span_fn fn;
    const void *args;
    int64_t n, chunk;
};

static void run_span(void *ctx, int id, int threads)
{
    (void)threads;
    const struct spans_task *s = ctx;
    const int64_t lo = id * s->chunk;
    if (lo < s->n)
        s->fn(s->args, lo, s->n - lo < s->chunk ? s->n : lo + s->chunk);
}

void ag_run_spans(ag_span_fn fn, const void *args, int64_t n, int threads, int64_t align)
{
    if (threads < 2 || n <= align) {
        fn(args, 0, n);
        return;
    }
    int64_t chunk = (n + threads - 1) / threads;
    chunk = (chunk + align - 1) / align * align;
    struct spans_task s = {fn, args, n, chunk};
    ag_parallel(run_span, &s, (int)((n + chunk - 1) / chunk));
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

const char *ag_build_info(void)
{
    return AG_COMPILER "; " AG_BUILD_FLAGS "; threads: own pool (pthreads)";
}
