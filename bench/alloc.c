/*
 * alloc.c: allocation microbenchmark, nanoseconds per allocation, for tricolor's gc_alloc (with
 * the collector off: GOGC=off), glibc malloc and mimalloc's mi_malloc, and, because gc_alloc
 * returns zeroed memory, the zeroing allocators glibc calloc(1, size) and mimalloc's
 * mi_zalloc, in one run.
 *
 * For each object size (16, 64, 256, 1024, 4096 bytes) and each contender, a fresh child
 * process (fork, so no contender inherits another's heap) allocates a batch of objects worth
 * ALLOC_BATCH_MIB MiB (default 64), writing one word of each object and keeping every pointer
 * in a scratch array that was allocated and touched before timing. Two figures come out:
 *
 *   fresh  the first batch: memory never touched before, so it includes the page faults
 *          (roughly 13 us per 4 KiB page on the reference machine) and heap growth.
 *   warm   the batch is released (free / mi_free; for tricolor: all references dropped and
 *          gc_collect() run, so the collector sweeps the objects and reuses their memory),
 *          then a second batch of the same size is timed; best of 5 such repetitions. This is
 *          the allocator's own path, on memory that is already mapped.
 *
 * The whole thing is repeated ALLOC_ROUNDS times (default 3), contenders interleaved, and the
 * best figure is kept, because the machines are noisy. Read only the ratios: tricolor/malloc
 * above 1 means tricolor is slower. tricolor/calloc and tricolor/mi_zalloc are the
 * like-for-like comparisons (all three hand out zeroed memory); tricolor/malloc and
 * tricolor/mimalloc show what the zeroing costs on top of a bare allocator. The page-fault
 * tables show whether a "warm" batch really was warm (0 or close to it) for each contender.
 * ALLOC_VERBOSE=1 prints every batch on stderr.
 * A child that crashes, or gives no result within ALLOC_CHILD_TIMEOUT seconds (default 120),
 * is reported on stderr and in the tables, and its contender is left out from then on; the
 * exit status is then 1.
 *
 * Fairness notes, also printed with the tables:
 *  - gc_alloc returns zeroed memory; malloc and mi_malloc do not, so tricolor pays for clearing.
 *    calloc and mi_zalloc do clear, and are the fair comparison. On memory fresh from the OS
 *    both may skip the clearing (they know it is zero already), as tricolor may.
 *  - libmimalloc interposes malloc (and __libc_malloc) for the whole process, so glibc's
 *    malloc, calloc and free are called through pointers that dlsym finds in libc.so.6;
 *    mimalloc and tricolor are called directly. An indirect call costs about a nanosecond at most.
 *  - glibc would give the freed batch back to the OS (top-of-heap trimming) and fault it in
 *    again; M_TRIM_THRESHOLD is raised so its warm batch reuses memory like the others do.
 *  - If gc_collect() frees nothing (the collector is not there yet), tricolor's warm batch
 *    lands in fresh memory; the output says so.
 */
#include <tricolor.h>

#include <dlfcn.h>
#include <errno.h>
#include <gnu/lib-names.h>
#include <malloc.h>
#include <mimalloc.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * glibc's own malloc and free. libmimalloc exports malloc, free and even __libc_malloc, so
 * linking it replaces them for the whole process; dlsym on libc.so.6's handle still finds
 * glibc's own definitions. find_glibc_malloc() checks that the result is not mimalloc's.
 */
static void *(*glibc_malloc)(size_t);
static void *(*glibc_calloc)(size_t, size_t);
static void (*glibc_free)(void *);

static void find_glibc_malloc(void)
{
    void *libc = dlopen(LIBC_SO, RTLD_NOW | RTLD_NOLOAD);
    if (libc != NULL) {
        *(void **)&glibc_malloc = dlsym(libc, "malloc");
        *(void **)&glibc_calloc = dlsym(libc, "calloc");
        *(void **)&glibc_free = dlsym(libc, "free");
    }
    if (glibc_malloc == NULL || glibc_calloc == NULL || glibc_free == NULL) {
        fprintf(stderr, "alloc: cannot find glibc's malloc in %s: %s\n", LIBC_SO, dlerror());
        exit(1);
    }
    void *probe = glibc_malloc(64);
    if (probe == NULL || mi_is_in_heap_region(probe)) {
        fprintf(stderr, "alloc: %s's malloc is mimalloc's; cannot measure glibc\n", LIBC_SO);
        exit(1);
    }
    glibc_free(probe);
    probe = glibc_calloc(1, 64);
    if (probe == NULL || mi_is_in_heap_region(probe)) {
        fprintf(stderr, "alloc: %s's calloc is mimalloc's; cannot measure glibc\n", LIBC_SO);
        exit(1);
    }
    glibc_free(probe);
}

