/*
 * test-qapi-visit.c: generated json-c visitors of the test schema
 * (tests/qapi-schema/qapi-schema-test.json): round trips of every kind of
 * type, QEMU-worded strict input errors with dotted paths, integer ranges
 * (uint64 2^64-1 exactness), enums, conditions and introspection data.
 */
#include "qemu/osdep.h"
#include "qapi/introspect.h"
#include "qapi/qapi-visit.h"
#include "test-qapi-visit.h"
#include "test-qapi-introspect.h"
#include "test-util.h"

static void expect_error(Error *err, const char *msg)
{
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free(err);
}

/* Parse JSON, visit as TYPE, print it back and compare with OUT. */
#define ROUNDTRIP_AS(type, json, out) do {                               \
    json_object *in_ = test_json_parse(json);                            \
    type *obj_ = NULL;                                                   \
    json_object *back_;                                                  \
                                                                         \
    g_assert_true(visit_type_##type(in_, NULL, &obj_, &error_abort));    \
    g_assert_nonnull(obj_);                                              \
    back_ = visit_out_##type(obj_);                                      \
    test_assert_json_eq(back_, out);                                     \
    json_object_put(back_);                                              \
    json_object_put(in_);                                                \
    qapi_free_##type(obj_);                                              \
} while (0)
#define ROUNDTRIP(type, json) ROUNDTRIP_AS(type, json, json)

/* Parse JSON, visit as TYPE and expect failure with message MSG. */
#define EXPECT_FAIL(type, json, msg) do {                                \
    json_object *in_ = test_json_parse(json);                            \
    type *obj_ = (type *)&obj_;                                          \
    Error *err_ = NULL;                                                  \
                                                                         \
    g_assert_false(visit_type_##type(in_, NULL, &obj_, &err_));          \
    g_assert_null(obj_);                                                 \
    expect_error(err_, msg);                                             \
    json_object_put(in_);                                                \
} while (0)

#define FULL_STRUCT \
    "{\"id\": \"n0\", \"label\": \"L\", \"count\": -5, \"flag\": false," \
    " \"kind\": \"value-two\", \"cache\": {\"direct\": true," \
    " \"no-flush\": false}, \"tags\": [\"a\", \"b\"]," \
    " \"numbers\": [1, -2, 9223372036854775807]," \
    " \"kinds\": [\"old\", \"value-one\"]," \
    " \"blob\": {\"x\": [1, {\"y\": null}], \"z\": 1.5}," \
    " \"ratio\": 0.25, \"default\": 7," \
    " \"sub\": {\"value\": 18446744073709551615}, \"always\": 1}"

static void test_struct_roundtrip(void)
{
    json_object *in = test_json_parse(FULL_STRUCT);
    TestStruct *s = NULL;

    ROUNDTRIP(TestStruct, FULL_STRUCT);
    /* only required members */
    ROUNDTRIP(TestStruct, "{\"id\": \"x\", \"count\": 0, "
              "\"kind\": \"value-one\", \"tags\": []}");

    g_assert_true(visit_type_TestStruct(in, NULL, &s, &error_abort));
    g_assert_cmpstr(s->id, ==, "n0");
    g_assert_cmpstr(s->label, ==, "L");
    g_assert_cmpint(s->count, ==, -5);
    g_assert_true(s->has_flag);
    g_assert_false(s->flag);
    g_assert_cmpint(s->kind, ==, TEST_ENUM_VALUE_TWO);
    g_assert_true(s->cache->direct);
    g_assert_true(s->cache->has_no_flush);
    g_assert_cmpstr(s->tags->value, ==, "a");
    g_assert_cmpstr(s->tags->next->value, ==, "b");
    g_assert_null(s->tags->next->next);
    g_assert_cmpint(s->numbers->next->next->value, ==, INT64_MAX);
    g_assert_cmpint(s->kinds->value, ==, TEST_ENUM_OLD);
    g_assert_true(s->has_q_default);
    g_assert_cmpint(s->q_default, ==, 7);
    g_assert_true(s->has_ratio);
    g_assert_true(s->ratio == 0.25);
    g_assert_true(s->sub->value == UINT64_MAX);
    g_assert_true(json_object_is_type(s->blob, json_type_object));
    g_assert_cmpstr(qapi_TestStruct_base(s)->id, ==, "n0");
    qapi_free_TestStruct(s);
    json_object_put(in);

    ROUNDTRIP(TestEmpty, "{}");
    EXPECT_FAIL(TestEmpty, "{\"a\": 1}", "Parameter 'a' is unexpected");
}

