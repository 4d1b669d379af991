/*
 * Knob parsing (runtime/knobs.c): the parsers' accepted and rejected inputs,
 * GODEBUG, and knobs_load's precedence and messages.
 *
 * Safe under CK_FORK=no: every test starts and ends with the knob variables
 * unset, and stderr is restored before any assertion runs.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "check_main.h"
#include "knobs.h"

/* Every variable a test may set; cleared before and after each test. */
static const char *const env_vars[] = {
    "GOGC",      "GOMEMLIMIT",      "GODEBUG",      "GOMAXPROCS",      "GCPROCS",
    "MYVM_GOGC", "MYVM_GOMEMLIMIT", "MYVM_GODEBUG", "MYVM_GOMAXPROCS", "MYVM_GCPROCS",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
}

static void setup(void)
{
    clear_env();
}

static void teardown(void)
{
    capture_abandon();
    clear_env();
}

/* ---- GOGC ---- */

START_TEST(gogc_good)
{
    static const struct {
        const char *in;
        int want;
    } cases[] = {
        {"50", 50},          {"0", 0},   {"100", 100}, {"0100", 100}, {"off", -1},
        {"-5", -1},          {"-1", -1}, {"-0", 0},    {"", 100},     {"2147483647", INT_MAX},
        {"-2147483648", -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int v = 12345;
        ck_assert_msg(parse_gogc(cases[i].in, &v) == 0, "parse_gogc(\"%s\") failed", cases[i].in);
        ck_assert_msg(v == cases[i].want, "parse_gogc(\"%s\") = %d, want %d", cases[i].in, v,
                      cases[i].want);
    }
}
END_TEST

START_TEST(gogc_bad)
{
    static const char *const cases[] = {
        "abc",        "12x",         "99999999999999999999",
        "2147483648", "-2147483649", " 50",
        "50 ",        "+5",          "-",
        "OFF",        "of",          "off ",
        "1e3",        "5.0",         "0x10",
        "--5",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int v = 12345;
        ck_assert_msg(parse_gogc(cases[i], &v) == -1, "parse_gogc(\"%s\") accepted", cases[i]);
        ck_assert_msg(v == 12345, "parse_gogc(\"%s\") changed *out on failure", cases[i]);
    }
}
END_TEST

/* ---- GOMEMLIMIT ---- */

START_TEST(limit_good)
{
    static const struct {
        const char *in;
        int64_t want;
    } cases[] = {
        {"1024", 1024},
        {"0", 0},
        {"1B", 1},
        {"0B", 0},
        {"10KiB", 10240},
        {"100MiB", 100LL << 20},
        {"1GiB", 1LL << 30},
        {"2TiB", 2LL << 40},
        {"007MiB", 7LL << 20},
        {"off", INT64_MAX},
        {"", INT64_MAX},
        {"9223372036854775807", INT64_MAX},
        {"9223372036854775807B", INT64_MAX},
        {"8388607TiB", 8388607LL << 40},
        {"8796093022207MiB", 8796093022207LL << 20},
        {"9007199254740991KiB", 9007199254740991LL << 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 12345;
        ck_assert_msg(parse_memory_limit(cases[i].in, &v) == 0, "parse_memory_limit(\"%s\") failed",
                      cases[i].in);
        ck_assert_msg(v == cases[i].want, "parse_memory_limit(\"%s\") = %lld, want %lld",
                      cases[i].in, (long long)v, (long long)cases[i].want);
    }
}
END_TEST

START_TEST(limit_bad)
{
    static const char *const cases[] = {
        "10MB",
        "10KB",
        "1GB",
        "1TB",
        "-5",
        "-0",
        "+5",
        "1.5GiB",
        "1.5",
        "abc",
        "99999999999TiB",
        "8388608TiB",
        "8796093022208MiB",
        "9223372036854775808",
        "9223372036854775808B",
        "18446744073709551616",
        "99999999999999999999999",
        "MiB",
        "B",
        "KiB",
        "10 MiB",
        " 10",
        "10 ",
        "10mib",
        "10MIB",
        "10K",
        "10Ki",
        "10iB",
        "10PiB",
        "10MiBB",
        "OFF",
        "off ",
        "0x10",
        "1e9",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t v = 12345;
        ck_assert_msg(parse_memory_limit(cases[i], &v) == -1, "parse_memory_limit(\"%s\") accepted",
                      cases[i]);
        ck_assert_msg(v == 12345, "parse_memory_limit(\"%s\") changed *out on failure", cases[i]);
    }
}
END_TEST

/* ---- GOMAXPROCS ---- */

START_TEST(procs_good)
{
    static const struct {
        const char *in;
        int want;
    } cases[] = {
        {"1", 1}, {"4", 4}, {"08", 8}, {"1024", 1024}, {"1025", 1024}, {"2147483647", 1024},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int v = 12345;
        ck_assert_msg(parse_procs(cases[i].in, &v) == 0, "parse_procs(\"%s\") failed", cases[i].in);
        ck_assert_msg(v == cases[i].want, "parse_procs(\"%s\") = %d, want %d", cases[i].in, v,
                      cases[i].want);
    }
}
END_TEST

START_TEST(procs_bad)
{
    static const char *const cases[] = {
        "0",  "-1",  "x", "", "4x", "+4", " 4", "4 ", "1.5", "2147483648", "99999999999999999999",
        "-0", "off",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int v = 12345;
        ck_assert_msg(parse_procs(cases[i], &v) == -1, "parse_procs(\"%s\") accepted", cases[i]);
        ck_assert_msg(v == 12345, "parse_procs(\"%s\") changed *out on failure", cases[i]);
    }
}
END_TEST

/* ---- GODEBUG ---- */

static struct knobs default_knobs(void)
{
    return (struct knobs){.gogc = 100,
                          .memory_limit = INT64_MAX,
                          .madvdontneed = 1,
                          .procs = 4,
                          .stoptimeout = KNOBS_DEFAULT_STOPTIMEOUT,
                          .thpgrowth = 1};
}

START_TEST(godebug_good)
{
    struct knobs k = default_knobs();
    ck_assert_int_eq(parse_godebug("gctrace=1,gccheckmark=1", &k, NULL), 0);
    ck_assert_int_eq(k.gctrace, 1);
    ck_assert_int_eq(k.gccheckmark, 1);
    ck_assert_int_eq(k.scavtrace, 0);

    k = default_knobs();
    ck_assert_int_eq(parse_godebug("scavtrace=1,gcpacertrace=1,gcstoptheworld=2,clobberfree=1,"
                                   "madvdontneed=0,disablethp=1,prefault=1,stoptimeout=0,"
                                   "thpgrowth=0",
                                   &k, NULL),
                     0);
    ck_assert_int_eq(k.scavtrace, 1);
    ck_assert_int_eq(k.gcpacertrace, 1);
    ck_assert_int_eq(k.gcstoptheworld, 2);
    ck_assert_int_eq(k.clobberfree, 1);
    ck_assert_int_eq(k.madvdontneed, 0);
    ck_assert_int_eq(k.disablethp, 1);
    ck_assert_int_eq(k.prefault, 1);
    ck_assert_int_eq(k.stoptimeout, 0);
    ck_assert_int_eq(k.thpgrowth, 0);
    ck_assert_int_eq(k.gctrace, 0);
    /* Other knobs are not GODEBUG's business. */
    ck_assert_int_eq(k.gogc, 100);
    ck_assert_int_eq(k.procs, 4);

    /* Later settings win; empty fields are ignored. */
    k = default_knobs();
    ck_assert_int_eq(parse_godebug(",,gctrace=1,,gctrace=0,gccheckmark=1,", &k, NULL), 0);
    ck_assert_int_eq(k.gctrace, 0);
    ck_assert_int_eq(k.gccheckmark, 1);

    /* Unknown names are ignored whatever their value, Go's other names too. */
    k = default_knobs();
    ck_assert_int_eq(
        parse_godebug("foo=bar,invalidptr=0,sbrk=1,gctrace=2,x,=3,gctracex=1", &k, NULL), 0);
    ck_assert_int_eq(k.gctrace, 2);

    /* Negative integers are integers (Go's atoi32). */
    k = default_knobs();
    ck_assert_int_eq(parse_godebug("gctrace=-1", &k, NULL), 0);
    ck_assert_int_eq(k.gctrace, -1);

    k = default_knobs();
    ck_assert_int_eq(parse_godebug("", &k, NULL), 0);
    ck_assert_int_eq(parse_godebug(NULL, &k, NULL), 0);
    ck_assert_int_eq(k.gctrace, 0);
    ck_assert_int_eq(k.madvdontneed, 1);
    ck_assert_int_eq(k.prefault, 0);
    ck_assert_int_eq(k.stoptimeout, KNOBS_DEFAULT_STOPTIMEOUT);
}
END_TEST

START_TEST(godebug_bad)
{
    struct knobs k = default_knobs();
    capture_begin();
    int bad = parse_godebug("gctrace=x,gccheckmark=1", &k, NULL);
    const char *err = capture_end();
    ck_assert_int_eq(bad, 1);
    ck_assert_int_eq(k.gctrace, 0);
    ck_assert_int_eq(k.gccheckmark, 1);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "tricolor: GODEBUG"));
    ck_assert_ptr_nonnull(strstr(err, "\"gctrace=x\""));
    ck_assert_ptr_nonnull(strstr(err, "keeping gctrace=0"));

    /* Each bad entry is one line, under the given variable name. */
    k = default_knobs();
    capture_begin();
    bad = parse_godebug("gctrace=1,gctrace=yes,madvdontneed=,scavtrace,clobberfree=1.5,"
                        "gcstoptheworld=99999999999,unknown=zz",
                        &k, "MYVM_GODEBUG");
    err = capture_end();
    ck_assert_int_eq(bad, 5);
    ck_assert_int_eq(count_lines(err), 5);
    ck_assert_ptr_nonnull(strstr(err, "MYVM_GODEBUG entry \"gctrace=yes\""));
    ck_assert_ptr_nonnull(strstr(err, "\"madvdontneed=\""));
    ck_assert_ptr_nonnull(strstr(err, "\"scavtrace\""));
    ck_assert_ptr_nonnull(strstr(err, "\"clobberfree=1.5\""));
    ck_assert_ptr_nonnull(strstr(err, "\"gcstoptheworld=99999999999\""));
    ck_assert_ptr_null(strstr(err, "unknown"));
    ck_assert_int_eq(k.gctrace, 1);
    ck_assert_int_eq(k.madvdontneed, 1);
    ck_assert_int_eq(k.scavtrace, 0);
    ck_assert_int_eq(k.clobberfree, 0);
    ck_assert_int_eq(k.gcstoptheworld, 0);
}
END_TEST

