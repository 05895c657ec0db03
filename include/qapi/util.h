/*
 * util.h: basic QAPI runtime types used by generated code.
 *
 * QEnumLookup (the string table of a generated enum), qapi_enum_parse() /
 * qapi_enum_lookup(), the QType of a JSON value (used by alternates), the
 * QNull placeholder for the schema's 'null' type, and the special feature
 * bits ('deprecated', 'unstable').
 */
#ifndef QAPI_UTIL_H
#define QAPI_UTIL_H

#include "qemu/osdep.h"
#include "qemu/error.h"
#include <json-c/json.h>

typedef enum QapiSpecialFeature {
    QAPI_DEPRECATED,
    QAPI_UNSTABLE,
} QapiSpecialFeature;

typedef struct QEnumLookup {
    const char *const *array;                   /* value -> name */
    const unsigned char *special_features;      /* value -> feature bits */
    const int size;                             /* number of values */
} QEnumLookup;

/* The name of enum value val ("" if out of range). */
const char *qapi_enum_lookup(const QEnumLookup *lookup, int val);
/* The value named buf; def if buf is NULL; -1 and an error if unknown. */
int qapi_enum_parse(const QEnumLookup *lookup, const char *buf, int def,
                    Error **errp);
/* Special feature bits (1u << QAPI_DEPRECATED ...) of an enum value. */
unsigned qapi_enum_special_features(const QEnumLookup *lookup, int val);

/* The JSON type of a value, as QEMU spells it; chooses alternate branches. */
typedef enum QType {
    QTYPE_NONE,
    QTYPE_QNULL,
    QTYPE_QNUM,
    QTYPE_QSTRING,
    QTYPE_QDICT,
    QTYPE_QLIST,
    QTYPE_QBOOL,
    QTYPE__MAX,
} QType;

/* The QType of a json-c value (NULL is JSON null). */
QType qapi_json_qtype(json_object *obj);

/* Schema type 'null': a pointer to the one QNull object. */
typedef struct QNull {
    int unused;
} QNull;
extern QNull qnull_;

#endif /* QAPI_UTIL_H */
