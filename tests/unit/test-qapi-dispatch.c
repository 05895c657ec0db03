/*
 * test-qapi-dispatch.c: the QMP dispatcher and the generated marshallers
 * and event senders of the test schema: request shape errors in QEMU's
 * words, CommandNotFound, disabled and OOB commands, "id" echo, argument
 * errors, return values, success-response, registration flags, events.
 */
#include "qemu/osdep.h"
#include "test-qapi-commands.h"
#include "test-qapi-events.h"
#include "test-qapi-visit.h"
#include "test-util.h"

static QmpCommandList cmds;

/* ---- handlers of the test schema ---- */

TestStruct *qmp_test_simple(const char *device, bool has_speed, int64_t speed,
                            TestEnum sync, TestNested *cache, strList *bitmaps,
                            TestAlternate *alt, Error **errp)
{
    TestStruct *s = g_new0(TestStruct, 1);
    strList **tail = &s->tags;

    s->id = g_strdup(device);
    s->count = has_speed ? speed : -1;
    s->kind = sync;
    if (cache) {
        s->cache = g_memdup2(cache, sizeof(*cache));
    }
    for (; bitmaps; bitmaps = bitmaps->next) {
        *tail = g_new0(strList, 1);
        (*tail)->value = g_strdup(bitmaps->value);
        tail = &(*tail)->next;
    }
    if (alt && alt->type == QTYPE_QNUM) {
        s->has_q_default = true;
        s->q_default = alt->u.i;
    }
    return s;
}

static int noargs_calls;

void qmp_test_noargs(Error **errp)
{
    noargs_calls++;
}

TestUnion *qmp_test_boxed(TestUnion *arg, Error **errp)
{
    TestUnion *u = g_new0(TestUnion, 1);

    u->kind = arg->kind;
    u->common = g_strdup("seen");
    if (arg->kind == TEST_UNION_KIND_ALPHA) {
        u->u.alpha.a_value = arg->u.alpha.a_value * 2;
    }
    return u;
}

TestInts *qmp_test_ints(int8_t i8, int16_t i16, int32_t i32, int64_t i64,
                        uint8_t u8, uint16_t u16, uint32_t u32, uint64_t u64,
                        uint64_t sz, int64_t i, Error **errp)
{
    TestInts *t = g_new0(TestInts, 1);

    *t = (TestInts) { i8, i16, i32, i64, u8, u16, u32, u64, sz, i };
    return t;
}

json_object *qmp_test_any(json_object *value, Error **errp)
{
    return value ? json_object_get(value) : json_object_new_string("none");
}

char *qmp_test_str(Error **errp)
{
    return g_strdup("text");
}

void qmp_test_fail(const char *msg, Error **errp)
{
    error_setg(errp, "failed: %s", msg);
}

void qmp_test_oob(Error **errp)
{
}

static int nosuccess_calls;

void qmp_test_nosuccess(Error **errp)
{
    nosuccess_calls++;
}

intList *qmp_test_deprecated(Error **errp)
{
    intList *l = g_new0(intList, 1);

    l->value = 42;
    return l;
}

void qmp_test_coroutine(Error **errp)
{
}

#if (defined(CONFIG_QAPI_TEST_NEVER) || !defined(CONFIG_QAPI_TEST_NEVER))
void qmp_test_cond_any(Error **errp)
{
}
#endif

void qmp_marshal_test_nogen(json_object *args, json_object **ret,
                            Error **errp)
{
    *ret = json_object_new_string("hand-written");
}

/* ---- events ---- */

static char *last_event;
static json_object *last_data;

void qapi_event_emit(const char *event_name, json_object *data)
{
    g_free(last_event);
    json_object_put(last_data);
    last_event = g_strdup(event_name);
    last_data = data;
}

/* ---- helpers ---- */

/* Dispatch request text, compare the response with expected text. */
static void check(const char *request, bool allow_oob, const char *expected)
{
    json_object *req = test_json_parse(request);
    json_object *rsp = qmp_dispatch(&cmds, req, allow_oob);

    if (expected) {
        g_assert_nonnull(rsp);
        test_assert_json_eq(rsp, expected);
    } else {
        g_assert_null(rsp);
    }
    json_object_put(rsp);
    json_object_put(req);
}

#define GENERIC(desc) \
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"" desc "\"}}"
#define GENERIC_ID(desc, id) \
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"" desc "\"}," \
    " \"id\": " id "}"

/* ---- tests ---- */