/* ---- knobs_load ---- */

START_TEST(load_defaults)
{
    struct knobs k;
    memset(&k, 0x55, sizeof k);
    capture_begin();
    knobs_load(&k, NULL, 8);
    const char *err = capture_end();
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(k.gogc, 100);
    ck_assert(k.memory_limit == INT64_MAX);
    ck_assert_int_eq(k.gctrace, 0);
    ck_assert_int_eq(k.scavtrace, 0);
    ck_assert_int_eq(k.gcpacertrace, 0);
    ck_assert_int_eq(k.gccheckmark, 0);
    ck_assert_int_eq(k.gcstoptheworld, 0);
    ck_assert_int_eq(k.clobberfree, 0);
    ck_assert_int_eq(k.madvdontneed, 1);
    ck_assert_int_eq(k.procs, 8);

    gc_options zero = {0};
    knobs_load(&k, &zero, 0); /* a nonsensical CPU count still gives a worker */
    ck_assert_int_eq(k.procs, 1);
    knobs_load(&k, &zero, 5000);
    ck_assert_int_eq(k.procs, KNOBS_MAX_PROCS);

    /* The process's knobs hold the defaults before gc_init. */
    ck_assert_int_eq(knobs.gogc, 100);
    ck_assert(knobs.memory_limit == INT64_MAX);
    ck_assert_int_eq(knobs.madvdontneed, 1);
    ck_assert_int_eq(knobs.prefault, 0);
    ck_assert_int_eq(knobs.stoptimeout, 250);
    ck_assert_int_eq(knobs.thpgrowth, 3);
}
END_TEST