static void test_struct_errors(void)
{
    EXPECT_FAIL(TestStruct, "[]",
                "Invalid parameter type for 'null', expected: object");
    EXPECT_FAIL(TestStruct, "{\"count\": 1}", "Parameter 'id' is missing");
    EXPECT_FAIL(TestStruct, "{\"id\": 1}",
                "Invalid parameter type for 'id', expected: string");
    EXPECT_FAIL(TestStruct, "{\"id\": null}",
                "Invalid parameter type for 'id', expected: string");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": [], \"bogus\": 1}",
                "Parameter 'bogus' is unexpected");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"bogus\", \"tags\": []}",
                "Parameter 'kind' does not accept value 'bogus'");
    /* a conditional value that is compiled out is not accepted */
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-three\", \"tags\": []}",
                "Parameter 'kind' does not accept value 'value-three'");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": [], \"never\": 1}",
                "Parameter 'never' is unexpected");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\"}", "Parameter 'tags' is missing");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": {}}",
                "Invalid parameter type for 'tags', expected: array");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": [\"a\", 2]}",
                "Invalid parameter type for 'tags[1]', expected: string");
    /* QEMU names list items 'null' in enum errors */
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": [], \"kinds\": [\"x\"]}",
                "Parameter 'null' does not accept value 'x'");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": [], \"cache\": 1}",
                "Invalid parameter type for 'cache', expected: object");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": [], \"cache\": {}}",
                "Parameter 'cache.direct' is missing");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": [], "
                "\"cache\": {\"direct\": 1}}",
                "Invalid parameter type for 'cache.direct', expected: boolean");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": [], "
                "\"cache\": {\"direct\": true, \"bogus\": 0}}",
                "Parameter 'cache.bogus' is unexpected");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": [], \"ratio\": \"1\"}",
                "Invalid parameter type for 'ratio', expected: number");
    EXPECT_FAIL(TestStruct, "{\"id\": \"x\", \"count\": 0, "
                "\"kind\": \"value-one\", \"tags\": [], "
                "\"sub\": {\"value\": -1}}",
                "Invalid parameter type for 'sub.value', expected: integer");
    EXPECT_FAIL(TestHolder, "{}", "Parameter 'n' is missing");
    EXPECT_FAIL(TestHolder, "{\"n\": 0}",
                "Invalid parameter type for 'n', expected: null");
}

#define INTS_MAX \
    "{\"i8\": 127, \"i16\": 32767, \"i32\": 2147483647," \
    " \"i64\": 9223372036854775807, \"u8\": 255, \"u16\": 65535," \
    " \"u32\": 4294967295, \"u64\": 18446744073709551615," \
    " \"sz\": 18446744073709551615, \"i\": 9223372036854775807}"
#define INTS_MIN \
    "{\"i8\": -128, \"i16\": -32768, \"i32\": -2147483648," \
    " \"i64\": -9223372036854775808, \"u8\": 0, \"u16\": 0," \
    " \"u32\": 0, \"u64\": 0, \"sz\": 0, \"i\": -9223372036854775808}"

/* TestInts with member name set to value (all others 0). */
static void expect_int_error(const char *name, const char *value)
{
    g_autofree char *json = NULL;
    g_autofree char *msg = NULL;
    GString *s = g_string_new("{");
    const char *names[] = { "i8", "i16", "i32", "i64", "u8", "u16", "u32",
                            "u64", "sz", "i" };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(names); i++) {
        g_string_append_printf(s, "%s\"%s\": %s", i ? ", " : "", names[i],
                               strcmp(names[i], name) ? "0" : value);
    }
    g_string_append(s, "}");
    json = g_string_free(s, false);
    msg = g_strdup_printf("Invalid parameter type for '%s', expected: integer",
                          name);
    EXPECT_FAIL(TestInts, json, msg);
}

