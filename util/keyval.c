/*
 * keyval.c: parser for QEMU's `key=value,...` option syntax (see keyval.h).
 */
#include "qemu/osdep.h"
#include "qemu/keyval.h"

static void keyval_pair_free(gpointer p)
{
    KeyvalPair *kv = p;
    g_free(kv->key);
    g_free(kv->value);
    g_free(kv);
}

/* Read up to an unescaped ',' (or '=' when stop_at_eq); ",," means ','. */
static char *keyval_read_token(const char **s, bool stop_at_eq)
{
    GString *out = g_string_new(NULL);
    const char *p = *s;

    while (*p) {
        if (*p == ',') {
            if (p[1] == ',' && !stop_at_eq) {
                g_string_append_c(out, ',');
                p += 2;
                continue;
            }
            break;
        }
        if (stop_at_eq && *p == '=') {
            break;
        }
        g_string_append_c(out, *p);
        p++;
    }
    *s = p;
    return g_string_free(out, FALSE);
}

static bool keyval_key_valid(const char *key)
{
    if (!*key) {
        return false;
    }
    for (const char *p = key; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.') {
            return false;
        }
        if (*p == '.' && (p == key || p[1] == '.' || p[1] == '\0')) {
            return false;
        }
    }
    return true;
}

GPtrArray *keyval_parse_flat(const char *params, const char *implied_key, Error **errp)
{
    GPtrArray *pairs = g_ptr_array_new_with_free_func(keyval_pair_free);
    const char *p = params;
    bool first = true;

    while (*p) {
        const char *start = p;
        char *key = keyval_read_token(&p, true);
        char *value;

        if (*p == '=') {
            p++;
            value = keyval_read_token(&p, false);
        } else if (first && implied_key) {
            /* "socket,id=..." : the first item may be the implied key's value */
            p = start;
            g_free(key);
            key = g_strdup(implied_key);
            value = keyval_read_token(&p, false);
        } else {
            error_setg(errp, "Expected '=' after parameter '%s'", key);
            g_free(key);
            goto fail;
        }
        first = false;
        if (!keyval_key_valid(key)) {
            error_setg(errp, "Invalid parameter '%s'", key);
            g_free(key);
            g_free(value);
            goto fail;
        }
        if (keyval_get(pairs, key)) {
            error_setg(errp, "Parameter '%s' is given more than once", key);
            g_free(key);
            g_free(value);
            goto fail;
        }
        KeyvalPair *kv = g_new0(KeyvalPair, 1);
        kv->key = key;
        kv->value = value;
        g_ptr_array_add(pairs, kv);
        if (*p == ',') {
            p++;
            if (!*p) {
                error_setg(errp, "Expected parameter after ','");
                goto fail;
            }
        }
    }
    return pairs;

fail:
    g_ptr_array_unref(pairs);
    return NULL;
}

const char *keyval_get(GPtrArray *pairs, const char *key)
{
    for (guint i = 0; i < pairs->len; i++) {
        KeyvalPair *kv = g_ptr_array_index(pairs, i);
        if (!strcmp(kv->key, key)) {
            return kv->value;
        }
    }
    return NULL;
}

static bool keyval_is_index(const char *s)
{
    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        if (!g_ascii_isdigit(*s)) {
            return false;
        }
    }
    return true;
}

/* Insert value at the dotted path inside the object tree. */
static bool keyval_insert(json_object *root, const char *key, const char *value,
                          Error **errp)
{
    char **parts = g_strsplit(key, ".", -1);
    json_object *cur = root;
    bool ok = false;

    for (int i = 0; parts[i]; i++) {
        bool last = parts[i + 1] == NULL;
        json_object *child = NULL;

        if (!json_object_is_type(cur, json_type_object)) {
            error_setg(errp, "Parameter '%s' conflicts with a value set before", key);
            goto out;
        }
        json_object_object_get_ex(cur, parts[i], &child);
        if (last) {
            if (child) {
                error_setg(errp, "Parameter '%s' is given more than once", key);
                goto out;
            }
            json_object_object_add(cur, parts[i], json_object_new_string(value));
        } else {
            if (!child) {
                child = json_object_new_object();
                json_object_object_add(cur, parts[i], child);
            } else if (!json_object_is_type(child, json_type_object)) {
                error_setg(errp, "Parameter '%s' conflicts with a value set before", key);
                goto out;
            }
            cur = child;
        }
    }
    ok = true;
out:
    g_strfreev(parts);
    return ok;
}

/* Objects whose keys are 0..n-1 become arrays, recursively. */
static json_object *keyval_listify(json_object *obj, const char *path, Error **errp)
{
    if (!json_object_is_type(obj, json_type_object)) {
        return json_object_get(obj);
    }
    int n = json_object_object_length(obj);
    bool all_index = n > 0;
    json_object_object_foreach(obj, k, v) {
        (void)v;
        if (!keyval_is_index(k)) {
            all_index = false;
        }
    }
    if (all_index) {
        json_object *arr = json_object_new_array();
        for (int i = 0; i < n; i++) {
            char idx[16];
            json_object *elem = NULL;
            snprintf(idx, sizeof(idx), "%d", i);
            if (!json_object_object_get_ex(obj, idx, &elem)) {
                error_setg(errp, "Parameter '%s%s%s' missing", path, *path ? "." : "", idx);
                json_object_put(arr);
                return NULL;
            }
            char *sub = g_strdup_printf("%s%s%s", path, *path ? "." : "", idx);
            json_object *conv = keyval_listify(elem, sub, errp);
            g_free(sub);
            if (!conv) {
                json_object_put(arr);
                return NULL;
            }
            json_object_array_add(arr, conv);
        }
        return arr;
    }
    json_object *out = json_object_new_object();
    json_object_object_foreach(obj, key, val) {
        char *sub = g_strdup_printf("%s%s%s", path, *path ? "." : "", key);
        json_object *conv = keyval_listify(val, sub, errp);
        g_free(sub);
        if (!conv) {
            json_object_put(out);
            return NULL;
        }
        json_object_object_add(out, key, conv);
    }
    return out;
}

json_object *keyval_parse(const char *params, const char *implied_key, Error **errp)
{
    GPtrArray *pairs = keyval_parse_flat(params, implied_key, errp);
    json_object *tree, *result = NULL;

    if (!pairs) {
        return NULL;
    }
    tree = json_object_new_object();
    for (guint i = 0; i < pairs->len; i++) {
        KeyvalPair *kv = g_ptr_array_index(pairs, i);
        if (!keyval_insert(tree, kv->key, kv->value, errp)) {
            goto out;
        }
    }
    result = keyval_listify(tree, "", errp);
out:
    json_object_put(tree);
    g_ptr_array_unref(pairs);
    return result;
}

bool keyval_parse_bool(const char *name, const char *value, bool *out, Error **errp)
{
    if (!strcmp(value, "on") || !strcmp(value, "yes") || !strcmp(value, "true")) {
        *out = true;
        return true;
    }
    if (!strcmp(value, "off") || !strcmp(value, "no") || !strcmp(value, "false")) {
        *out = false;
        return true;
    }
    error_setg(errp, "Parameter '%s' expects 'on' or 'off'", name);
    return false;
}
