/*
 * Capturing what the runtime writes to stderr (fd 2: runtime_warn, fatal
 * errors and trace lines are single write(2) calls there), for the suites
 * that check messages and trace lines.
 *
 * capture_begin points fd 2 at a temporary file; capture_end puts fd 2 back
 * and returns what was written meanwhile, NUL-terminated, in a buffer that
 * the next capture reuses. read_all reads a whole file into that buffer (a
 * child's stderr, say); count_lines counts a capture's lines.
 */
#ifndef TRICOLOR_TESTS_CAPTURE_H
#define TRICOLOR_TESTS_CAPTURE_H

#include <check.h>
#include <stdio.h>
#include <unistd.h>

static char captured[16384];
static int saved_fd = -1;
static FILE *capture_file;

/* Reads what f holds, from its start, into captured. */
static __attribute__((unused)) const char *read_all(FILE *f)
{
    rewind(f);
    size_t n = fread(captured, 1, sizeof captured - 1, f);
    captured[n] = '\0';
    return captured;
}

static __attribute__((unused)) void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    ck_assert_ptr_nonnull(capture_file);
    saved_fd = dup(2);
    ck_assert_int_ge(saved_fd, 0);
    ck_assert_int_eq(dup2(fileno(capture_file), 2), 2);
}

static __attribute__((unused)) const char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_fd, 2);
    close(saved_fd);
    saved_fd = -1;
    const char *s = read_all(capture_file);
    fclose(capture_file);
    capture_file = NULL;
    return s;
}

/* For a fixture's teardown: if a test failed while capturing, put fd 2 back
 * and drop the capture. */
static __attribute__((unused)) void capture_abandon(void)
{
    if (saved_fd >= 0) {
        dup2(saved_fd, 2);
        close(saved_fd);
        saved_fd = -1;
    }
    if (capture_file != NULL) {
        fclose(capture_file);
        capture_file = NULL;
    }
}

/* The number of lines in s (its newlines). */
static __attribute__((unused)) int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

#endif