static void test_ints(void)
{
    json_object *in = test_json_parse(INTS_MAX);
    json_object *out;
    TestInts *t = NULL;

    ROUNDTRIP(TestInts, INTS_MAX);
    ROUNDTRIP(TestInts, INTS_MIN);

    g_assert_true(visit_type_TestInts(in, NULL, &t, &error_abort));
    g_assert_cmpint(t->i8, ==, INT8_MAX);
    g_assert_cmpint(t->i64, ==, INT64_MAX);
    g_assert_true(t->u64 == UINT64_MAX);
    g_assert_true(t->sz == UINT64_MAX);
    g_assert_true(t->u32 == UINT32_MAX);
    out = visit_out_TestInts(t);
    /* the text must be exact, not a rounded double */
    g_assert_nonnull(strstr(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN),
                            "\"u64\":18446744073709551615"));
    json_object_put(out);
    qapi_free_TestInts(t);
    json_object_put(in);

    expect_int_error("i8", "128");
    expect_int_error("i8", "-129");
    expect_int_error("u8", "300");
    expect_int_error("u8", "-1");
    expect_int_error("i16", "32768");
    expect_int_error("u16", "65536");
    expect_int_error("i32", "-2147483649");
    expect_int_error("u32", "-1");
    expect_int_error("u32", "4294967296");
    expect_int_error("i64", "9223372036854775808");
    expect_int_error("i", "18446744073709551615");
    expect_int_error("u64", "-1");
    expect_int_error("sz", "-9223372036854775808");
    expect_int_error("i", "1.0");
    expect_int_error("u64", "\"1\"");
    expect_int_error("i", "true");
    expect_int_error("i", "null");
}

static void test_union(void)
{
    TestUnion *u = NULL;
    json_object *in;

    ROUNDTRIP(TestUnion, "{\"kind\": \"alpha\", \"a-value\": 3}");
    ROUNDTRIP(TestUnion, "{\"kind\": \"alpha\", \"common\": \"c\", "
              "\"a-value\": -3}");
    ROUNDTRIP(TestUnion, "{\"kind\": \"beta\", \"b-list\": "
              "[{\"direct\": true}, {\"direct\": false, \"no-flush\": true}]}");
    ROUNDTRIP(TestUnion, "{\"kind\": \"gamma\"}");
    ROUNDTRIP(TestUnionNamedBase, "{\"kind\": \"alpha\", \"a-value\": 1}");
    ROUNDTRIP(TestUnionNamedBase, "{\"kind\": \"beta\"}");

    in = test_json_parse("{\"kind\": \"beta\", \"b-list\": [{\"direct\": true}]}");
    g_assert_true(visit_type_TestUnion(in, NULL, &u, &error_abort));
    g_assert_cmpint(u->kind, ==, TEST_UNION_KIND_BETA);
    g_assert_true(u->u.beta.b_list->value->direct);
    qapi_free_TestUnion(u);
    json_object_put(in);

    EXPECT_FAIL(TestUnion, "{\"a-value\": 3}", "Parameter 'kind' is missing");
    EXPECT_FAIL(TestUnion, "{\"kind\": \"delta\"}",
                "Parameter 'kind' does not accept value 'delta'");
    EXPECT_FAIL(TestUnion, "{\"kind\": \"alpha\"}",
                "Parameter 'a-value' is missing");
    EXPECT_FAIL(TestUnion, "{\"kind\": \"alpha\", \"a-value\": 1, "
                "\"b-list\": []}", "Parameter 'b-list' is unexpected");
    EXPECT_FAIL(TestUnion, "{\"kind\": \"gamma\", \"a-value\": 1}",
                "Parameter 'a-value' is unexpected");
    EXPECT_FAIL(TestUnion, "{\"kind\": \"beta\", \"b-list\": "
                "[{\"direct\": true}, {}]}",
                "Parameter 'b-list[1].direct' is missing");
    EXPECT_FAIL(TestUnion, "{\"kind\": \"beta\", \"b-list\": "
                "[{\"direct\": \"yes\"}]}",
                "Invalid parameter type for 'b-list[0].direct', "
                "expected: boolean");
    EXPECT_FAIL(TestHolder, "{\"n\": null, \"ul\": [{\"kind\": \"beta\", "
                "\"b-list\": [{\"direct\": true, \"x\": 1}]}]}",
                "Parameter 'ul[0].b-list[0].x' is unexpected");
}

