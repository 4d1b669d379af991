/*
 * Child processes for the suites whose failures would hang or crash the
 * suite itself: the test runs this very program again (through
 * /proc/self/exe, with arguments that main() recognises before it starts
 * Check), or forks, and judges the child by its wait status.
 *
 * A fresh process rather than a plain fork where the runtime must start from
 * nothing, and because forking a process whose threads may be inside malloc
 * is unsafe under some sanitizers. Every child is killed if it has not ended
 * by its deadline: a stopped world blocks every signal but SIGKILL.
 */
#ifndef TRICOLOR_TESTS_CHILD_H
#define TRICOLOR_TESTS_CHILD_H

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

/* Waits for the child pid for at most seconds, on the clock (a registered
 * thread's sleeps are cut short by the collector's stop signals); kills it
 * if it is still running then. Returns its wait status; *hung says whether
 * it had to be killed. */
static UNUSED int child_wait(pid_t pid, double seconds, int *hung)
{
    *hung = 0;
    int status;
    for (double end = now_s() + seconds; now_s() < end;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        ck_assert_msg(r == 0 || errno == EINTR, "waitpid: %s", strerror(errno));
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    *hung = 1;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

/* Runs this program again as argv (argv[0] is its name, the list ends with
 * NULL), with core dumps off and, when err is not NULL, its stderr sent to
 * err. Waits for it as child_wait does. */
static UNUSED int run_self(const char *const argv[], FILE *err, double seconds, int *hung)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        if (err != NULL)
            dup2(fileno(err), 2);
        execv("/proc/self/exe", (char *const *)argv);
        _exit(127);
    }
    return child_wait(pid, seconds, hung);
}

/* A child the program can be run again as: "PROGRAM --child NAME". */
struct child {
    const char *name;
    int (*fn)(void);
};

/* main()'s first step in a suite with children: with "--child NAME", runs
 * that child and returns 1 with its status in *status (2 for an unknown
 * name); otherwise returns 0 and the suite runs. */
static UNUSED int child_dispatch(int argc, char **argv, const struct child *children, size_t n,
                                 int *status)
{
    if (argc != 3 || strcmp(argv[1], "--child") != 0)
        return 0;
    *status = 2;
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[2], children[i].name) == 0)
            *status = children[i].fn();
    return 1;
}

#endif
