/*
 * stress_api: every public entry point, called over and over from a control
 * thread while allocating threads come and go, under a watchdog.
 *
 * The lock rule (runtime/lock.h) says that no thread the collector stops may
 * hold a runtime lock. An entry point that breaks it hangs the process: its
 * caller is stopped holding, say, the heap lock; an allocating thread
 * waits for that lock inside the runtime, where it cannot be stopped; and
 * the stop waits for the allocating thread forever. Such a hang needs the
 * stop to land at the wrong instruction, so this program makes stops land
 * everywhere: cycles back to back (GOGC=10 and gc_collect), stops for
 * gc_read_memstats, and every other entry point in a loop beside them.
 *
 *  - ALLOCATORS registered threads allocate small, large and noscan objects
 *    into lists with checksums, verify them, and exit after a random number
 *    of rounds (some unregister first, some leave it to the thread-exit
 *    hook); the main thread starts a replacement for each that exits.
 *  - The control thread calls, in turn: gc_collect, gc_free_os_memory,
 *    gc_read_memstats (and checks its identities), gc_set_percent,
 *    gc_set_memory_limit, gc_add_roots and gc_remove_roots on a malloc'd
 *    block holding the only pointer to an object, gc_base and gc_size on
 *    interior pointers, gc_memmove and gc_memclr, gc_write_ptr,
 *    gc_thread_register/unregister on a short-lived thread, and a blocking
 *    region (gc_enter_blocking/gc_leave_blocking) around a sleep.
 *  - The watchdog, an unregistered thread (so never stopped), checks that
 *    the control thread and the allocators make progress. After 10 s
 *    without, it prints every thread's backtrace (gdb, when installed; else
 *    each thread's state and kernel wait channel) and aborts.
 *
 *   stress_api [seconds] [free-os | cooperative]
 * "free-os" is the minimal reproducer of the gc_free_os_memory deadlock:
 * the control thread calls gc_free_os_memory alone, in a loop.
 * "cooperative" runs with gc_options.cooperative = 1: the allocators poll
 * gc_safepoint() per item verified, and the program's own waits (sleeps,
 * joins) are blocking regions. The program
 * ends with "stress_api: N control rounds, M allocator rounds, E errors".
 */
#include <errno.h>
#include <pthread.h>
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include <tricolor.h>

#define ALLOCATORS    3
#define LIST_LEN      256
#define STALL_SECONDS 10
#define SHOW_ERRORS   20
#define LARGE_BYTES   (40 << 10)
#define CLOBBER64     0xdeadbeefdeadbeefull

struct item {
    struct item *next;
    uint64_t id, check;
    unsigned char *payload; /* noscan bytes, all equal to (unsigned char)id */
    size_t payload_len;
};

static volatile unsigned long control_rounds, allocator_rounds, errors;
static volatile int stop_all;
static int free_os_only;
static gc_options init_options; /* .cooperative from the command line */

/* The program's own waits: in cooperative mode inside a blocking region,
 * or a stop would wait for them. */
static void wait_begin(void)
{
    if (init_options.cooperative)
        gc_enter_blocking();
}

static void wait_end(void)
{
    if (init_options.cooperative)
        gc_leave_blocking();
}

