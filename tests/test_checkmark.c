/*
 * gccheckmark reports what the concurrent mark was obliged to find, and
 * nothing else (runtime/checkmark.h). Run with GODEBUG=gccheckmark=1.
 *
 * - Integers that look like the addresses of dead objects, stored without
 *   a barrier (as the rules allow for non-pointers) into objects allocated
 *   black during marking and into objects already scanned, are no lost
 *   objects: the check must stay silent.
 *   The same once more in a mark window (tests/mark_window.h), where the
 *   integer certainly lands in an object allocated black while marking:
 *   the race above often has the old objects scanned only after their
 *   stores.
 * - An object the mark really lost (its mark bit cleared behind the
 *   collector's back after the only object pointing to it was scanned) is
 *   still reported, with the message naming it.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tricolor.h>

#include "gc.h"
#include "heap.h"
#include "mark_window.h"
#include "span.h"
#include "support.h"

#define DEAD      256 /* objects made garbage whose addresses are kept */
#define NEW       512 /* objects allocated while marking */
#define ROUNDS    40
#define CHILD_RUN 77 /* the child's exit status when a round was inconclusive */

static int phase_is_mark(void)
{
    return atomic_load(&cycle_phase) == PHASE_MARK;
}

static void *collector_thread(void *arg)
{
    (void)arg;
    gc_thread_register();
    gc_collect();
    gc_thread_unregister();
    return NULL;
}

/* The addresses of DEAD objects that nothing points to any more, kept in
 * malloc'd memory, which the collector does not scan. */
static NOINLINE uintptr_t *make_dead(void)
{
    uintptr_t *addr = malloc(DEAD * sizeof *addr);
    ck_assert_ptr_nonnull(addr);
    void **holder = calloc(DEAD, sizeof *holder);
    gc_add_roots(holder, holder + DEAD);
    for (int i = 0; i < DEAD; i++) {
        holder[i] = gc_alloc(48);
        addr[i] = (uintptr_t)holder[i] + 8 * (unsigned)(i % 6); /* interior too */
    }
    gc_remove_roots(holder, holder + DEAD);
    memset(holder, 0, DEAD * sizeof *holder);
    free(holder);
    return addr;
}

/* Objects reachable from here: a global root. */
static uintptr_t **live_new, **live_old;

/* A live linked list, also held from a global: its nodes can only be
 * scanned one after the other, so each mark lasts a while (a millisecond
 * or so) whatever the number of CPUs, and the test's stores land inside
 * it. Without it the mark of this small heap can end before the stores
 * begin, now that the end of marking is noticed at once. */
#define BALLAST 20000
static void **ballast;

static void make_ballast(void)
{
    for (int i = 0; i < BALLAST; i++) {
        void **node = gc_alloc(2 * sizeof(void *));
        gc_write_ptr(&node[0], ballast);
        ballast = node;
    }
}

START_TEST(integers_that_look_like_pointers_are_not_reported)
{
    int during_mark = 0;
    make_ballast();
    live_old = gc_alloc(DEAD * sizeof(void *));
    for (int i = 0; i < DEAD; i++)
        gc_write_ptr(&live_old[i], gc_alloc(64));
    for (int round = 0; round < ROUNDS; round++) {
        uintptr_t *dead = make_dead();
        clear_stack();
        clear_registers();
        pthread_t th;
        live_new = gc_alloc(NEW * sizeof(void *));
        pthread_create(&th, NULL, collector_thread, NULL);
        while (!phase_is_mark() && atomic_load(&cycle_phase) == PHASE_OFF) {
            struct timespec ts = {0, 10000};
            nanosleep(&ts, NULL);
        }
        int marking = phase_is_mark();
        for (int i = 0; i < NEW; i++) {
            /* Allocated black; the integer goes in with a plain store. */
            uintptr_t *o = gc_alloc(32);
            o[1] = dead[i % DEAD];
            gc_write_ptr(&live_new[i], o);
        }
        /* Old objects, most of them scanned by now, get integers too. */
        for (int i = 0; i < DEAD; i++)
            live_old[i][2] = dead[(i + 7) % DEAD];
        if (marking && phase_is_mark())
            during_mark++;
        pthread_join(th, NULL);
        free(dead);
        /* Back to plain integers for the next round: no stale copies. */
        for (int i = 0; i < DEAD; i++)
            live_old[i][2] = 0;
    }
    collect(); /* and once more, with the rounds' objects old */
    /* Reaching here means no checkmark abort; the stores must have landed
     * inside marks for that to mean anything. */
    ck_assert_msg(during_mark >= ROUNDS / 4, "only %d of %d rounds stored while marking",
                  during_mark, ROUNDS);
}
END_TEST

/* The same in a mark window (mark_window.h), where the order is certain:
 * the integer goes, with a plain store, into an object allocated black
 * while marking, which the mark never scans. The second mark reads it as
 * it is now; the mark was not obliged to follow it, so the check must stay
 * silent (a report aborts this process). */