START_TEST(load_env_unprefixed)
{
    setenv("GOGC", "50", 1);
    setenv("GOMEMLIMIT", "1GiB", 1);
    setenv("GODEBUG", "gctrace=1,madvdontneed=0", 1);
    setenv("GOMAXPROCS", "3", 1);
    struct knobs k;
    gc_options opts = {.env_prefix = "MYVM_"};
    knobs_load(&k, &opts, 8);
    ck_assert_int_eq(k.gogc, 50);
    ck_assert(k.memory_limit == 1LL << 30);
    ck_assert_int_eq(k.gctrace, 1);
    ck_assert_int_eq(k.madvdontneed, 0);
    ck_assert_int_eq(k.procs, 3);

    setenv("GOGC", "off", 1);
    setenv("GOMEMLIMIT", "off", 1);
    knobs_load(&k, NULL, 8);
    ck_assert_int_eq(k.gogc, -1);
    ck_assert(k.memory_limit == INT64_MAX);
}
END_TEST

START_TEST(load_prefix_override)
{
    setenv("GOGC", "50", 1);
    setenv("GOMEMLIMIT", "1GiB", 1);
    setenv("GODEBUG", "gctrace=1,scavtrace=1", 1);
    setenv("GOMAXPROCS", "3", 1);
    setenv("MYVM_GOGC", "200", 1);
    setenv("MYVM_GOMEMLIMIT", "512MiB", 1);
    setenv("MYVM_GODEBUG", "gccheckmark=1,scavtrace=0", 1);
    setenv("MYVM_GOMAXPROCS", "5", 1);
    struct knobs k;

    gc_options opts = {.env_prefix = "MYVM_"};
    knobs_load(&k, &opts, 8);
    ck_assert_int_eq(k.gogc, 200);
    ck_assert(k.memory_limit == 512LL << 20);
    ck_assert_int_eq(k.gctrace, 1); /* GODEBUG merges name by name */
    ck_assert_int_eq(k.scavtrace, 0);
    ck_assert_int_eq(k.gccheckmark, 1);
    ck_assert_int_eq(k.procs, 5);

    /* Without the prefix the prefixed variables mean nothing. */
    knobs_load(&k, NULL, 8);
    ck_assert_int_eq(k.gogc, 50);
    ck_assert(k.memory_limit == 1LL << 30);
    ck_assert_int_eq(k.scavtrace, 1);
    ck_assert_int_eq(k.gccheckmark, 0);
    ck_assert_int_eq(k.procs, 3);
    opts.env_prefix = "";
    knobs_load(&k, &opts, 8);
    ck_assert_int_eq(k.gogc, 50);

    /* An empty prefixed variable counts as unset, it does not reset. */
    setenv("MYVM_GOGC", "", 1);
    opts.env_prefix = "MYVM_";
    capture_begin();
    knobs_load(&k, &opts, 8);
    const char *err = capture_end();
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(k.gogc, 50);

    /* Only the prefixed variable set. */
    unsetenv("GOGC");
    setenv("MYVM_GOGC", "75", 1);
    knobs_load(&k, &opts, 8);
    ck_assert_int_eq(k.gogc, 75);
}
END_TEST