static void test_alternate(void)
{
    TestAlternate *a = NULL;
    json_object *in;

    ROUNDTRIP(TestAlternate, "5");
    ROUNDTRIP(TestAlternate, "\"str\"");
    ROUNDTRIP(TestAlternate, "{\"direct\": false}");
    ROUNDTRIP(TestAlternate, "null");
    ROUNDTRIP(TestAlternate, "[1, 2, 3]");
    ROUNDTRIP(TestAlternate, "true");
    ROUNDTRIP(TestAltEnum, "\"old\"");
    ROUNDTRIP(TestAltEnum, "2.5");
    ROUNDTRIP_AS(TestAltEnum, "3", "3.0");

    in = test_json_parse("[7]");
    g_assert_true(visit_type_TestAlternate(in, NULL, &a, &error_abort));
    g_assert_cmpint(a->type, ==, QTYPE_QLIST);
    g_assert_cmpint(a->u.l->value, ==, 7);
    qapi_free_TestAlternate(a);
    json_object_put(in);
    in = test_json_parse("\"s\"");
    g_assert_true(visit_type_TestAlternate(in, NULL, &a, &error_abort));
    g_assert_cmpint(a->type, ==, QTYPE_QSTRING);
    g_assert_cmpstr(a->u.s, ==, "s");
    qapi_free_TestAlternate(a);
    json_object_put(in);

    ROUNDTRIP(TestHolder, "{\"n\": null, \"alt\": null, \"alt2\": 1.5}");
    EXPECT_FAIL(TestHolder, "{\"n\": null, \"alt\": 1.5}",
                "Invalid parameter type for 'alt', expected: integer");
    EXPECT_FAIL(TestHolder, "{\"n\": null, \"alt\": {}}",
                "Parameter 'alt.direct' is missing");
    EXPECT_FAIL(TestHolder, "{\"n\": null, \"alt\": [\"x\"]}",
                "Invalid parameter type for 'alt[0]', expected: integer");
    EXPECT_FAIL(TestHolder, "{\"n\": null, \"alt2\": \"bogus\"}",
                "Parameter 'alt2' does not accept value 'bogus'");
    EXPECT_FAIL(TestHolder, "{\"n\": null, \"alt2\": {}}",
                "Invalid parameter type for 'alt2', expected: TestAltEnum");
    EXPECT_FAIL(TestAltEnum, "[]",
                "Invalid parameter type for 'null', expected: TestAltEnum");
}

static void test_any(void)
{
    ROUNDTRIP(TestHolder, "{\"n\": null, \"anys\": [1, \"x\", null, "
              "{\"deep\": [[]]}, 18446744073709551615]}");
    ROUNDTRIP(TestStruct, "{\"id\": \"x\", \"count\": 0, "
              "\"kind\": \"value-one\", \"tags\": [], \"blob\": [true]}");
}

