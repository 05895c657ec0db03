/*
 * test-util.c: the JSON helpers of the QAPI unit tests (test-util.h).
 */
#include "qemu/osdep.h"
#include "test-util.h"

json_object *test_json_parse(const char *text)
{
    json_tokener *tok = json_tokener_new();
    json_object *obj = json_tokener_parse_ex(tok, text, strlen(text) + 1);

    g_assert_cmpint(json_tokener_get_error(tok), ==, json_tokener_success);
    json_tokener_free(tok);
    return obj;
}

void test_assert_json_eq(json_object *got, const char *expected)
{
    json_object *exp = test_json_parse(expected);

    if (!json_object_equal(got, exp)) {
        g_test_message("got %s, expected %s",
                       json_object_to_json_string(got), expected);
        g_assert_not_reached();
    }
    json_object_put(exp);
}