START_TEST(load_option_override)
{
    setenv("GOGC", "50", 1);
    setenv("MYVM_GOGC", "200", 1);
    setenv("GOMEMLIMIT", "1GiB", 1);
    setenv("MYVM_GOMEMLIMIT", "2GiB", 1);
    setenv("GODEBUG", "gctrace=1", 1);
    setenv("MYVM_GODEBUG", "gccheckmark=1", 1);
    setenv("GCPROCS", "6", 1);
    setenv("MYVM_GOMAXPROCS", "5", 1);
    struct knobs k;
    gc_options opts = {
        .env_prefix = "MYVM_",
        .gogc = "off",
        .gomemlimit = "64MiB",
        .godebug = "gctrace=0,clobberfree=1",
        .gomaxprocs = "2",
    };
    knobs_load(&k, &opts, 8);
    ck_assert_int_eq(k.gogc, -1);
    ck_assert(k.memory_limit == 64LL << 20);
    ck_assert_int_eq(k.gctrace, 0);
    ck_assert_int_eq(k.gccheckmark, 1);
    ck_assert_int_eq(k.clobberfree, 1);
    ck_assert_int_eq(k.procs, 2);

    /* Option strings with no environment at all. */
    clear_env();
    gc_options only = {.gogc = "25", .gomemlimit = "100", .gomaxprocs = "7"};
    knobs_load(&k, &only, 8);
    ck_assert_int_eq(k.gogc, 25);
    ck_assert(k.memory_limit == 100);
    ck_assert_int_eq(k.procs, 7);

    /* An empty option string counts as not given. */
    setenv("GOGC", "50", 1);
    gc_options empty = {.gogc = "", .gomemlimit = "", .godebug = "", .gomaxprocs = ""};
    knobs_load(&k, &empty, 8);
    ck_assert_int_eq(k.gogc, 50);
    ck_assert(k.memory_limit == INT64_MAX);
    ck_assert_int_eq(k.procs, 8);
}
END_TEST

