/*
 * qapi-visit-core.c: the json-c visitor runtime: member lookup, strictness
 * checks, error messages in QEMU's wording and the built-in scalar types.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qapi/visitor.h"

/* ---- path names and errors ---- */

char *qapi_path_member(const char *path, const char *name)
{
    return path ? g_strdup_printf("%s.%s", path, name) : g_strdup(name);
}

char *qapi_path_index(const char *path, size_t i)
{
    return g_strdup_printf("%s[%zu]", path ? path : "", i);
}

const char *qapi_path_leaf(const char *path)
{
    const char *dot;

    if (!path || !*path || path[strlen(path) - 1] == ']') {
        return "null";
    }
    dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

static const char *path_or_null(const char *path)
{
    return path ? path : "null";
}

void qapi_error_missing(const char *path, const char *name, Error **errp)
{
    g_autofree char *full = qapi_path_member(path, name);

    error_setg(errp, QERR_MISSING_PARAMETER, full);
}

void qapi_error_type(const char *path, const char *expected, Error **errp)
{
    error_setg(errp, QERR_INVALID_PARAMETER_TYPE, path_or_null(path),
               expected);
}

/* QEMU names only the last path component here (and "null" in lists). */
void qapi_error_alternate(const char *path, const char *type_name,
                          Error **errp)
{
    error_setg(errp, QERR_INVALID_PARAMETER_TYPE, qapi_path_leaf(path),
               type_name);
}

/* ---- objects, arrays, enums ---- */

bool qapi_visit_check_object(json_object *in, const char *path, Error **errp)
{
    if (!json_object_is_type(in, json_type_object)) {
        qapi_error_type(path, "object", errp);
        return false;
    }
    return true;
}

bool qapi_visit_check_array(json_object *in, const char *path, Error **errp)
{
    if (!json_object_is_type(in, json_type_array)) {
        qapi_error_type(path, "array", errp);
        return false;
    }
    return true;
}

bool qapi_visit_member(json_object *in, const char *path, const char *name,
                       GPtrArray *seen, json_object **val, char **mpath)
{
    if (!json_object_object_get_ex(in, name, val)) {
        return false;
    }
    g_ptr_array_add(seen, (gpointer)name);
    *mpath = qapi_path_member(path, name);
    return true;
}

static bool seen_has(GPtrArray *seen, const char *key)
{
    guint i;

    for (i = 0; i < seen->len; i++) {
        if (!strcmp(g_ptr_array_index(seen, i), key)) {
            return true;
        }
    }
    return false;
}

bool qapi_visit_check_extra(json_object *in, const char *path,
                            GPtrArray *seen, Error **errp)
{
    json_object_object_foreach(in, key, val) {
        (void)val;
        if (!seen_has(seen, key)) {
            g_autofree char *full = qapi_path_member(path, key);

            error_setg(errp, QERR_UNEXPECTED_PARAMETER, full);
            return false;
        }
    }
    return true;
}

bool qapi_visit_enum(json_object *in, const char *path,
                     const QEnumLookup *lookup, int *val, Error **errp)
{
    const char *s;
    int v;

    if (!json_object_is_type(in, json_type_string)) {
        qapi_error_type(path, "string", errp);
        return false;
    }
    s = json_object_get_string(in);
    v = qapi_enum_parse(lookup, s, -1, NULL);
    if (v < 0) {
        error_setg(errp, QERR_PARAMETER_VALUE, qapi_path_leaf(path), s);
        return false;
    }
    *val = v;
    return true;
}

/* ---- keyval mode ---- */

/*
 * --blockdev key=value,... (util/keyval.c) gives a tree whose leaves are
 * all strings.  While keyval mode is on (per thread), the scalar visitors
 * below accept such strings and parse them as the schema's type, with
 * the semantics of QEMU's keyval input visitor.
 */
static __thread bool keyval_mode;

void qapi_visit_keyval_mode(bool enable)
{
    keyval_mode = enable;
}

static bool keyval_string(json_object *in)
{
    return keyval_mode && json_object_is_type(in, json_type_string);
}

static void keyval_error(const char *path, const char *what, Error **errp)
{
    error_setg(errp, QERR_INVALID_PARAMETER_VALUE, path_or_null(path), what);
}

static bool keyval_parse_int(json_object *in, const char *path, int64_t *val,
                             Error **errp)
{
    const char *s = json_object_get_string(in);
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 0);
    if (!*s || *end || errno) {
        keyval_error(path, "integer", errp);
        return false;
    }
    *val = v;
    return true;
}

