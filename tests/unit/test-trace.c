/*
 * test-trace.c: unit tests of trace control (trace/control.c) and of the
 * generated tracing code, using the private event group of
 * tests/tracetool/trace-events (trace/trace-test.h).
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/log.h"
#include "trace/control.h"
#include "trace/trace-test.h"

static TraceEvent *must_find(const char *name)
{
    TraceEvent *ev = trace_event_name(name);

    g_assert_nonnull(ev);
    return ev;
}

static bool enabled(const char *name)
{
    return trace_event_get_state_dynamic(must_find(name));
}

/* Disable every test event so each test starts from a known state. */
static void reset_states(void)
{
    trace_enable_events("-test_*");
    g_assert_false(enabled("test_simple"));
}

static char *write_tmp(const char *contents)
{
    GError *gerr = NULL;
    char *path = NULL;
    int fd = g_file_open_tmp("test-trace-XXXXXX", &path, &gerr);

    g_assert_no_error(gerr);
    close(fd);
    g_assert_true(g_file_set_contents(path, contents, -1, &gerr));
    g_assert_no_error(gerr);
    return path;
}

static void test_pattern_match(void)
{
    g_assert_true(trace_pattern_match("abc", "abc"));
    g_assert_false(trace_pattern_match("abc", "abcd"));
    g_assert_false(trace_pattern_match("abcd", "abc"));
    g_assert_true(trace_pattern_match("a*", "a"));
    g_assert_true(trace_pattern_match("a*", "abc"));
    g_assert_true(trace_pattern_match("*c", "abc"));
    g_assert_true(trace_pattern_match("*", ""));
    g_assert_true(trace_pattern_match("a?c", "abc"));
    g_assert_false(trace_pattern_match("a?c", "ac"));
    g_assert_true(trace_pattern_match("a*b*c", "axxbyyc"));
    g_assert_true(trace_pattern_match("*_b_*", "a_b_b_c"));
    g_assert_false(trace_pattern_match("a*b*c", "axxbyy"));
    g_assert_true(trace_pattern_match("mirror_*", "mirror_one_iteration"));
    g_assert_true(trace_event_is_pattern("a*"));
    g_assert_true(trace_event_is_pattern("a?"));
    g_assert_false(trace_event_is_pattern("abc"));
}

static void test_registry(void)
{
    TraceEventIter iter;
    TraceEvent *ev;
    size_t n = 0, ntest = 0;

    g_assert_cmpuint(trace_event_count(), >=, 7);
    g_assert_null(trace_event_name("no_such_event"));
    g_assert_true(trace_event_get_state_static(must_find("test_simple")));
    g_assert_false(trace_event_get_state_static(must_find("test_disabled")));
    g_assert_cmpint(TRACE_TEST_SIMPLE_ENABLED, ==, 1);
    g_assert_cmpint(TRACE_TEST_DISABLED_ENABLED, ==, 0);

    trace_event_iter_init_all(&iter);
    while ((ev = trace_event_iter_next(&iter)) != NULL) {
        g_assert_cmpuint(trace_event_get_id(ev), ==, n);
        g_assert_true(trace_event_name(ev->name) == ev);
        n++;
    }
    g_assert_cmpuint(n, ==, trace_event_count());

    trace_event_iter_init_pattern(&iter, "test_*");
    while ((ev = trace_event_iter_next(&iter)) != NULL) {
        g_assert_true(g_str_has_prefix(trace_event_get_name(ev), "test_"));
        ntest++;
    }
    g_assert_cmpuint(ntest, ==, 7);
}

static void test_enable_pattern(void)
{
    reset_states();
    g_assert_cmpuint(trace_enable_events("test_pattern_*"), ==, 2);
    g_assert_true(enabled("test_pattern_a"));
    g_assert_true(enabled("test_pattern_b"));
    g_assert_false(enabled("test_simple"));
    g_assert_true(trace_event_get_state(TRACE_TEST_PATTERN_A));
    g_assert_true(trace_event_get_state_backends(TRACE_TEST_PATTERN_B));
    g_assert_false(trace_event_get_state(TRACE_TEST_SIMPLE));
    g_assert_false(trace_event_get_state_backends(TRACE_TEST_SIMPLE));

    /* leading '-' disables */
    g_assert_cmpuint(trace_enable_events("-test_pattern_a"), ==, 1);
    g_assert_false(enabled("test_pattern_a"));
    g_assert_true(enabled("test_pattern_b"));
    g_assert_cmpuint(trace_enable_events("test_pattern_?"), ==, 2);
    g_assert_true(enabled("test_pattern_a"));

    /* a plain name enables exactly one event */
    g_assert_cmpuint(trace_enable_events("test_simple"), ==, 1);
    g_assert_true(enabled("test_simple"));
    g_assert_true(trace_event_get_state(TRACE_TEST_SIMPLE));
    reset_states();
    g_assert_false(enabled("test_pattern_b"));
}

static void test_disabled_event(void)
{
    TraceEvent *ev = must_find("test_disabled");

    reset_states();
    /* compiled out: neither a pattern nor its name can enable it */
    g_assert_cmpuint(trace_enable_events("test_dis*"), ==, 0);
    g_assert_cmpuint(trace_enable_events("test_disabled"), ==, 0);
    trace_event_set_state_dynamic(ev, true);
    g_assert_false(trace_event_get_state_dynamic(ev));
    g_assert_false(trace_event_get_state_backends(TRACE_TEST_DISABLED));
    trace_test_disabled(1);     /* compiles and does nothing */
}

