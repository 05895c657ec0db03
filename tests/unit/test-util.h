/*
 * test-util.h: helpers the unit tests of the QAPI layer share: JSON text
 * to a json-c object and the comparison of an object with JSON text.
 * No block layer here (tests/unit/test-util.c links with libqapi alone);
 * the block-layer helpers are in test-util-block.h.
 */
#ifndef TESTS_UNIT_TEST_UTIL_H
#define TESTS_UNIT_TEST_UTIL_H

#include <json-c/json.h>

/* Parse text (which must be valid JSON) into a new reference. */
json_object *test_json_parse(const char *text);

/* Fail the test unless got equals the JSON text expected. */
void test_assert_json_eq(json_object *got, const char *expected);

#endif