enum { TRICOLOR, MALLOC, MIMALLOC, CALLOC, MI_ZALLOC, NCONTENDERS };
static const char *const contender_names[NCONTENDERS] = {"tricolor", "malloc", "mimalloc", "calloc",
                                                         "mi_zalloc"};

static const size_t sizes[] = {16, 64, 256, 1024, 4096};
enum { NSIZES = sizeof sizes / sizeof sizes[0], WARM_REPS = 5 };

/* What one child reports for one contender and size. */
typedef struct result {
    int ok;            /* the child ran to the end */
    int warm_reused;   /* tricolor: every gc_collect freed the batch */
    double fresh_ns;   /* per allocation */
    double warm_ns;    /* per allocation, best of WARM_REPS */
    long fresh_faults; /* minor + major page faults during the fresh batch */
    long warm_faults;  /* ... during the best warm batch */
    uint64_t gc_frees; /* tricolor: objects the last gc_collect freed */
} result;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long page_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt + ru.ru_majflt;
}

static gc_memstats memstats; /* large: static, not on the stack */

static uint64_t tricolor_frees(void)
{
    gc_read_memstats(&memstats);
    return memstats.frees;
}

/* The timed loop, the same for every contender but for the allocation call. */
#define BATCH_LOOP(ALLOC_CALL)                                                                     \
    for (size_t i = 0; i < count; i++) {                                                           \
        uintptr_t *p = ALLOC_CALL;                                                                 \
        p[0] = i;                                                                                  \
        ptrs[i] = p;                                                                               \
    }

/* Allocates one batch into ptrs; returns nanoseconds per allocation. */
static double batch(int who, size_t size, void **ptrs, size_t count, long *faults)
{
    long f0 = page_faults();
    double t0 = now_ns();
    switch (who) {
    case TRICOLOR:
        BATCH_LOOP(gc_alloc(size));
        break;
    case MALLOC:
        BATCH_LOOP(glibc_malloc(size));
        break;
    case MIMALLOC:
        BATCH_LOOP(mi_malloc(size));
        break;
    case CALLOC:
        BATCH_LOOP(glibc_calloc(1, size));
        break;
    case MI_ZALLOC:
        BATCH_LOOP(mi_zalloc(size));
        break;
    }
    double t1 = now_ns();
    *faults = page_faults() - f0;
    return (t1 - t0) / (double)count;
}

/* Gives the batch back. For tricolor: returns how many objects the collection freed. */
static uint64_t release(int who, void **ptrs, size_t count)
{
    uint64_t freed = 0;
    switch (who) {
    case TRICOLOR: {
        memset(ptrs, 0, count * sizeof *ptrs);
        uint64_t before = tricolor_frees();
        gc_collect();
        freed = tricolor_frees() - before;
        break;
    }
    case MALLOC:
    case CALLOC:
        for (size_t i = 0; i < count; i++)
            glibc_free(ptrs[i]);
        break;
    case MIMALLOC:
    case MI_ZALLOC:
        for (size_t i = 0; i < count; i++)
            mi_free(ptrs[i]);
        break;
    }
    memset(ptrs, 0, count * sizeof *ptrs);
    return freed;
}

static int verbose; /* ALLOC_VERBOSE=1: every batch on stderr */

static void trace_batch(int who, size_t size, const char *what, double ns, long faults)
{
    if (verbose)
        fprintf(stderr, "alloc: %-8s %4zu bytes %-5s %8.1f ns %7ld faults\n", contender_names[who],
                size, what, ns, faults);
}

/* Runs in a fresh child process: one contender, one size. */
static void measure(int who, size_t size, size_t batch_bytes, result *r)
{
    size_t count = batch_bytes / size;
    memset(r, 0, sizeof *r);

    /* The scratch array: allocated and touched before anything is timed. */
    void **ptrs = glibc_malloc(count * sizeof *ptrs);
    if (ptrs == NULL) {
        fprintf(stderr, "alloc: no memory for the scratch array\n");
        _exit(1);
    }
    memset(ptrs, 0, count * sizeof *ptrs);

    if (who == TRICOLOR) {
        gc_options opts;
        memset(&opts, 0, sizeof opts);
        opts.gogc = "off";
        if (gc_init(&opts) != 0)
            _exit(1);
    } else if (who == MALLOC || who == CALLOC) {
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }

    r->fresh_ns = batch(who, size, ptrs, count, &r->fresh_faults);
    trace_batch(who, size, "fresh", r->fresh_ns, r->fresh_faults);
    r->warm_reused = 1;
    for (int rep = 0; rep < WARM_REPS; rep++) {
        uint64_t freed = release(who, ptrs, count);
        if (who == TRICOLOR) {
            /* A handful may stay reachable from stale stack slots; most must have gone. */
            if (freed < count / 2)
                r->warm_reused = 0;
            r->gc_frees = freed;
        }
        long faults;
        double ns = batch(who, size, ptrs, count, &faults);
        trace_batch(who, size, "warm", ns, faults);
        if (rep == 0 || ns < r->warm_ns) {
            r->warm_ns = ns;
            r->warm_faults = faults;
        }
    }
    release(who, ptrs, count);
    glibc_free(ptrs);
    r->ok = 1;
}