static void test_shape_errors(void)
{
    check("[1]", false, GENERIC("QMP input must be a JSON object"));
    check("\"execute\"", false, GENERIC("QMP input must be a JSON object"));
    check("{\"foo\": 1}", false, GENERIC("QMP input member 'foo' is unexpected"));
    check("{\"execute\": 1}", false,
          GENERIC("QMP input member 'execute' must be a string"));
    check("{\"execute\": \"test-noargs\", \"arguments\": []}", false,
          GENERIC("QMP input member 'arguments' must be an object"));
    check("{\"arguments\": {}}", false,
          GENERIC("QMP input lacks member 'execute'"));
    check("{}", false, GENERIC("QMP input lacks member 'execute'"));
    check("{\"id\": 5}", false,
          GENERIC_ID("QMP input lacks member 'execute'", "5"));
    /* without OOB negotiated, exec-oob is just an unexpected member */
    check("{\"exec-oob\": \"test-oob\"}", false,
          GENERIC("QMP input member 'exec-oob' is unexpected"));
    check("{\"exec-oob\": 2}", true,
          GENERIC("QMP input member 'exec-oob' must be a string"));
    check("{\"execute\": \"nosuch\", \"id\": \"x\"}", false,
          "{\"error\": {\"class\": \"CommandNotFound\", "
          "\"desc\": \"The command nosuch has not been found\"}, \"id\": \"x\"}");
}

static void test_oob(void)
{
    check("{\"exec-oob\": \"test-oob\", \"id\": 1}", true,
          "{\"return\": {}, \"id\": 1}");
    check("{\"exec-oob\": \"test-noargs\"}", true,
          GENERIC("The command test-noargs does not support OOB"));
    const char *cases[] = { "{\"exec-oob\": \"x\"}", "{\"execute\": \"x\"}",
                            "[]" };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        json_object *req = test_json_parse(cases[i]);

        g_assert_cmpint(qmp_is_oob(req), ==, i == 0);
        json_object_put(req);
    }
}

static void test_id_echo(void)
{
    check("{\"execute\": \"test-noargs\", \"id\": 18446744073709551615}",
          false, "{\"return\": {}, \"id\": 18446744073709551615}");
    check("{\"execute\": \"test-noargs\", \"id\": {\"a\": [1, 2.5, null]}}",
          false, "{\"return\": {}, \"id\": {\"a\": [1, 2.5, null]}}");
    check("{\"execute\": \"test-noargs\", \"id\": null}",
          false, "{\"return\": {}, \"id\": null}");
    check("{\"execute\": \"test-noargs\", \"id\": -0.5}",
          false, "{\"return\": {}, \"id\": -0.5}");
    check("{\"execute\": \"nosuch\", \"id\": [\"x\"]}", false,
          "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
          "\"The command nosuch has not been found\"}, \"id\": [\"x\"]}");
}

