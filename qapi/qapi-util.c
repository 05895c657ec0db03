/*
 * qapi-util.c: enum lookup tables and JSON type classification for the
 * generated QAPI code.
 */
#include "qemu/osdep.h"
#include "qapi/util.h"

QNull qnull_;

const char *qapi_enum_lookup(const QEnumLookup *lookup, int val)
{
    if (val < 0 || val >= lookup->size || !lookup->array[val]) {
        return "";
    }
    return lookup->array[val];
}

int qapi_enum_parse(const QEnumLookup *lookup, const char *buf, int def,
                    Error **errp)
{
    int i;

    if (!buf) {
        return def;
    }
    for (i = 0; i < lookup->size; i++) {
        if (lookup->array[i] && !strcmp(buf, lookup->array[i])) {
            return i;
        }
    }
    error_setg(errp, "invalid parameter value: %s", buf);
    return -1;
}

unsigned qapi_enum_special_features(const QEnumLookup *lookup, int val)
{
    if (!lookup->special_features || val < 0 || val >= lookup->size) {
        return 0;
    }
    return lookup->special_features[val];
}

QType qapi_json_qtype(json_object *obj)
{
    switch (json_object_get_type(obj)) {
    case json_type_null:
        return QTYPE_QNULL;
    case json_type_boolean:
        return QTYPE_QBOOL;
    case json_type_double:
    case json_type_int:
        return QTYPE_QNUM;
    case json_type_object:
        return QTYPE_QDICT;
    case json_type_array:
        return QTYPE_QLIST;
    case json_type_string:
        return QTYPE_QSTRING;
    }
    return QTYPE_NONE;
}
