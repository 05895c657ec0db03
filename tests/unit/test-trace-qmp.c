/*
 * test-trace-qmp.c: unit tests of the QMP commands trace-event-get-state
 * and trace-event-set-state (trace/qmp.c), on the private event group of
 * tests/tracetool/trace-events.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "trace/control.h"
#include "trace/trace-test.h"
#include "qapi/qapi-commands.h"

static bool enabled(const char *name)
{
    TraceEvent *ev = trace_event_name(name);

    g_assert_nonnull(ev);
    return trace_event_get_state_dynamic(ev);
}

static void reset_states(void)
{
    qmp_trace_event_set_state("test_*", false, true, true, false, 0,
                              &error_abort);
    g_assert_false(enabled("test_simple"));
}

/* Expect errp to hold exactly msg (GenericError), then free it. */
static void assert_error(Error *err, const char *msg)
{
    g_assert_nonnull(err);
    g_assert_cmpint(error_get_class(err), ==, ERROR_CLASS_GENERIC_ERROR);
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free(err);
}

static void test_get_single(void)
{
    TraceEventInfoList *l;

    reset_states();
    l = qmp_trace_event_get_state("test_simple", false, 0, &error_abort);
    g_assert_nonnull(l);
    g_assert_null(l->next);
    g_assert_cmpstr(l->value->name, ==, "test_simple");
    g_assert_cmpint(l->value->state, ==, TRACE_EVENT_STATE_DISABLED);
    g_assert_false(l->value->vcpu);
    qapi_free_TraceEventInfoList(l);

    trace_enable_events("test_simple");
    l = qmp_trace_event_get_state("test_simple", false, 0, &error_abort);
    g_assert_cmpint(l->value->state, ==, TRACE_EVENT_STATE_ENABLED);
    qapi_free_TraceEventInfoList(l);

    l = qmp_trace_event_get_state("test_disabled", false, 0, &error_abort);
    g_assert_cmpint(l->value->state, ==, TRACE_EVENT_STATE_UNAVAILABLE);
    qapi_free_TraceEventInfoList(l);
    reset_states();
}

static void test_get_pattern(void)
{
    TraceEventInfoList *l;
    Error *err = NULL;

    reset_states();
    trace_enable_events("test_pattern_b");
    /* QEMU builds the list by prepending: last match first */
    l = qmp_trace_event_get_state("test_pattern_?", false, 0, &error_abort);
    g_assert_nonnull(l);
    g_assert_nonnull(l->next);
    g_assert_null(l->next->next);
    g_assert_cmpstr(l->value->name, ==, "test_pattern_b");
    g_assert_cmpint(l->value->state, ==, TRACE_EVENT_STATE_ENABLED);
    g_assert_cmpstr(l->next->value->name, ==, "test_pattern_a");
    g_assert_cmpint(l->next->value->state, ==, TRACE_EVENT_STATE_DISABLED);
    qapi_free_TraceEventInfoList(l);

    /* a pattern matching nothing is no error */
    l = qmp_trace_event_get_state("nomatch_*", false, 0, &err);
    g_assert_null(l);
    g_assert_null(err);
    reset_states();
}

static void test_get_errors(void)
{
    Error *err = NULL;

    g_assert_null(qmp_trace_event_get_state("no_such_event", false, 0, &err));
    assert_error(err, "unknown event \"no_such_event\"");
    err = NULL;
    g_assert_null(qmp_trace_event_get_state("test_simple", true, 0, &err));
    assert_error(err, "invalid vCPU index 0");
}

static void test_set(void)
{
    reset_states();
    qmp_trace_event_set_state("test_pattern_*", true, false, false,
                              false, 0, &error_abort);
    g_assert_true(enabled("test_pattern_a"));
    g_assert_true(enabled("test_pattern_b"));
    g_assert_false(enabled("test_simple"));
    qmp_trace_event_set_state("test_pattern_a", false, false, false,
                              false, 0, &error_abort);
    g_assert_false(enabled("test_pattern_a"));
    g_assert_true(enabled("test_pattern_b"));
    g_assert_true(trace_event_get_state(TRACE_TEST_PATTERN_B));
    /* a pattern matching nothing changes nothing */
    qmp_trace_event_set_state("nomatch_*", true, false, false, false, 0,
                              &error_abort);
    reset_states();
}

static void test_set_unavailable(void)
{
    Error *err = NULL;

    reset_states();
    qmp_trace_event_set_state("test_disabled", true, false, false,
                              false, 0, &err);
    assert_error(err, "event \"test_disabled\" is disabled");
    err = NULL;
    qmp_trace_event_set_state("test_disabled", true, true, false,
                              false, 0, &err);
    assert_error(err, "event \"test_disabled\" is disabled");
    err = NULL;

    /* a pattern covering it fails as a whole, before changing anything */
    qmp_trace_event_set_state("test_*", true, false, false, false, 0, &err);
    assert_error(err, "event \"test_disabled\" is disabled");
    err = NULL;
    g_assert_false(enabled("test_simple"));

    /* ignore-unavailable: skip it, enable the rest */
    qmp_trace_event_set_state("test_*", true, true, true, false, 0,
                              &error_abort);
    g_assert_true(enabled("test_simple"));
    g_assert_true(enabled("test_bool"));
    g_assert_false(enabled("test_disabled"));
    qmp_trace_event_set_state("test_disabled", true, true, true, false, 0,
                              &error_abort);
    g_assert_false(enabled("test_disabled"));
    reset_states();
}

static void test_set_errors(void)
{
    Error *err = NULL;

    qmp_trace_event_set_state("no_such_event", true, false, false,
                              false, 0, &err);
    assert_error(err, "unknown event \"no_such_event\"");
    err = NULL;
    qmp_trace_event_set_state("no_such_event", true, true, true,
                              false, 0, &err);
    assert_error(err, "unknown event \"no_such_event\"");
    err = NULL;
    qmp_trace_event_set_state("test_simple", true, false, false,
                              true, 3, &err);
    assert_error(err, "invalid vCPU index 3");
    g_assert_false(enabled("test_simple"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/trace-qmp/get-single", test_get_single);
    g_test_add_func("/trace-qmp/get-pattern", test_get_pattern);
    g_test_add_func("/trace-qmp/get-errors", test_get_errors);
    g_test_add_func("/trace-qmp/set", test_set);
    g_test_add_func("/trace-qmp/set-unavailable", test_set_unavailable);
    g_test_add_func("/trace-qmp/set-errors", test_set_errors);
    return g_test_run();
}
