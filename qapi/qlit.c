/*
 * qlit.c: turn static QLitObject trees (generated introspection data) into
 * json-c values.
 */
#include "qemu/osdep.h"
#include "qapi/qlit.h"

json_object *qlit_to_json(const QLitObject *lit)
{
    json_object *obj;
    const QLitDictEntry *e;
    const QLitObject *elt;

    switch (lit->type) {
    case QLIT_TYPE_BOOL:
        return json_object_new_boolean(lit->u.b);
    case QLIT_TYPE_INT:
        return json_object_new_int64(lit->u.i);
    case QLIT_TYPE_STR:
        return json_object_new_string(lit->u.s);
    case QLIT_TYPE_DICT:
        obj = json_object_new_object();
        for (e = lit->u.dict; e->key; e++) {
            json_object_object_add(obj, e->key, qlit_to_json(&e->value));
        }
        return obj;
    case QLIT_TYPE_LIST:
        obj = json_object_new_array();
        for (elt = lit->u.list; elt->type != QLIT_TYPE_END; elt++) {
            json_object_array_add(obj, qlit_to_json(elt));
        }
        return obj;
    case QLIT_TYPE_NULL:
    case QLIT_TYPE_END:
    default:
        return NULL;
    }
}