static void test_commands(void)
{
    int calls = noargs_calls;

    check("{\"execute\": \"test-noargs\"}", false, "{\"return\": {}}");
    check("{\"execute\": \"test-noargs\", \"arguments\": {}}", false,
          "{\"return\": {}}");
    g_assert_cmpint(noargs_calls, ==, calls + 2);
    check("{\"execute\": \"test-noargs\", \"arguments\": {\"x\": 1}}", false,
          GENERIC("Parameter 'x' is unexpected"));
    g_assert_cmpint(noargs_calls, ==, calls + 2);

    check("{\"execute\": \"test-simple\", \"arguments\": "
          "{\"device\": \"d0\", \"sync\": \"value-two\"}}", false,
          "{\"return\": {\"id\": \"d0\", \"count\": -1, "
          "\"kind\": \"value-two\", \"tags\": []}}");
    check("{\"execute\": \"test-simple\", \"arguments\": "
          "{\"device\": \"d0\", \"sync\": \"old\", \"speed\": 9, "
          "\"cache\": {\"direct\": true}, \"bitmaps\": [\"b1\", \"b2\"], "
          "\"alt\": 12}, \"id\": \"c\"}", false,
          "{\"return\": {\"id\": \"d0\", \"count\": 9, \"kind\": \"old\", "
          "\"cache\": {\"direct\": true}, \"tags\": [\"b1\", \"b2\"], "
          "\"default\": 12}, \"id\": \"c\"}");
    check("{\"execute\": \"test-simple\", \"arguments\": {\"sync\": \"old\"}}",
          false, GENERIC("Parameter 'device' is missing"));
    check("{\"execute\": \"test-simple\", \"arguments\": "
          "{\"device\": 1, \"sync\": \"old\"}}",
          false, GENERIC("Invalid parameter type for 'device', "
                         "expected: string"));
    check("{\"execute\": \"test-simple\", \"arguments\": "
          "{\"device\": \"d\", \"sync\": \"bogus\"}}",
          false, GENERIC("Parameter 'sync' does not accept value 'bogus'"));
    check("{\"execute\": \"test-simple\", \"arguments\": "
          "{\"device\": \"d\", \"sync\": \"old\", \"bogus\": true}}",
          false, GENERIC("Parameter 'bogus' is unexpected"));
    check("{\"execute\": \"test-simple\", \"arguments\": "
          "{\"device\": \"d\", \"sync\": \"old\", \"cache\": {\"direct\": 0}}}",
          false, GENERIC("Invalid parameter type for 'cache.direct', "
                         "expected: boolean"));
    check("{\"execute\": \"test-simple\", \"arguments\": "
          "{\"device\": \"d\", \"sync\": \"old\", \"bitmaps\": [\"a\", 1]}}",
          false, GENERIC("Invalid parameter type for 'bitmaps[1]', "
                         "expected: string"));
    check("{\"execute\": \"test-simple\", \"arguments\": "
          "{\"device\": \"d\", \"sync\": \"old\", \"speed\": "
          "18446744073709551615}}",
          false, GENERIC("Invalid parameter type for 'speed', "
                         "expected: integer"));

    check("{\"execute\": \"test-boxed\", \"arguments\": "
          "{\"kind\": \"alpha\", \"a-value\": 21}}", false,
          "{\"return\": {\"kind\": \"alpha\", \"common\": \"seen\", "
          "\"a-value\": 42}}");
    check("{\"execute\": \"test-boxed\", \"arguments\": {\"kind\": \"beta\"}}",
          false, GENERIC("Parameter 'b-list' is missing"));

    check("{\"execute\": \"test-ints\", \"arguments\": {\"i8\": -1, "
          "\"i16\": 2, \"i32\": 3, \"i64\": -4, \"u8\": 5, \"u16\": 6, "
          "\"u32\": 7, \"u64\": 18446744073709551615, "
          "\"sz\": 18446744073709551614, \"i\": 10}}", false,
          "{\"return\": {\"i8\": -1, \"i16\": 2, \"i32\": 3, \"i64\": -4, "
          "\"u8\": 5, \"u16\": 6, \"u32\": 7, \"u64\": 18446744073709551615, "
          "\"sz\": 18446744073709551614, \"i\": 10}}");
    check("{\"execute\": \"test-ints\", \"arguments\": {\"i8\": 0, "
          "\"i16\": 0, \"i32\": 0, \"i64\": 0, \"u8\": 0, \"u16\": 0, "
          "\"u32\": -1, \"u64\": 0, \"sz\": 0, \"i\": 0}}", false,
          GENERIC("Invalid parameter type for 'u32', expected: integer"));

    check("{\"execute\": \"test-any\", \"arguments\": "
          "{\"value\": {\"deep\": [null, 1.5]}}}", false,
          "{\"return\": {\"deep\": [null, 1.5]}}");
    check("{\"execute\": \"test-any\"}", false, "{\"return\": \"none\"}");
    check("{\"execute\": \"test-str\"}", false, "{\"return\": \"text\"}");
    check("{\"execute\": \"test-deprecated\"}", false, "{\"return\": [42]}");
    check("{\"execute\": \"test-nogen\", \"id\": 3}", false,
          "{\"return\": \"hand-written\", \"id\": 3}");
    check("{\"execute\": \"test-fail\", \"arguments\": {\"msg\": \"m\"}, "
          "\"id\": \"f\"}", false, GENERIC_ID("failed: m", "\"f\""));
}

static void test_no_success_response(void)
{
    int calls = nosuccess_calls;

    check("{\"execute\": \"test-nosuccess\", \"id\": 1}", false, NULL);
    g_assert_cmpint(nosuccess_calls, ==, calls + 1);
    /* errors are still reported */
    check("{\"execute\": \"test-nosuccess\", \"arguments\": {\"a\": 1}}",
          false, GENERIC("Parameter 'a' is unexpected"));
}