static void test_enums(void)
{
    Error *err = NULL;

    /* value-three is compiled out, 'old' is the third value */
    g_assert_cmpint(TEST_ENUM__MAX, ==, 3);
    g_assert_cmpint(TEST_ENUM_OLD, ==, 2);
    g_assert_cmpstr(TestEnum_str(TEST_ENUM_VALUE_TWO), ==, "value-two");
    g_assert_cmpint(qapi_enum_parse(&TestEnum_lookup, "old", -1, NULL), ==,
                    TEST_ENUM_OLD);
    g_assert_cmpint(qapi_enum_parse(&TestEnum_lookup, "nope", -1, &err), ==,
                    -1);
    g_assert_nonnull(err);
    error_free(err);
    g_assert_cmpint(qapi_enum_parse(&TestEnum_lookup, NULL, 42, NULL), ==, 42);
    g_assert_cmpuint(qapi_enum_special_features(&TestEnum_lookup,
                                                TEST_ENUM_OLD), ==,
                     1u << QAPI_DEPRECATED);
    g_assert_cmpuint(qapi_enum_special_features(&TestEnum_lookup,
                                                TEST_ENUM_VALUE_ONE), ==, 0);
    /* 'prefix' */
    g_assert_cmpint(TPE_B, ==, 1);
    g_assert_cmpstr(TestPrefixedEnum_str(TPE_A), ==, "a");
    /* camel_to_upper of the type name */
    g_assert_cmpint(TEST_UNION_KIND_GAMMA, ==, 2);
    g_assert_cmpint(TEST_UNION_KIND__MAX, ==, 3);
#ifdef CONFIG_QAPI_TEST_NEVER
    g_assert_not_reached();
#endif
}

static void test_free_null(void)
{
    g_autoptr(TestStruct) s = NULL;
    g_autoptr(strList) l = NULL;

    qapi_free_TestStruct(NULL);
    qapi_free_TestUnion(NULL);
    qapi_free_TestAlternate(NULL);
    qapi_free_TestUnionList(NULL);
    s = g_new0(TestStruct, 1);
    s->id = g_strdup("auto");
    l = g_new0(strList, 1);
    l->value = g_strdup("freed by g_autoptr");
}

/* ---- introspection ---- */

static json_object *find_entry(json_object *schema, const char *name)
{
    size_t i;

    for (i = 0; i < json_object_array_length(schema); i++) {
        json_object *e = json_object_array_get_idx(schema, i);
        json_object *n = json_object_object_get(e, "name");

        if (!strcmp(json_object_get_string(n), name)) {
            return e;
        }
    }
    return NULL;
}

static const char *get_str(json_object *obj, const char *key)
{
    json_object *v = json_object_object_get(obj, key);

    return v ? json_object_get_string(v) : NULL;
}

static void test_introspect(void)
{
    json_object *schema = qlit_to_json(&test_qmp_schema_qlit);
    json_object *cmd, *args, *members, *ret;
    SchemaInfoList *list = NULL;
    const char *arg_name;
    size_t i;
    bool saw_speed = false;

    g_assert_true(json_object_is_type(schema, json_type_array));
    g_assert_nonnull(find_entry(schema, "test-simple"));
    g_assert_nonnull(find_entry(schema, "test-cond-any"));
    g_assert_nonnull(find_entry(schema, "TEST_EVENT"));
    g_assert_nonnull(find_entry(schema, "test-nogen"));
    g_assert_null(find_entry(schema, "test-cond"));
    g_assert_null(find_entry(schema, "test-cond-all"));
    g_assert_null(find_entry(schema, "TEST_COND"));
    /* type names are masked */
    g_assert_null(find_entry(schema, "TestStruct"));
    g_assert_nonnull(find_entry(schema, "int"));
    g_assert_null(find_entry(schema, "uint64"));

    cmd = find_entry(schema, "test-simple");
    g_assert_cmpstr(get_str(cmd, "meta-type"), ==, "command");
    arg_name = get_str(cmd, "arg-type");
    g_assert_true(g_ascii_isdigit(arg_name[0]));
    args = find_entry(schema, arg_name);
    g_assert_cmpstr(get_str(args, "meta-type"), ==, "object");
    members = json_object_object_get(args, "members");
    g_assert_cmpint(json_object_array_length(members), ==, 6);
    for (i = 0; i < json_object_array_length(members); i++) {
        json_object *m = json_object_array_get_idx(members, i);

        if (!strcmp(get_str(m, "name"), "speed")) {
            json_object *def;

            saw_speed = true;
            g_assert_cmpstr(get_str(m, "type"), ==, "int");
            g_assert_true(json_object_object_get_ex(m, "default", &def));
            g_assert_null(def);
        }
        if (!strcmp(get_str(m, "name"), "device")) {
            g_assert_false(json_object_object_get_ex(m, "default", NULL));
        }
    }
    g_assert_true(saw_speed);
    ret = find_entry(schema, get_str(cmd, "ret-type"));
    g_assert_nonnull(ret);

    cmd = find_entry(schema, "test-oob");
    g_assert_true(json_object_get_boolean(
                      json_object_object_get(cmd, "allow-oob")));
    cmd = find_entry(schema, "test-deprecated");
    test_assert_json_eq(json_object_object_get(cmd, "features"),
                   "[\"deprecated\", \"unstable\"]");
    g_assert_cmpstr(get_str(cmd, "ret-type"), ==, "[int]");

    /* the data conforms to the SchemaInfo types of the main schema */
    g_assert_true(visit_type_SchemaInfoList(schema, NULL, &list,
                                            &error_abort));
    g_assert_nonnull(list);
    qapi_free_SchemaInfoList(list);
    json_object_put(schema);
}

