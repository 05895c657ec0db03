/*
 * qmp-introspect.c: query-qmp-schema ('gen': false): the hand-written
 * marshaller answers the generated introspection data; the C-level
 * qmp_query_qmp_schema() converts it to SchemaInfoList.
 */
#include "qemu/osdep.h"
#include "qapi/introspect.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-introspect.h"
#include "qapi/qapi-visit.h"

json_object *qmp_schema_json(void)
{
    return qlit_to_json(&qmp_schema_qlit);
}

SchemaInfoList *qmp_query_qmp_schema(Error **errp)
{
    json_object *json = qmp_schema_json();
    SchemaInfoList *list = NULL;

    visit_type_SchemaInfoList(json, NULL, &list, errp);
    json_object_put(json);
    return list;
}

void qmp_marshal_query_qmp_schema(json_object *args, json_object **ret,
                                  Error **errp)
{
    g_autoptr(GPtrArray) seen = g_ptr_array_new();

    if (!qapi_visit_check_extra(args, NULL, seen, errp)) {
        return;
    }
    *ret = qmp_schema_json();
}
