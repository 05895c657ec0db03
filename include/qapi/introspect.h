/*
 * introspect.h: query-qmp-schema.
 *
 * The command is declared 'gen': false in qapi/introspect.json, so its
 * marshaller qmp_marshal_query_qmp_schema() is hand-written (it answers the
 * generated JSON directly); qmp_query_qmp_schema() gives the same data as
 * C structs for in-process users and tests.
 */
#ifndef QAPI_INTROSPECT_H
#define QAPI_INTROSPECT_H

#include "qapi/qapi-types.h"

/* The schema as json-c (a new reference to a JSON array). */
json_object *qmp_schema_json(void);
SchemaInfoList *qmp_query_qmp_schema(Error **errp);

#endif /* QAPI_INTROSPECT_H */