static void test_introspect_enum_union(void)
{
    json_object *schema = qlit_to_json(&test_qmp_schema_qlit);
    json_object *ev = find_entry(schema, "TEST_EVENT");
    json_object *args = find_entry(schema, get_str(ev, "arg-type"));
    json_object *members = json_object_object_get(args, "members");
    json_object *kind = json_object_array_get_idx(members, 2);
    json_object *e = find_entry(schema, get_str(kind, "type"));
    json_object *boxed, *u;

    g_assert_cmpstr(get_str(kind, "name"), ==, "kind");
    g_assert_cmpstr(get_str(e, "meta-type"), ==, "enum");
    test_assert_json_eq(json_object_object_get(e, "values"),
                   "[\"value-one\", \"value-two\", \"old\"]");
    test_assert_json_eq(json_object_object_get(e, "members"),
                   "[{\"name\": \"value-one\"}, {\"name\": \"value-two\"}, "
                   "{\"name\": \"old\", \"features\": [\"deprecated\"]}]");

    boxed = find_entry(schema, "test-boxed");
    u = find_entry(schema, get_str(boxed, "arg-type"));
    g_assert_cmpstr(get_str(u, "tag"), ==, "kind");
    g_assert_cmpint(json_object_array_length(
                        json_object_object_get(u, "variants")), ==, 2);
    g_assert_cmpint(json_object_array_length(
                        json_object_object_get(u, "members")), ==, 2);
    json_object_put(schema);
}

static void test_main_schema(void)
{
    SchemaInfoList *list = qmp_query_qmp_schema(&error_abort);
    SchemaInfoList *l;
    bool saw_self = false, saw_shutdown = false;

    for (l = list; l; l = l->next) {
        if (!strcmp(l->value->name, "query-qmp-schema")) {
            saw_self = true;
            g_assert_cmpint(l->value->meta_type, ==,
                            SCHEMA_META_TYPE_COMMAND);
            g_assert_true(l->value->u.command.arg_type[0] >= '0');
        }
        if (!strcmp(l->value->name, "SHUTDOWN")) {
            saw_shutdown = true;
            g_assert_cmpint(l->value->meta_type, ==, SCHEMA_META_TYPE_EVENT);
        }
    }
    g_assert_true(saw_self);
    g_assert_true(saw_shutdown);
    qapi_free_SchemaInfoList(list);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qapi/visit/struct-roundtrip", test_struct_roundtrip);
    g_test_add_func("/qapi/visit/struct-errors", test_struct_errors);
    g_test_add_func("/qapi/visit/ints", test_ints);
    g_test_add_func("/qapi/visit/union", test_union);
    g_test_add_func("/qapi/visit/alternate", test_alternate);
    g_test_add_func("/qapi/visit/any", test_any);
    g_test_add_func("/qapi/visit/enums", test_enums);
    g_test_add_func("/qapi/visit/free-null", test_free_null);
    g_test_add_func("/qapi/introspect/test-schema", test_introspect);
    g_test_add_func("/qapi/introspect/enum-union", test_introspect_enum_union);
    g_test_add_func("/qapi/introspect/main-schema", test_main_schema);
    return g_test_run();
}
