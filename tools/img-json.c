/*
 * img-json.c: qemu-img's JSON and human "key: value" layouts for json-c
 * trees built by the QAPI output visitors.
 *
 * qemu-img prints QObjects: a QDict iterates over 512 hash buckets in
 * order and, inside a bucket, over its entries newest first.  To print
 * the same text we sort an object's members the same way (the hash is
 * the one QDict uses, tdb_hash), so differential tests can compare
 * outputs byte for byte.
 */
#include "img-common.h"

#define QDICT_BUCKETS 512

static unsigned qdict_bucket(const char *key)
{
    unsigned value = 0x238F13AF * (unsigned)strlen(key);
    unsigned i;

    for (i = 0; key[i]; i++) {
        value += ((unsigned)(unsigned char)key[i]) << (i * 5 % 24);
    }
    return (1103515243 * value + 12345) % QDICT_BUCKETS;
}

typedef struct Member {
    const char *key;
    json_object *val;
    unsigned bucket;
    int index;                      /* insertion order */
} Member;

static int member_cmp(const void *a, const void *b)
{
    const Member *ma = a, *mb = b;

    if (ma->bucket != mb->bucket) {
        return ma->bucket < mb->bucket ? -1 : 1;
    }
    return mb->index - ma->index;   /* newest first */
}

/* The members of obj in QDict iteration order; g_free() the array. */
static Member *sorted_members(json_object *obj, int *count)
{
    int n = json_object_object_length(obj);
    Member *m = g_new0(Member, n ? n : 1);
    int i = 0;

    json_object_object_foreach(obj, key, val) {
        m[i].key = key;
        m[i].val = val;
        m[i].bucket = qdict_bucket(key);
        m[i].index = i;
        i++;
    }
    qsort(m, n, sizeof(*m), member_cmp);
    *count = n;
    return m;
}

/* QEMU's JSON string quoting (control characters as \uXXXX, no "\/") */
static void quote_str(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (; *s; s++) {
        unsigned char c = *s;

        switch (c) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\b':
            g_string_append(out, "\\b");
            break;
        case '\f':
            g_string_append(out, "\\f");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\r':
            g_string_append(out, "\\r");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                g_string_append_printf(out, "\\u%04x", c);
            } else {
                g_string_append_c(out, c);
            }
        }
    }
    g_string_append_c(out, '"');
}

static void append_scalar(GString *out, json_object *obj)
{
    switch (json_object_get_type(obj)) {
    case json_type_null:
        g_string_append(out, "null");
        break;
    case json_type_boolean:
        g_string_append(out, json_object_get_boolean(obj) ? "true" : "false");
        break;
    case json_type_int:
        if (json_object_get_int64(obj) == INT64_MAX &&
            json_object_get_uint64(obj) > INT64_MAX) {
            g_string_append_printf(out, "%" PRIu64, json_object_get_uint64(obj));
        } else {
            g_string_append_printf(out, "%" PRId64, json_object_get_int64(obj));
        }
        break;
    case json_type_double:
        g_string_append_printf(out, "%.17g", json_object_get_double(obj));
        break;
    case json_type_string:
        quote_str(out, json_object_get_string(obj));
        break;
    default:
        g_assert_not_reached();
    }
}

static void newline(GString *out, int indent)
{
    g_string_append_printf(out, "\n%*s", indent * 4, "");
}

static void append_pretty(GString *out, json_object *obj, int indent)
{
    if (json_object_is_type(obj, json_type_object)) {
        int n, i;
        Member *m = sorted_members(obj, &n);

        g_string_append_c(out, '{');
        for (i = 0; i < n; i++) {
            if (i) {
                g_string_append_c(out, ',');
            }
            newline(out, indent + 1);
            quote_str(out, m[i].key);
            g_string_append(out, ": ");
            append_pretty(out, m[i].val, indent + 1);
        }
        newline(out, indent);
        g_string_append_c(out, '}');
        g_free(m);
    } else if (json_object_is_type(obj, json_type_array)) {
        size_t n = json_object_array_length(obj), i;

        g_string_append_c(out, '[');
        for (i = 0; i < n; i++) {
            if (i) {
                g_string_append_c(out, ',');
            }
            newline(out, indent + 1);
            append_pretty(out, json_object_array_get_idx(obj, i), indent + 1);
        }
        newline(out, indent);
        g_string_append_c(out, ']');
    } else {
        append_scalar(out, obj);
    }
}

char *img_json_pretty(json_object *obj)
{
    GString *out = g_string_new(NULL);

    append_pretty(out, obj, 0);
    return g_string_free(out, false);
}

char *img_json_inline(json_object *obj)
{
    GString *out = g_string_new(NULL);
    bool first = true;

    g_assert(json_object_is_type(obj, json_type_object));
    g_string_append(out, "{ ");
    json_object_object_foreach(obj, key, val) {
        if (!first) {
            g_string_append(out, ", ");
        }
        first = false;
        quote_str(out, key);
        g_string_append(out, ": ");
        append_scalar(out, val);
    }
    g_string_append(out, "}");
    return g_string_free(out, false);
}

static void dump_value(json_object *obj, int indentation);

static void dump_list(json_object *list, int indentation)
{
    size_t n = json_object_array_length(list), i;

    for (i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(list, i);
        bool composite = json_object_is_type(v, json_type_object) ||
                         json_object_is_type(v, json_type_array);

        printf("%*s[%zu]:%c", indentation * 4, "", i, composite ? '\n' : ' ');
        dump_value(v, indentation + 1);
        if (!composite) {
            printf("\n");
        }
    }
}

static void dump_dict(json_object *dict, int indentation)
{
    int n, i;
    Member *m = sorted_members(dict, &n);

    for (i = 0; i < n; i++) {
        bool composite = json_object_is_type(m[i].val, json_type_object) ||
                         json_object_is_type(m[i].val, json_type_array);
        g_autofree char *key = g_strdup(m[i].key);

        g_strdelimit(key, "-", ' ');
        printf("%*s%s:%c", indentation * 4, "", key, composite ? '\n' : ' ');
        dump_value(m[i].val, indentation + 1);
        if (!composite) {
            printf("\n");
        }
    }
    g_free(m);
}

static void dump_value(json_object *obj, int indentation)
{
    if (json_object_is_type(obj, json_type_object)) {
        dump_dict(obj, indentation);
    } else if (json_object_is_type(obj, json_type_array)) {
        dump_list(obj, indentation);
    } else if (json_object_is_type(obj, json_type_string)) {
        printf("%s", json_object_get_string(obj));
    } else {
        GString *s = g_string_new(NULL);

        append_scalar(s, obj);
        printf("%s", s->str);
        g_string_free(s, true);
    }
}

void img_json_dump_human(json_object *obj, int indentation)
{
    dump_value(obj, indentation);
}