static void report(const char *fmt, ...)
{
    unsigned long n = __atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
    if (n > SHOW_ERRORS)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "stress_api: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static uint64_t checksum(uint64_t id)
{
    return id * 0x9E3779B97F4A7C15ull ^ 0x510e527fade682d1ull;
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Allocating threads --------------------------------------------------- */

static struct item *make_item(uint64_t id, uint64_t *rng)
{
    struct item *it = gc_alloc(sizeof *it);
    it->id = id;
    it->check = checksum(id);
    size_t len = next_random(rng) % 8 == 0 ? LARGE_BYTES : 16 + next_random(rng) % 2000;
    unsigned char *p = gc_alloc_noscan(len);
    memset(p, (int)(id & 0xff), len);
    it->payload_len = len;
    gc_write_ptr(&it->payload, p);
    return it;
}

static void verify_list(const struct item *head, size_t expect)
{
    size_t n = 0;
    for (const struct item *it = head; it; it = it->next, n++) {
        gc_safepoint();
        if (it->check != checksum(it->id) || it->id == CLOBBER64) {
            report("item %p corrupt: id %llx check %llx", (const void *)it,
                   (unsigned long long)it->id, (unsigned long long)it->check);
            return;
        }
        const unsigned char *p = it->payload;
        if (p[0] != (unsigned char)it->id || p[it->payload_len - 1] != (unsigned char)it->id) {
            report("payload of item %llx clobbered", (unsigned long long)it->id);
            return;
        }
    }
    if (n != expect)
        report("a list lost items: %zu of %zu", n, expect);
}

struct allocator {
    pthread_t thread;
    volatile int done;
    uint64_t seed;
};

static void *allocator_main(void *arg)
{
    struct allocator *a = arg;
    if (gc_thread_register() != 0) {
        report("gc_thread_register failed");
        a->done = 1;
        return NULL;
    }
    uint64_t rng = a->seed | 1;
    struct item *head = NULL;
    size_t len = 0;
    uint64_t id = a->seed << 20;
    unsigned rounds = 20 + (unsigned)(next_random(&rng) % 200);
    for (unsigned r = 0; r < rounds && !stop_all; r++) {
        /* Replace the list's oldest half with new items. */
        struct item *fresh = NULL;
        for (size_t i = 0; i < LIST_LEN / 2; i++) {
            struct item *it = make_item(id++, &rng);
            gc_write_ptr(&it->next, fresh);
            fresh = it;
        }
        size_t keep = len < LIST_LEN / 2 ? len : LIST_LEN / 2;
        struct item *tail = fresh;
        while (tail->next)
            tail = tail->next;
        struct item *old = head;
        for (size_t i = 1; i < keep && old; i++)
            old = old->next;
        if (keep > 0 && old)
            gc_write_ptr(&old->next, NULL);
        gc_write_ptr(&tail->next, keep > 0 ? head : NULL);
        head = fresh;
        len = LIST_LEN / 2 + keep;
        verify_list(head, len);
        /* Garbage, to keep cycles coming. */
        for (int i = 0; i < 64; i++)
            (void)gc_alloc(64 + (size_t)(next_random(&rng) % 512));
        __atomic_add_fetch(&allocator_rounds, 1, __ATOMIC_RELAXED);
    }
    verify_list(head, len);
    /* Half of them unregister; the rest exit registered and the thread-exit
     * hook unregisters them. */
    if (rng & 2)
        gc_thread_unregister();
    a->done = 1;
    return NULL;
}

/* ---- The control thread --------------------------------------------------- */

static void check_memstats(void)
{
    gc_memstats *m = malloc(sizeof *m);
    if (m == NULL)
        abort();
    gc_read_memstats(m);
    if (m->heap_idle + m->heap_inuse != m->heap_sys)
        report("memstats: heap_idle + heap_inuse != heap_sys");
    if (m->heap_objects != m->mallocs - m->frees)
        report("memstats: heap_objects != mallocs - frees");
    if (m->heap_released > m->heap_idle)
        report("memstats: heap_released > heap_idle");
    free(m);
}

/* A short-lived thread that registers, allocates and unregisters. */
static void *visitor_main(void *arg)
{
    (void)arg;
    if (gc_thread_register() != 0) {
        report("visitor: gc_thread_register failed");
        return NULL;
    }
    void *p = gc_alloc(100);
    if (gc_base((char *)p + 50) != p)
        report("visitor: gc_base of an interior pointer is wrong");
    if (gc_thread_unregister() != 0)
        report("visitor: gc_thread_unregister failed");
    return NULL;
}

static void control_round(unsigned k, uint64_t *rng)
{
    if (free_os_only) {
        gc_free_os_memory();
        return;
    }
    switch (k % 11) {
    case 0:
        gc_collect();
        break;
    case 1:
        gc_free_os_memory();
        break;
    case 2:
        check_memstats();
        break;
    case 3: {
        int old = gc_set_percent(k % 20 == 3 ? 50 : 10);
        if (old != 10 && old != 50)
            report("gc_set_percent returned %d", old);
        break;
    }
    case 4: {
        int64_t limit = gc_set_memory_limit(-1);
        gc_set_memory_limit(limit == INT64_MAX ? (int64_t)64 << 20 : INT64_MAX);
        gc_set_memory_limit(limit);
        break;
    }
    case 5: {
        /* A malloc'd block holds the only pointer to an object. */
        void **block = calloc(16, sizeof(void *));
        if (block == NULL)
            abort();
        gc_add_roots(block, block + 16);
        uint64_t *obj = gc_alloc(64);
        obj[0] = 0x1234567;
        block[7] = obj;
        obj = NULL;
        gc_collect();
        if (((uint64_t *)block[7])[0] != 0x1234567)
            report("an object held by gc_add_roots was freed");
        gc_remove_roots(block, block + 16);
        free(block);
        break;
    }
    case 6: {
        size_t n = 16 + (size_t)(next_random(rng) % 100000);
        char *p = gc_alloc(n);
        size_t off = (size_t)(next_random(rng) % n);
        if (gc_base(p + off) != p || gc_size(p + off) < n)
            report("gc_base/gc_size of %p + %zu (of %zu) wrong", (void *)p, off, n);
        break;
    }
    case 7: {
        void **a = gc_alloc(32 * sizeof(void *)), **b = gc_alloc(32 * sizeof(void *));
        for (int i = 0; i < 32; i++)
            gc_write_ptr(&a[i], gc_alloc(16));
        gc_memmove(b, a, 32 * sizeof(void *));
        gc_memclr(a, 32 * sizeof(void *));
        for (int i = 0; i < 32; i++)
            if (b[i] == NULL || a[i] != NULL)
                report("gc_memmove/gc_memclr lost a pointer");
        break;
    }
    case 8: {
        pthread_t th;
        if (pthread_create(&th, NULL, visitor_main, NULL) == 0) {
            wait_begin();
            pthread_join(th, NULL);
            wait_end();
        }
        break;
    }
    case 9:
        /* gc_init again is a no-op. */
        if (gc_init(&init_options) != 0)
            report("a second gc_init failed");
        break;
    case 10: {
        /* A blocking region around a short sleep: stops claim it. */
        struct timespec ts = {0, 1000000};
        gc_enter_blocking();
        nanosleep(&ts, NULL);
        gc_leave_blocking();
        break;
    }
    }
}

static void *control_main(void *arg)
{
    (void)arg;
    if (gc_thread_register() != 0) {
        report("control: gc_thread_register failed");
        return NULL;
    }
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (unsigned k = 0; !stop_all; k++) {
        control_round(k, &rng);
        __atomic_add_fetch(&control_rounds, 1, __ATOMIC_RELAXED);
    }
    gc_thread_unregister();
    return NULL;
}

/* ---- The watchdog ----------------------------------------------------------- */

/* Every thread's backtrace on stderr: gdb attached to this process, when it
 * is installed; else what /proc says of each thread. posix_spawn, not fork:
 * fork runs the runtime's atfork handlers, which wait for the very cycle
 * that hangs. */
static void dump_threads(void)
{
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    char *gdb_argv[] = {"gdb",
                        "-p",
                        pid,
                        "-batch",
                        "-nx",
                        "-ex",
                        "set pagination off",
                        "-ex",
                        "thread apply all bt",
                        NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, STDERR_FILENO, STDOUT_FILENO);
    pid_t child;
    int status = 0;
    if (posix_spawnp(&child, "gdb", &fa, NULL, gdb_argv, environ) == 0 &&
        waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return;
    fprintf(stderr, "stress_api: no gdb; each thread's state, wait channel and system call:\n");
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[320], stat[256] = "", wchan[64] = "", sys[64] = "";
        const char *names[] = {"stat", "wchan", "syscall"};
        char *bufs[] = {stat, wchan, sys};
        size_t sizes[] = {sizeof stat, sizeof wchan, sizeof sys};
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "/proc/self/task/%s/%s", e->d_name, names[i]);
            FILE *f = fopen(path, "r");
            if (f) {
                if (fgets(bufs[i], (int)sizes[i], f) == NULL)
                    bufs[i][0] = '\0';
                fclose(f);
            }
            bufs[i][strcspn(bufs[i], "\n")] = '\0';
        }
        fprintf(stderr, "  thread %s: %s; wchan %s; syscall %s\n", e->d_name, stat, wchan, sys);
    }
    if (d)
        closedir(d);
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    unsigned long last_control = 0, last_alloc = 0;
    double control_at = now_seconds(), alloc_at = control_at;
    while (!stop_all) {
        sleep(1);
        double t = now_seconds();
        unsigned long c = control_rounds, a = allocator_rounds;
        if (c != last_control) {
            last_control = c;
            control_at = t;
        }
        if (a != last_alloc) {
            last_alloc = a;
            alloc_at = t;
        }
        const char *who = t - control_at > STALL_SECONDS ? "the control thread"
                          : t - alloc_at > STALL_SECONDS ? "the allocating threads"
                                                         : NULL;
        if (who) {
            fprintf(stderr, "stress_api: no progress by %s for %d s: a deadlock\n", who,
                    STALL_SECONDS);
            dump_threads();
            abort();
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    free_os_only = argc > 2 && strcmp(argv[2], "free-os") == 0;
    init_options.cooperative = argc > 2 && strcmp(argv[2], "cooperative") == 0;
    setvbuf(stderr, NULL, _IOLBF, 0);
    if (gc_init(&init_options) != 0)
        return 1;
    if (!free_os_only)
        gc_set_percent(10);

    pthread_t watchdog, control;
    pthread_create(&watchdog, NULL, watchdog_main, NULL);
    pthread_create(&control, NULL, control_main, NULL);
    struct allocator allocators[ALLOCATORS];
    uint64_t seed = 1;
    for (int i = 0; i < ALLOCATORS; i++) {
        allocators[i] = (struct allocator){.seed = seed++};
        pthread_create(&allocators[i].thread, NULL, allocator_main, &allocators[i]);
    }
    /* Replace each allocating thread that exits. The main thread is
     * registered: it waits stoppable, in nanosleep and pthread_join. */
    unsigned long replaced = 0;
    double end = now_seconds() + seconds;
    while (now_seconds() < end) {
        struct timespec ts = {0, 5000000};
        wait_begin();
        nanosleep(&ts, NULL);
        wait_end();
        for (int i = 0; i < ALLOCATORS; i++) {
            if (!allocators[i].done)
                continue;
            wait_begin();
            pthread_join(allocators[i].thread, NULL);
            wait_end();
            allocators[i] = (struct allocator){.seed = seed++};
            pthread_create(&allocators[i].thread, NULL, allocator_main, &allocators[i]);
            replaced++;
        }
    }
    stop_all = 1;
    wait_begin();
    for (int i = 0; i < ALLOCATORS; i++)
        pthread_join(allocators[i].thread, NULL);
    pthread_join(control, NULL);
    pthread_join(watchdog, NULL);
    wait_end();
    if (control_rounds == 0 || allocator_rounds == 0)
        report("nothing ran: %lu control rounds, %lu allocator rounds", control_rounds,
               allocator_rounds);
    fprintf(stderr,
            "stress_api: %lu control rounds, %lu allocator rounds, %lu threads replaced, "
            "%lu errors\n",
            control_rounds, allocator_rounds, replaced, errors);
    return errors ? 1 : 0;
}
