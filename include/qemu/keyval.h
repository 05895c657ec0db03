/*
 * keyval.h: QEMU's command-line option syntax `[implied,]key=value,key.sub=value`.
 *
 * "," inside a value is written ",,".  Dotted keys build nested objects,
 * and keys that are all digits ("bitmaps.0") build arrays, so that
 * `--blockdev driver=file,node-name=a,cache.direct=on` becomes the same
 * tree as its JSON form, with every leaf a string.  The QAPI input visitor
 * in keyval mode then converts strings to the schema's scalar types.
 */
#ifndef QEMU_KEYVAL_H
#define QEMU_KEYVAL_H

#include "qemu/osdep.h"
#include "qemu/error.h"
#include <json-c/json.h>

typedef struct KeyvalPair {
    char *key;
    char *value;
} KeyvalPair;

/* Flat list of pairs in order; duplicates are an error. Free with g_ptr_array_unref(). */
GPtrArray *keyval_parse_flat(const char *params, const char *implied_key, Error **errp);
/* Lookup in a flat list; NULL when absent. */
const char *keyval_get(GPtrArray *pairs, const char *key);
/* Nested json-c tree (all leaves strings). */
json_object *keyval_parse(const char *params, const char *implied_key, Error **errp);
/* on/off, yes/no, true/false */
bool keyval_parse_bool(const char *name, const char *value, bool *out, Error **errp);

#endif