static void test_backend_dstate(void)
{
    reset_states();
    g_assert_false(trace_event_get_state_backends(TRACE_TEST_STR));
#if CONFIG_TRACE_DTRACE
    /* what a USDT tracer does when it attaches to blockd:test_str */
    blockd_test_str_semaphore++;
    g_assert_true(trace_event_get_state_backends(TRACE_TEST_STR));
    g_assert_false(trace_event_get_state(TRACE_TEST_STR));
    blockd_test_str_semaphore--;
    g_assert_false(trace_event_get_state_backends(TRACE_TEST_STR));
#endif
    trace_enable_events("test_str");
    g_assert_true(trace_event_get_state_backends(TRACE_TEST_STR));
    reset_states();
}

static void test_unknown_name(void)
{
    reset_states();
    g_assert_cmpuint(trace_enable_events("no_such_event"), ==, 0);
    g_assert_cmpuint(trace_enable_events("no_such_*"), ==, 0);
}

static void test_events_file(void)
{
    g_autofree char *path = write_tmp(
        "# comment line\n"
        "\n"
        "test_pattern_*\n"
        "  test_simple  \n"
        "-test_pattern_b\n"
        "#test_str\n"
        "test_bool");   /* no final newline */
    Error *err = NULL;

    reset_states();
    g_assert_true(trace_load_events_file(path, &err));
    g_assert_null(err);
    g_assert_true(enabled("test_pattern_a"));
    g_assert_false(enabled("test_pattern_b"));
    g_assert_true(enabled("test_simple"));
    g_assert_false(enabled("test_str"));
    g_assert_true(enabled("test_bool"));
    g_assert_true(trace_load_events_file(NULL, &error_abort));
    unlink(path);

    g_assert_false(trace_load_events_file("/nonexistent/trace-list", &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "/nonexistent/trace-list: No such file or directory");
    error_free(err);
    reset_states();
}

static void test_opt_parse(void)
{
    g_autofree char *path = write_tmp("test_str\n");
    g_autofree char *opt = g_strdup_printf("test_pattern_a,events=%s", path);
    Error *err = NULL;

    reset_states();
    g_assert_true(trace_opt_parse("test_simple", &error_abort));
    g_assert_true(enabled("test_simple"));
    g_assert_true(trace_opt_parse("enable=test_pattern_b", &error_abort));
    g_assert_true(enabled("test_pattern_b"));
    g_assert_true(trace_opt_parse(opt, &error_abort));
    g_assert_true(enabled("test_pattern_a"));
    g_assert_true(enabled("test_str"));
    g_assert_true(trace_opt_parse("-test_simple", &error_abort));
    g_assert_false(enabled("test_simple"));
    g_assert_true(trace_opt_parse("", &error_abort));

    g_assert_false(trace_opt_parse("test_simple,bogus=1", &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid parameter 'bogus'");
    error_free(err);
    err = NULL;
    g_assert_false(trace_opt_parse("events=/nonexistent/x", &err));
    g_assert_nonnull(err);
    error_free(err);
    unlink(path);
    reset_states();
}

static void test_help(void)
{
    if (g_test_subprocess()) {
        trace_opt_parse("help", &error_abort);
        return;     /* not reached: lists the events and exits */
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout("*test_simple\n*test_disabled\n*");
}

/* Read a file into a NUL-terminated string. */
static char *slurp(const char *path)
{
    char *contents = NULL;

    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    return contents;
}

static void test_log_backend(void)
{
    g_autofree char *path = write_tmp("");
    g_autofree char *opt = g_strdup_printf("test_str,file=%s", path);
    g_autofree char *out = NULL;
    g_autofree char *pid_prefix = g_strdup_printf("%d@", (int)getpid());
    g_autoptr(GRegex) re = NULL;
    g_auto(GStrv) lines = NULL;

    if (!CONFIG_TRACE_LOG) {
        g_test_skip("log backend not compiled in");
        return;
    }
    reset_states();
    g_assert_true(trace_opt_parse(opt, &error_abort));
    g_assert_true(trace_init_backends());

    trace_test_simple(7);                           /* disabled: no line */
    trace_test_str("hello", UINT64_C(18446744073709551615));
    trace_enable_events("test_fmt_macros");
    trace_test_fmt_macros(NULL, -5, 42);
    trace_enable_events("-test_str");
    trace_test_str("hidden", 1);                    /* disabled again */
    g_assert_true(trace_init_file(NULL, &error_abort));  /* flush, close */

    out = slurp(path);
    lines = g_strsplit(out, "\n", -1);
    g_assert_cmpuint(g_strv_length(lines), ==, 3);  /* 2 lines + "" */
    re = g_regex_new("^[0-9]+@[0-9]+\\.[0-9]{6}:test_str "
                     "s hello n 18446744073709551615$", 0, 0, NULL);
    g_assert_true(g_regex_match(re, lines[0], 0, NULL));
    g_assert_true(g_str_has_prefix(lines[0], pid_prefix));
    g_assert_nonnull(strstr(lines[1], ":test_fmt_macros p "));
    g_assert_true(g_str_has_suffix(lines[1], " a -5 b 42"));
    g_assert_cmpstr(lines[2], ==, "");
    unlink(path);
    reset_states();
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/trace/pattern-match", test_pattern_match);
    g_test_add_func("/trace/registry", test_registry);
    g_test_add_func("/trace/enable-pattern", test_enable_pattern);
    g_test_add_func("/trace/disabled-event", test_disabled_event);
    g_test_add_func("/trace/backend-dstate", test_backend_dstate);
    g_test_add_func("/trace/unknown-name", test_unknown_name);
    g_test_add_func("/trace/events-file", test_events_file);
    g_test_add_func("/trace/opt-parse", test_opt_parse);
    g_test_add_func("/trace/help", test_help);
    g_test_add_func("/trace/log-backend", test_log_backend);
    return g_test_run();
}
