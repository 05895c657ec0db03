/*
 * qlit.h: JSON literals as static C data.
 *
 * Generated introspection data (qapi-introspect.c) is a tree of QLitObject
 * built with the QLIT_* initializer macros; qlit_to_json() turns it into
 * json-c objects.  Lists and dicts are arrays closed by a zeroed entry.
 */
#ifndef QAPI_QLIT_H
#define QAPI_QLIT_H

#include "qemu/osdep.h"
#include <json-c/json.h>

typedef enum QLitType {
    QLIT_TYPE_END,          /* terminates a list */
    QLIT_TYPE_NULL,
    QLIT_TYPE_BOOL,
    QLIT_TYPE_INT,
    QLIT_TYPE_STR,
    QLIT_TYPE_DICT,
    QLIT_TYPE_LIST,
} QLitType;

typedef struct QLitDictEntry QLitDictEntry;
typedef struct QLitObject QLitObject;

struct QLitObject {
    QLitType type;
    union {
        bool b;
        int64_t i;
        const char *s;
        const QLitDictEntry *dict;
        const QLitObject *list;
    } u;
};

struct QLitDictEntry {
    const char *key;        /* NULL terminates a dict */
    QLitObject value;
};

#define QLIT_NULL       { .type = QLIT_TYPE_NULL }
#define QLIT_BOOL(v)    { .type = QLIT_TYPE_BOOL, .u.b = (v) }
#define QLIT_INT(v)     { .type = QLIT_TYPE_INT, .u.i = (v) }
#define QLIT_STR(v)     { .type = QLIT_TYPE_STR, .u.s = (v) }
#define QLIT_DICT(v)    { .type = QLIT_TYPE_DICT, .u.dict = (v) }
#define QLIT_LIST(v)    { .type = QLIT_TYPE_LIST, .u.list = (v) }

/* A new json-c value (NULL for QLIT_NULL). */
json_object *qlit_to_json(const QLitObject *lit);

#endif /* QAPI_QLIT_H */
