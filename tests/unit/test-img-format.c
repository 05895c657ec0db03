/*
 * test-img-format.c: blockd-img's qemu-img compatible text formats
 * (tools/img-json.c, tools/img-util.c): JSON members in qemu-img's order,
 * QEMU's string escaping, map lines, size arguments and human sizes.
 */
#include "qemu/osdep.h"
#include "../../tools/img-common.h"

/* The members of `qemu-img info --output=json` on an overlay, as printed */
static void test_qdict_order(void)
{
    static const char *const schema_order[] = {
        "filename", "format", "dirty-flag", "actual-size", "virtual-size",
        "cluster-size", "backing-filename", "full-backing-filename",
        "backing-filename-format", "format-specific",
    };
    static const char *const qemu_img_order[] = {
        "backing-filename-format", "virtual-size", "filename", "cluster-size",
        "format", "actual-size", "format-specific", "full-backing-filename",
        "backing-filename", "dirty-flag",
    };
    json_object *obj = json_object_new_object();
    g_autofree char *text = NULL;
    const char *p;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(schema_order); i++) {
        json_object_object_add(obj, schema_order[i], json_object_new_int(1));
    }
    text = img_json_pretty(obj);
    p = text;
    for (i = 0; i < ARRAY_SIZE(qemu_img_order); i++) {
        g_autofree char *key = g_strdup_printf("\"%s\":", qemu_img_order[i]);
        const char *at = strstr(p, key);

        g_assert_nonnull(at);
        p = at + strlen(key);
    }
    json_object_put(obj);
}

static void test_pretty_layout(void)
{
    json_object *obj = json_object_new_object();
    json_object *data = json_object_new_object();
    json_object *arr = json_object_new_array();
    g_autofree char *text = NULL;

    json_object_object_add(data, "compat", json_object_new_string("1.1"));
    json_object_array_add(arr, json_object_new_string("auto"));
    json_object_object_add(data, "flags", arr);
    json_object_object_add(obj, "data", data);
    json_object_object_add(obj, "type", json_object_new_string("qcow2"));
    text = img_json_pretty(obj);
    g_assert_cmpstr(text, ==,
                    "{\n"
                    "    \"type\": \"qcow2\",\n"
                    "    \"data\": {\n"
                    "        \"compat\": \"1.1\",\n"
                    "        \"flags\": [\n"
                    "            \"auto\"\n"
                    "        ]\n"
                    "    }\n"
                    "}");
    json_object_put(obj);
}

static void test_escaping(void)
{
    json_object *obj = json_object_new_object();
    g_autofree char *text = NULL;

    json_object_object_add(obj, "filename",
                           json_object_new_string("/a b/\"q\"\\\n\t\x01.img"));
    text = img_json_inline(obj);
    g_assert_cmpstr(text, ==,
                    "{ \"filename\": \"/a b/\\\"q\\\"\\\\\\n\\t\\u0001.img\"}");
    json_object_put(obj);
}

static void test_map_line(void)
{
    json_object *obj = json_object_new_object();
    g_autofree char *text = NULL;

    json_object_object_add(obj, "start", json_object_new_int64(0));
    json_object_object_add(obj, "length", json_object_new_int64(65536));
    json_object_object_add(obj, "depth", json_object_new_int64(0));
    json_object_object_add(obj, "present", json_object_new_boolean(true));
    json_object_object_add(obj, "zero", json_object_new_boolean(false));
    json_object_object_add(obj, "data", json_object_new_boolean(true));
    json_object_object_add(obj, "offset", json_object_new_int64(327680));
    text = img_json_inline(obj);
    g_assert_cmpstr(text, ==,
                    "{ \"start\": 0, \"length\": 65536, \"depth\": 0, "
                    "\"present\": true, \"zero\": false, \"data\": true, "
                    "\"offset\": 327680}");
    json_object_put(obj);
}

static void test_parse_size(void)
{
    g_assert_cmpint(img_parse_size("4096"), ==, 4096);
    g_assert_cmpint(img_parse_size("64k"), ==, 65536);
    g_assert_cmpint(img_parse_size("1.5M"), ==, 1572864);
    g_assert_cmpint(img_parse_size("2G"), ==, 2 * GiB);
    g_assert_cmpint(img_parse_size("1T"), ==, TiB);
    g_assert_cmpint(img_parse_size("512b"), ==, 512);
    g_assert_cmpint(img_parse_size("10X"), ==, -1);
    g_assert_cmpint(img_parse_size("1.5"), ==, -1);
    g_assert_cmpint(img_parse_size("-1"), ==, -1);
    g_assert_cmpint(img_parse_size(""), ==, -1);
    g_assert_cmpint(img_parse_size("9E"), ==, -1);
}

static void test_size_to_str(void)
{
    static const struct {
        uint64_t val;
        const char *str;
    } cases[] = {
        { 0, "0 B" }, { 512, "512 B" }, { 1000, "0.977 KiB" },
        { 4096, "4 KiB" }, { 200704, "196 KiB" }, { 1383000, "1.32 MiB" },
        { 67108864, "64 MiB" }, { 1572864, "1.5 MiB" }, { 3 * GiB, "3 GiB" },
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *s = img_size_to_str(cases[i].val);

        g_assert_cmpstr(s, ==, cases[i].str);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/img-format/json/qdict-order", test_qdict_order);
    g_test_add_func("/img-format/json/pretty-layout", test_pretty_layout);
    g_test_add_func("/img-format/json/escaping", test_escaping);
    g_test_add_func("/img-format/json/map-line", test_map_line);
    g_test_add_func("/img-format/size/parse", test_parse_size);
    g_test_add_func("/img-format/size/to-str", test_size_to_str);
    return g_test_run();
}