/* 1: p is in an allocated object with its mark bit set; 0: clear; -1: p is
 * in no allocated object. Asserts nothing: it runs inside a mark window,
 * which a failed assertion would leave open. */
static NOINLINE int mark_state(uintptr_t p)
{
    struct mspan *s;
    unsigned idx;
    if (find_object(p, &s, &idx) == 0)
        return -1;
    return bit_is_set((const AO_t *)s->gcmark_bits, idx);
}

START_TEST(an_integer_in_a_black_object_is_not_reported)
{
    int old = gc_set_percent(-1);
    gc_collect();
    void **root = gc_alloc(sizeof(void *));
    live_new = (uintptr_t **)root;
    int stored = 0;
    for (int tries = 0; tries < 50 && !stored; tries++) {
        /* Fresh dead objects each time: a cycle frees the last ones. */
        uintptr_t *dead = make_dead();
        clear_stack();
        clear_registers();
        if (!mark_window_open()) {
            free(dead);
            gc_collect();
            continue;
        }
        uintptr_t *o = gc_alloc(32);
        stored = mark_state((uintptr_t)o) == 1 && mark_state(dead[0]) == 0;
        o[1] = dead[0];
        gc_write_ptr(root, o);
        mark_window_close();
        gc_collect();
        free(dead);
    }
    live_new = NULL;
    gc_set_percent(old);
    ck_assert_msg(stored, "no integer was stored into a black object while marking in 50 tries");
}
END_TEST

/* ---- A lost object, in a child --------------------------------------------- */

static struct holder {
    void *target;
} * lost_holder;
static uintptr_t *lost_addr;         /* malloc'd: not scanned */
static volatile int lost_cleared;    /* 1: inside the mark; -1: too late */
static volatile int lost_cycle_done; /* the child's cycle is over */

/* Unregistered, so its stack is no root and it is never stopped: waits for
 * the target to be marked, then clears its mark bit while the mark still
 * runs, as a collector bug would. */
static void *unmarker(void *arg)
{
    (void)arg;
    while (!lost_cycle_done) {
        uintptr_t p = *lost_addr;
        struct mspan *s;
        unsigned idx;
        if (phase_is_mark() && find_object(p, &s, &idx) && bit_is_set(s->gcmark_bits, idx)) {
            AO_t mask = (AO_t)1 << (idx % 64);
            atomic_and(&s->gcmark_bits[idx / 64], ~mask);
            /* The phase was PHASE_MARK before the clear and after it: the
             * clear happened before mark termination began. */
            lost_cleared = phase_is_mark() ? 1 : -1;
            return NULL;
        }
    }
    return NULL;
}

static NOINLINE void setup_lost(void)
{
    lost_holder = gc_alloc(sizeof *lost_holder);
    void *target = gc_alloc_noscan(64);
    *lost_addr = (uintptr_t)target;
    gc_write_ptr(&lost_holder->target, target);
}

/* Exits 0 never: aborts if the check catches the lost object, 1 if it did
 * not, CHILD_RUN if the bit could not be cleared inside the mark. */
static int child_lost_object(void)
{
    gc_init(NULL);
    lost_addr = malloc(sizeof *lost_addr);
    setup_lost();
    clear_stack();
    clear_registers();
    pthread_t th;
    pthread_create(&th, NULL, unmarker, NULL);
    gc_collect();
    lost_cycle_done = 1;
    pthread_join(th, NULL);
    if (lost_cleared != 1)
        return CHILD_RUN;
    fprintf(stderr, "test_checkmark: the lost object was not reported\n");
    return 1;
}

static int run_lost_child(char **err)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(fileno(f), 2);
        execl("/proc/self/exe", "test_checkmark", "--lost-object", (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    long n = ftell(f);
    *err = calloc(1, (size_t)n + 1);
    rewind(f);
    if (n > 0 && fread(*err, 1, (size_t)n, f) != (size_t)n)
        (*err)[0] = '\0';
    fclose(f);
    return status;
}

START_TEST(a_lost_object_is_reported)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        char *err;
        int status = run_lost_child(&err);
        if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_RUN) {
            free(err);
            continue; /* the bit was cleared too late to tell: again */
        }
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                      "the lost object was not reported (status %#x); stderr: %s", status, err);
        ck_assert_msg(strstr(err, "reachable but was not marked") != NULL,
                      "the report does not say what was lost: %s", err);
        free(err);
        return;
    }
    ck_abort_msg("20 attempts could not clear the mark bit inside a mark");
}
END_TEST

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--lost-object") == 0)
        return child_lost_object();
    gc_init(NULL);
    Suite *s = suite_create("checkmark");
    TCase *tc = tcase_create("checkmark");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, integers_that_look_like_pointers_are_not_reported);
    tcase_add_test(tc, an_integer_in_a_black_object_is_not_reported);
    tcase_add_test(tc, a_lost_object_is_reported);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