START_TEST(load_gcprocs_alias)
{
    struct knobs k;
    setenv("GCPROCS", "5", 1);
    knobs_load(&k, NULL, 8);
    ck_assert_int_eq(k.procs, 5);

    setenv("GOMAXPROCS", "2", 1);
    setenv("GCPROCS", "6", 1);
    knobs_load(&k, NULL, 8);
    ck_assert_int_eq(k.procs, 6); /* the alias wins */

    gc_options opts = {.env_prefix = "MYVM_"};
    setenv("MYVM_GOMAXPROCS", "3", 1);
    knobs_load(&k, &opts, 8);
    ck_assert_int_eq(k.procs, 3); /* prefixed beats unprefixed */
    setenv("MYVM_GCPROCS", "4", 1);
    knobs_load(&k, &opts, 8);
    ck_assert_int_eq(k.procs, 4);

    setenv("GCPROCS", "5000", 1);
    knobs_load(&k, NULL, 8);
    ck_assert_int_eq(k.procs, KNOBS_MAX_PROCS);
}
END_TEST

START_TEST(load_malformed_default)
{
    setenv("GOMEMLIMIT", "10MB", 1);
    struct knobs k;
    capture_begin();
    knobs_load(&k, NULL, 8);
    const char *err = capture_end();
    ck_assert(k.memory_limit == INT64_MAX);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_str_eq(err, "tricolor: GOMEMLIMIT=\"10MB\" is malformed; want a byte count with an "
                          "optional unit B, KiB, MiB, GiB or TiB, or \"off\"; using the default "
                          "(off)\n");

    clear_env();
    setenv("GOGC", "abc", 1);
    capture_begin();
    knobs_load(&k, NULL, 8);
    err = capture_end();
    ck_assert_int_eq(k.gogc, 100);
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "GOGC=\"abc\""));
    ck_assert_ptr_nonnull(strstr(err, "using the default (100)"));
}
END_TEST

START_TEST(load_malformed_keeps_previous)
{
    setenv("GOGC", "50", 1);
    setenv("MYVM_GOGC", "abc", 1);
    setenv("GOMEMLIMIT", "512MiB", 1);
    setenv("MYVM_GOMEMLIMIT", "1.5GiB", 1);
    setenv("GOMAXPROCS", "2", 1);
    setenv("GCPROCS", "x", 1);
    setenv("MYVM_GODEBUG", "gctrace=on", 1);
    gc_options opts = {.env_prefix = "MYVM_", .gomaxprocs = "0"};
    struct knobs k;
    capture_begin();
    knobs_load(&k, &opts, 8);
    const char *err = capture_end();
    ck_assert_int_eq(k.gogc, 50);
    ck_assert(k.memory_limit == 512LL << 20);
    ck_assert_int_eq(k.procs, 2);
    ck_assert_int_eq(k.gctrace, 0);
    ck_assert_int_eq(count_lines(err), 5); /* one line per bad value */
    ck_assert_ptr_nonnull(strstr(err, "MYVM_GOGC=\"abc\" is malformed; want an integer percent or "
                                      "\"off\"; keeping 50 from GOGC\n"));
    ck_assert_ptr_nonnull(strstr(err, "MYVM_GOMEMLIMIT=\"1.5GiB\""));
    ck_assert_ptr_nonnull(strstr(err, "keeping 512MiB from GOMEMLIMIT\n"));
    ck_assert_ptr_nonnull(strstr(err, "tricolor: GCPROCS=\"x\""));
    ck_assert_ptr_nonnull(strstr(err, "keeping 2 from GOMAXPROCS\n"));
    ck_assert_ptr_nonnull(strstr(err, "MYVM_GODEBUG entry \"gctrace=on\""));
    ck_assert_ptr_nonnull(strstr(err, "gc_options.gomaxprocs=\"0\""));
}
END_TEST