static bool keyval_parse_uint(json_object *in, const char *path, uint64_t *val,
                              Error **errp)
{
    const char *s = json_object_get_string(in);
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 0);
    if (!*s || *end || errno || strchr(s, '-')) {
        keyval_error(path, "integer", errp);
        return false;
    }
    *val = v;
    return true;
}

/* A byte count with an optional suffix B, k/K, M, G, T, P, E (powers of 1024). */
static bool keyval_parse_size(json_object *in, const char *path, uint64_t *val,
                              Error **errp)
{
    if (qemu_strtosz(json_object_get_string(in), val) == 0) {
        return true;
    }
    error_setg(errp, QERR_INVALID_PARAMETER_VALUE, path_or_null(path),
               "a non-negative number below 2^64");
    error_append_hint(errp, "Optional suffix k, M, G, T, P or E means kilo-, "
                      "mega-, giga-, tera-, peta-\nand exabytes, "
                      "respectively.\n");
    return false;
}

/* ---- built-in scalars ---- */

bool visit_type_str(json_object *in, const char *path, char **obj,
                    Error **errp)
{
    if (!json_object_is_type(in, json_type_string)) {
        qapi_error_type(path, "string", errp);
        return false;
    }
    *obj = g_strdup(json_object_get_string(in));
    return true;
}

bool visit_type_number(json_object *in, const char *path, double *obj,
                       Error **errp)
{
    if (keyval_string(in)) {
        const char *s = json_object_get_string(in);
        char *end;

        errno = 0;
        *obj = strtod(s, &end);
        if (!*s || *end || errno) {
            keyval_error(path, "number", errp);
            return false;
        }
        return true;
    }
    if (!json_object_is_type(in, json_type_double) &&
        !json_object_is_type(in, json_type_int)) {
        qapi_error_type(path, "number", errp);
        return false;
    }
    *obj = json_object_get_double(in);
    return true;
}

/*
 * json-c keeps an integer as int64 or (when above INT64_MAX) uint64;
 * json_object_get_int64() saturates at INT64_MAX and
 * json_object_get_uint64() returns 0 for negative values, so both are
 * consulted to know the exact value.
 */
static bool get_signed(json_object *in, const char *path, int64_t min,
                       int64_t max, int64_t *val, Error **errp)
{
    int64_t v;

    if (keyval_string(in)) {
        if (!keyval_parse_int(in, path, &v, errp)) {
            return false;
        }
        if (v < min || v > max) {
            keyval_error(path, "integer", errp);
            return false;
        }
        *val = v;
        return true;
    }
    if (!json_object_is_type(in, json_type_int)) {
        qapi_error_type(path, "integer", errp);
        return false;
    }
    v = json_object_get_int64(in);
    if ((v == INT64_MAX && json_object_get_uint64(in) > (uint64_t)INT64_MAX)
        || v < min || v > max) {
        qapi_error_type(path, "integer", errp);
        return false;
    }
    *val = v;
    return true;
}

static bool get_unsigned(json_object *in, const char *path, uint64_t max,
                         uint64_t *val, Error **errp)
{
    uint64_t v;

    if (keyval_string(in)) {
        if (!keyval_parse_uint(in, path, &v, errp)) {
            return false;
        }
        if (v > max) {
            keyval_error(path, "integer", errp);
            return false;
        }
        *val = v;
        return true;
    }
    if (!json_object_is_type(in, json_type_int)) {
        qapi_error_type(path, "integer", errp);
        return false;
    }
    v = json_object_get_uint64(in);
    if ((v == 0 && json_object_get_int64(in) < 0) || v > max) {
        qapi_error_type(path, "integer", errp);
        return false;
    }
    *val = v;
    return true;
}

