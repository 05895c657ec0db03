/*
 * visitor.h: the json-c visitor runtime used by generated qapi-visit.c.
 *
 * Input visitors:  bool visit_type_T(json_object *in, const char *path,
 *                                    CType *obj, Error **errp)
 * convert one JSON value into C, strictly, with QEMU's error wording.  path
 * names the value for messages: "device", "cache.direct", "bitmaps[0]";
 * NULL for the top level.  On failure *obj holds nothing to free.
 * Output visitors: json_object *visit_out_T(CType val) return a new
 * reference (NULL is JSON null).
 * See docs/devel/qapi.rst.
 */
#ifndef QAPI_VISITOR_H
#define QAPI_VISITOR_H

#include "qapi/util.h"

/* ---- path names and errors ---- */
/* "path.name" (or "name" when path is NULL); g_free() the result. */
char *qapi_path_member(const char *path, const char *name);
/* "path[i]"; g_free() the result. */
char *qapi_path_index(const char *path, size_t i);
/* The last component of path as QEMU names it: "null" for list items. */
const char *qapi_path_leaf(const char *path);

void qapi_error_missing(const char *path, const char *name, Error **errp);
void qapi_error_type(const char *path, const char *expected, Error **errp);
void qapi_error_alternate(const char *path, const char *type_name,
                          Error **errp);

/* ---- object and array helpers ---- */
bool qapi_visit_check_object(json_object *in, const char *path, Error **errp);
bool qapi_visit_check_array(json_object *in, const char *path, Error **errp);
/*
 * Look member name up in object in.  If present (a JSON null counts as
 * present), record it in seen, return its value in *val and its path
 * (to g_free()) in *mpath, and return true.
 */
bool qapi_visit_member(json_object *in, const char *path, const char *name,
                       GPtrArray *seen, json_object **val, char **mpath);
/* Fail with "Parameter 'X' is unexpected" for a member not in seen. */
bool qapi_visit_check_extra(json_object *in, const char *path,
                            GPtrArray *seen, Error **errp);
bool qapi_visit_enum(json_object *in, const char *path,
                     const QEnumLookup *lookup, int *val, Error **errp);

/*
 * Keyval mode (per thread): the scalar visitors also accept strings and
 * parse them as their type ("on"/"off" booleans, integers, sizes with
 * k/M/G/T/P/E suffixes, numbers), as for --blockdev key=value,... given
 * through keyval_parse().  Turn it on only around such a visit.
 */
void qapi_visit_keyval_mode(bool enable);

/* ---- built-in scalar types ---- */
bool visit_type_str(json_object *in, const char *path, char **obj,
                    Error **errp);
bool visit_type_number(json_object *in, const char *path, double *obj,
                       Error **errp);
bool visit_type_int(json_object *in, const char *path, int64_t *obj,
                    Error **errp);
bool visit_type_int8(json_object *in, const char *path, int8_t *obj,
                     Error **errp);
bool visit_type_int16(json_object *in, const char *path, int16_t *obj,
                      Error **errp);
bool visit_type_int32(json_object *in, const char *path, int32_t *obj,
                      Error **errp);
bool visit_type_int64(json_object *in, const char *path, int64_t *obj,
                      Error **errp);
bool visit_type_uint8(json_object *in, const char *path, uint8_t *obj,
                      Error **errp);
bool visit_type_uint16(json_object *in, const char *path, uint16_t *obj,
                       Error **errp);
bool visit_type_uint32(json_object *in, const char *path, uint32_t *obj,
                       Error **errp);
bool visit_type_uint64(json_object *in, const char *path, uint64_t *obj,
                       Error **errp);
bool visit_type_size(json_object *in, const char *path, uint64_t *obj,
                     Error **errp);
bool visit_type_bool(json_object *in, const char *path, bool *obj,
                     Error **errp);
bool visit_type_null(json_object *in, const char *path, QNull **obj,
                     Error **errp);
/* Takes a new reference to in. */
bool visit_type_any(json_object *in, const char *path, json_object **obj,
                    Error **errp);

json_object *visit_out_str(const char *val);
json_object *visit_out_number(double val);
json_object *visit_out_int(int64_t val);
json_object *visit_out_int8(int8_t val);
json_object *visit_out_int16(int16_t val);
json_object *visit_out_int32(int32_t val);
json_object *visit_out_int64(int64_t val);
json_object *visit_out_uint8(uint8_t val);
json_object *visit_out_uint16(uint16_t val);
json_object *visit_out_uint32(uint32_t val);
json_object *visit_out_uint64(uint64_t val);
json_object *visit_out_size(uint64_t val);
json_object *visit_out_bool(bool val);
json_object *visit_out_null(QNull *val);
/* Returns a new reference to val. */
json_object *visit_out_any(json_object *val);

#endif /* QAPI_VISITOR_H */