START_TEST(load_malformed_options)
{
    gc_options opts = {.gogc = "12x", .gomemlimit = "-5", .godebug = "gccheckmark=y"};
    struct knobs k;
    capture_begin();
    knobs_load(&k, &opts, 8);
    const char *err = capture_end();
    ck_assert_int_eq(k.gogc, 100);
    ck_assert(k.memory_limit == INT64_MAX);
    ck_assert_int_eq(k.gccheckmark, 0);
    ck_assert_int_eq(count_lines(err), 3);
    ck_assert_ptr_nonnull(strstr(err, "gc_options.gogc=\"12x\""));
    ck_assert_ptr_nonnull(strstr(err, "gc_options.gomemlimit=\"-5\""));
    ck_assert_ptr_nonnull(strstr(err, "gc_options.godebug entry \"gccheckmark=y\""));
}
END_TEST

START_TEST(load_malformed_odd_values)
{
    /* A hostile value stays on one line and is cut short. */
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    setenv("GOGC", big, 1);
    setenv("GOMEMLIMIT", "1\n\"2\x01", 1);
    struct knobs k;
    capture_begin();
    knobs_load(&k, NULL, 8);
    const char *err = capture_end();
    ck_assert_int_eq(count_lines(err), 2);
    ck_assert_ptr_nonnull(strstr(err, "xxx...\""));
    ck_assert_ptr_nonnull(strstr(err, "GOMEMLIMIT=\"1\\x0a\\\"2\\x01\""));
    ck_assert_uint_lt(strlen(err), 600);

    /* A prefix too long for any variable name is reported and ignored. */
    clear_env();
    char prefix[300];
    memset(prefix, 'P', sizeof prefix - 1);
    prefix[sizeof prefix - 1] = '\0';
    gc_options opts = {.env_prefix = prefix};
    capture_begin();
    knobs_load(&k, &opts, 8);
    err = capture_end();
    ck_assert_int_eq(count_lines(err), 1);
    ck_assert_ptr_nonnull(strstr(err, "gc_options.env_prefix"));
    ck_assert_int_eq(k.gogc, 100);
}
END_TEST

static Suite *env_suite(void)
{
    Suite *s = suite_create("env");
    TCase *parsers = tcase_create("parsers");
    tcase_add_checked_fixture(parsers, setup, teardown);
    tcase_add_test(parsers, gogc_good);
    tcase_add_test(parsers, gogc_bad);
    tcase_add_test(parsers, limit_good);
    tcase_add_test(parsers, limit_bad);
    tcase_add_test(parsers, procs_good);
    tcase_add_test(parsers, procs_bad);
    tcase_add_test(parsers, godebug_good);
    tcase_add_test(parsers, godebug_bad);
    suite_add_tcase(s, parsers);

    TCase *load = tcase_create("knobs_load");
    tcase_add_checked_fixture(load, setup, teardown);
    tcase_add_test(load, load_defaults);
    tcase_add_test(load, load_env_unprefixed);
    tcase_add_test(load, load_prefix_override);
    tcase_add_test(load, load_option_override);
    tcase_add_test(load, load_gcprocs_alias);
    tcase_add_test(load, load_malformed_default);
    tcase_add_test(load, load_malformed_keeps_previous);
    tcase_add_test(load, load_malformed_options);
    tcase_add_test(load, load_malformed_odd_values);
    suite_add_tcase(s, load);
    return s;
}

int main(void)
{
    return run_suite(env_suite(), CK_FORK_GETENV);
}