#define DEFINE_VISIT_SIGNED(name, type, min, max)                           \
bool visit_type_##name(json_object *in, const char *path, type *obj,        \
                       Error **errp)                                        \
{                                                                           \
    int64_t v;                                                              \
                                                                            \
    if (!get_signed(in, path, min, max, &v, errp)) {                        \
        return false;                                                       \
    }                                                                       \
    *obj = v;                                                               \
    return true;                                                            \
}                                                                           \
                                                                            \
json_object *visit_out_##name(type val)                                     \
{                                                                           \
    return json_object_new_int64(val);                                      \
}

#define DEFINE_VISIT_UNSIGNED(name, type, max)                              \
bool visit_type_##name(json_object *in, const char *path, type *obj,        \
                       Error **errp)                                        \
{                                                                           \
    uint64_t v;                                                             \
                                                                            \
    if (!get_unsigned(in, path, max, &v, errp)) {                           \
        return false;                                                       \
    }                                                                       \
    *obj = v;                                                               \
    return true;                                                            \
}                                                                           \
                                                                            \
json_object *visit_out_##name(type val)                                     \
{                                                                           \
    return json_object_new_uint64(val);                                     \
}

DEFINE_VISIT_SIGNED(int, int64_t, INT64_MIN, INT64_MAX)
DEFINE_VISIT_SIGNED(int8, int8_t, INT8_MIN, INT8_MAX)
DEFINE_VISIT_SIGNED(int16, int16_t, INT16_MIN, INT16_MAX)
DEFINE_VISIT_SIGNED(int32, int32_t, INT32_MIN, INT32_MAX)
DEFINE_VISIT_SIGNED(int64, int64_t, INT64_MIN, INT64_MAX)
DEFINE_VISIT_UNSIGNED(uint8, uint8_t, UINT8_MAX)
DEFINE_VISIT_UNSIGNED(uint16, uint16_t, UINT16_MAX)
DEFINE_VISIT_UNSIGNED(uint32, uint32_t, UINT32_MAX)
DEFINE_VISIT_UNSIGNED(uint64, uint64_t, UINT64_MAX)

bool visit_type_size(json_object *in, const char *path, uint64_t *obj,
                     Error **errp)
{
    if (keyval_string(in)) {
        return keyval_parse_size(in, path, obj, errp);
    }
    return get_unsigned(in, path, UINT64_MAX, obj, errp);
}

json_object *visit_out_size(uint64_t val)
{
    return json_object_new_uint64(val);
}

bool visit_type_bool(json_object *in, const char *path, bool *obj,
                     Error **errp)
{
    if (keyval_string(in)) {
        const char *s = json_object_get_string(in);

        if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true")) {
            *obj = true;
        } else if (!strcmp(s, "off") || !strcmp(s, "no") ||
                   !strcmp(s, "false")) {
            *obj = false;
        } else {
            keyval_error(path, "'on' or 'off'", errp);
            return false;
        }
        return true;
    }
    if (!json_object_is_type(in, json_type_boolean)) {
        qapi_error_type(path, "boolean", errp);
        return false;
    }
    *obj = json_object_get_boolean(in);
    return true;
}

bool visit_type_null(json_object *in, const char *path, QNull **obj,
                     Error **errp)
{
    if (in != NULL) {
        qapi_error_type(path, "null", errp);
        return false;
    }
    *obj = &qnull_;
    return true;
}

bool visit_type_any(json_object *in, const char *path, json_object **obj,
                    Error **errp)
{
    *obj = json_object_get(in);
    return true;
}

json_object *visit_out_str(const char *val)
{
    return json_object_new_string(val ? val : "");
}

json_object *visit_out_number(double val)
{
    return json_object_new_double(val);
}

json_object *visit_out_bool(bool val)
{
    return json_object_new_boolean(val);
}

json_object *visit_out_null(QNull *val)
{
    return NULL;
}

json_object *visit_out_any(json_object *val)
{
    return json_object_get(val);
}