static void test_registry(void)
{
    const QmpCommand *cmd;
    QmpCommandList local = { 0 };
    json_object *req;

    cmd = qmp_find_command(&cmds, "test-oob");
    g_assert_nonnull(cmd);
    g_assert_cmpuint(cmd->options, ==, QCO_ALLOW_OOB);
    cmd = qmp_find_command(&cmds, "test-nosuccess");
    g_assert_cmpuint(cmd->options, ==, QCO_NO_SUCCESS_RESP);
    cmd = qmp_find_command(&cmds, "test-coroutine");
    g_assert_cmpuint(cmd->options, ==, QCO_COROUTINE | QCO_ALLOW_PRECONFIG);
    g_assert_true(qmp_command_is_coroutine(cmd));
    cmd = qmp_find_command(&cmds, "test-deprecated");
    g_assert_cmpuint(cmd->special_features, ==,
                     (1u << QAPI_DEPRECATED) | (1u << QAPI_UNSTABLE));
    g_assert_nonnull(qmp_find_command(&cmds, "test-cond-any"));
    g_assert_null(qmp_find_command(&cmds, "test-cond"));
    g_assert_null(qmp_find_command(&cmds, "test-cond-all"));

    req = test_json_parse("{\"execute\": \"test-str\"}");
    g_assert_true(qmp_dispatch_lookup(&cmds, req) ==
                  qmp_find_command(&cmds, "test-str"));
    json_object_put(req);
    req = test_json_parse("{\"execute\": 1}");
    g_assert_null(qmp_dispatch_lookup(&cmds, req));
    json_object_put(req);

    /* a private list: disabling */
    qmp_command_list_init(&local);
    test_qmp_init_marshal(&local);
    qmp_disable_command(&local, "test-str", "testing");
    req = test_json_parse("{\"execute\": \"test-str\"}");
    {
        json_object *rsp = qmp_dispatch(&local, req, false);

        test_assert_json_eq(rsp, "{\"error\": {\"class\": \"CommandNotFound\", "
                       "\"desc\": \"The command test-str has been disabled "
                       "for this instance\"}}");
        json_object_put(rsp);
    }
    json_object_put(req);
    qmp_command_list_destroy(&local);
}

static void count_cmd(const QmpCommand *cmd, void *opaque)
{
    GPtrArray *names = opaque;

    g_ptr_array_add(names, (gpointer)cmd->name);
}

static void test_for_each(void)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new();

    qmp_for_each_command(&cmds, count_cmd, names);
    /* 15 in the schema, test-cond and test-cond-all compiled out */
    g_assert_cmpuint(names->len, ==, 13);
    g_assert_cmpstr(g_ptr_array_index(names, 0), ==, "test-simple");
}

static void test_events(void)
{
    TestNested nested = { .direct = true };
    TestUnion u = { .kind = TEST_UNION_KIND_ALPHA };

    qapi_event_send_test_event("n", true, 5, TEST_ENUM_VALUE_TWO, NULL);
    g_assert_cmpstr(last_event, ==, "TEST_EVENT");
    test_assert_json_eq(last_data, "{\"name\": \"n\", \"count\": 5, "
                   "\"kind\": \"value-two\"}");
    qapi_event_send_test_event("m", false, 0, TEST_ENUM_OLD, &nested);
    test_assert_json_eq(last_data, "{\"name\": \"m\", \"kind\": \"old\", "
                   "\"cache\": {\"direct\": true}}");
    qapi_event_send_test_empty();
    g_assert_cmpstr(last_event, ==, "TEST_EMPTY");
    g_assert_null(last_data);
    u.u.alpha.a_value = 8;
    qapi_event_send_test_boxed(&u);
    g_assert_cmpstr(last_event, ==, "TEST_BOXED");
    test_assert_json_eq(last_data, "{\"kind\": \"alpha\", \"a-value\": 8}");
    g_assert_cmpstr(test_QAPIEvent_str(TEST_QAPI_EVENT_TEST_BOXED), ==,
                    "TEST_BOXED");
    g_assert_cmpint(TEST_QAPI_EVENT__MAX, ==, 3);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qmp_command_list_init(&cmds);
    test_qmp_init_marshal(&cmds);
    g_test_add_func("/qapi/dispatch/shape-errors", test_shape_errors);
    g_test_add_func("/qapi/dispatch/oob", test_oob);
    g_test_add_func("/qapi/dispatch/id-echo", test_id_echo);
    g_test_add_func("/qapi/dispatch/commands", test_commands);
    g_test_add_func("/qapi/dispatch/no-success-response",
                    test_no_success_response);
    g_test_add_func("/qapi/dispatch/registry", test_registry);
    g_test_add_func("/qapi/dispatch/for-each", test_for_each);
    g_test_add_func("/qapi/events/send", test_events);
    return g_test_run();
}
