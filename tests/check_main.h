/*
 * The end of every suite's main(): run one Check suite and turn its result
 * into the exit status.
 *
 *   return run_suite(alloc_suite(), CK_FORK_GETENV);
 *
 * fork_status is Check's: CK_FORK_GETENV leaves the choice to CK_FORK (the
 * meson tests set CK_FORK=no), CK_NOFORK runs every test in this process
 * whatever CK_FORK says (for suites whose tests share state by design). The
 * output is Check's CK_NORMAL report; the status is EXIT_SUCCESS when no
 * test failed, EXIT_FAILURE otherwise.
 */
#ifndef TRICOLOR_TESTS_CHECK_MAIN_H
#define TRICOLOR_TESTS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static __attribute__((unused)) int run_suite(Suite *s, enum fork_status fork_status)
{
    SRunner *sr = srunner_create(s);
    if (fork_status != CK_FORK_GETENV)
        srunner_set_fork_status(sr, fork_status);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