static long child_timeout_s; /* ALLOC_CHILD_TIMEOUT: a child that hangs is killed */

/* Forks, measures in the child, reads its result back. Returns 0 when the child failed. */
static int measure_in_child(int who, size_t size, size_t batch_bytes, result *r)
{
    memset(r, 0, sizeof *r);
    int fds[2];
    if (pipe(fds) != 0) {
        perror("alloc: pipe");
        exit(1);
    }
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("alloc: fork");
        exit(1);
    }
    if (pid == 0) {
        /* Die with the parent, so a killed run leaves no child behind. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close(fds[0]);
        result mine;
        measure(who, size, batch_bytes, &mine);
        ssize_t w = write(fds[1], &mine, sizeof mine);
        _exit(w == (ssize_t)sizeof mine ? 0 : 1);
    }
    close(fds[1]);

    result got;
    ssize_t n = -1;
    int timed_out = 0;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    int ready;
    do {
        ready = poll(&pfd, 1, (int)(child_timeout_s * 1000));
    } while (ready < 0 && errno == EINTR);
    if (ready > 0) {
        do {
            n = read(fds[0], &got, sizeof got);
        } while (n < 0 && errno == EINTR);
    } else {
        timed_out = 1;
        kill(pid, SIGKILL);
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }

    if (!timed_out && n == (ssize_t)sizeof got && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        *r = got;
        return 1;
    }
    if (timed_out)
        fprintf(stderr, "alloc: %s, %zu bytes: no result after %ld s; child killed\n",
                contender_names[who], size, child_timeout_s);
    else if (WIFSIGNALED(status))
        fprintf(stderr, "alloc: %s, %zu bytes: child killed by signal %d (%s)\n",
                contender_names[who], size, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        fprintf(stderr, "alloc: %s, %zu bytes: child failed (exit status %d)\n",
                contender_names[who], size, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}

static long env_long(const char *name, long dflt, long lo, long hi)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "alloc: %s=%s is not an integer in [%ld, %ld]; using %ld\n", name, s, lo,
                hi, dflt);
        return dflt;
    }
    return v;
}

static void print_ns(const result *r, int fresh)
{
    if (!r->ok)
        printf(" n/a |");
    else
        printf(" %.1f |", fresh ? r->fresh_ns : r->warm_ns);
}

static void print_ratio(const result *a, const result *b, int fresh)
{
    if (!a->ok || !b->ok)
        printf(" n/a |");
    else if (fresh)
        printf(" %.2f |", a->fresh_ns / b->fresh_ns);
    else
        printf(" %.2f |", a->warm_ns / b->warm_ns);
}

static void print_time_table(result best[NSIZES][NCONTENDERS], int fresh)
{
    printf("| size |");
    for (int c = 0; c < NCONTENDERS; c++)
        printf(" %s ns |", contender_names[c]);
    for (int c = 1; c < NCONTENDERS; c++)
        printf(" tricolor/%s |", contender_names[c]);
    printf("\n|---:|");
    for (int c = 1; c < 2 * NCONTENDERS; c++)
        printf("---:|");
    printf("\n");
    for (int s = 0; s < NSIZES; s++) {
        printf("| %zu |", sizes[s]);
        for (int c = 0; c < NCONTENDERS; c++)
            print_ns(&best[s][c], fresh);
        for (int c = 1; c < NCONTENDERS; c++)
            print_ratio(&best[s][TRICOLOR], &best[s][c], fresh);
        printf("\n");
    }
}

static void print_fault_table(result best[NSIZES][NCONTENDERS], size_t batch_bytes)
{
    printf("| size | objects per batch |");
    for (int fresh = 0; fresh < 2; fresh++) {
        for (int c = 0; c < NCONTENDERS; c++)
            printf(" %s %s |", contender_names[c], fresh ? "fresh" : "warm");
    }
    printf("\n|---:|---:|");
    for (int c = 0; c < 2 * NCONTENDERS; c++)
        printf("---:|");
    printf("\n");
    for (int s = 0; s < NSIZES; s++) {
        printf("| %zu | %zu |", sizes[s], batch_bytes / sizes[s]);
        for (int fresh = 0; fresh < 2; fresh++) {
            for (int c = 0; c < NCONTENDERS; c++) {
                const result *r = &best[s][c];
                if (!r->ok)
                    printf(" n/a |");
                else
                    printf(" %ld |", fresh ? r->fresh_faults : r->warm_faults);
            }
        }
        printf("\n");
    }
}

int main(void)
{
    long batch_mib = env_long("ALLOC_BATCH_MIB", 64, 1, 4096);
    long rounds = env_long("ALLOC_ROUNDS", 3, 1, 100);
    verbose = (int)env_long("ALLOC_VERBOSE", 0, 0, 1);
    find_glibc_malloc();
    size_t batch_bytes = (size_t)batch_mib << 20;

    child_timeout_s = env_long("ALLOC_CHILD_TIMEOUT", 120, 1, 3600);
    static result best[NSIZES][NCONTENDERS];
    int failed[NCONTENDERS] = {0};
    int tricolor_reused = 1, tricolor_ran = 0;
    uint64_t tricolor_min_frees = UINT64_MAX;

    for (long round = 0; round < rounds; round++) {
        for (int s = 0; s < NSIZES; s++) {
            for (int c = 0; c < NCONTENDERS; c++) {
                /* Rotate the order, so no contender always runs first or last. */
                int who = (int)((c + round + s) % NCONTENDERS);
                if (failed[who])
                    continue;
                result r;
                if (!measure_in_child(who, sizes[s], batch_bytes, &r)) {
                    /* It would most likely fail again: leave it out from here on. */
                    fprintf(stderr, "alloc: leaving %s out of the remaining measurements\n",
                            contender_names[who]);
                    failed[who] = 1;
                    continue;
                }
                result *b = &best[s][who];
                if (who == TRICOLOR) {
                    tricolor_ran = 1;
                    tricolor_reused &= r.warm_reused;
                    if (r.gc_frees < tricolor_min_frees)
                        tricolor_min_frees = r.gc_frees;
                }
                if (!b->ok) {
                    *b = r;
                    continue;
                }
                if (r.fresh_ns < b->fresh_ns) {
                    b->fresh_ns = r.fresh_ns;
                    b->fresh_faults = r.fresh_faults;
                }
                if (r.warm_ns < b->warm_ns) {
                    b->warm_ns = r.warm_ns;
                    b->warm_faults = r.warm_faults;
                }
            }
        }
    }

    printf("# alloc: nanoseconds per allocation\n\n");
    printf("Batches of %ld MiB per size; best of %ld rounds (warm: best of %d batches per "
           "round). Ratios above 1: tricolor is slower.\n\n",
           batch_mib, rounds, WARM_REPS);

    printf("## warm: a released batch's memory, reused\n\n");
    for (int c = 0; c < NCONTENDERS; c++) {
        if (failed[c])
            printf("**Note: %s failed (crashed, hung or exited with an error; see stderr) and "
                   "was left out from then on: its n/a cells are missing results.**\n\n",
                   contender_names[c]);
    }
    if (tricolor_ran && !tricolor_reused) {
        printf("**Note: gc_collect() freed fewer than half of a dropped batch (as few as %llu "
               "objects), so tricolor's warm figures are on fresh memory, not reused memory; "
               "compare its warm page faults below.**\n\n",
               (unsigned long long)tricolor_min_frees);
    }
    print_time_table(best, 0);

    printf("\n## fresh: the first batch, on memory never touched\n\n");
    print_time_table(best, 1);

    printf("\n## page faults per batch (warm: the best batch; 0 means it really was warm)\n\n");
    print_fault_table(best, batch_bytes);

    printf("\nNotes: gc_alloc returns zeroed memory, malloc and mi_malloc do not; calloc(1, size) "
           "and mi_zalloc do, so tricolor/calloc and tricolor/mi_zalloc compare like with like. "
           "tricolor runs with GOGC=off. glibc's malloc/calloc/free are called through pointers "
           "from dlsym (libmimalloc interposes malloc in this process), with M_TRIM_THRESHOLD "
           "raised so glibc keeps freed memory. mimalloc runs with its defaults.\n");
    for (int c = 0; c < NCONTENDERS; c++) {
        if (failed[c])
            return 1;
    }
    return 0;
}
