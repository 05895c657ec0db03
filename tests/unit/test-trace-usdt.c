/*
 * test-trace-usdt.c: the dtrace (USDT) backend, whatever backends the
 * build chose: the test event group is generated a second time with
 * --backends=dtrace (trace/trace-test_usdt.h).  Checks the probe
 * semaphores behind trace_event_get_state_backends() and reads this
 * program's own .note.stapsdt section to find the probes.
 */
#include "qemu/osdep.h"
#include "trace/control.h"
#include "trace/trace-test_usdt.h"
#include <elf.h>

typedef struct Probe {
    char *provider;
    char *name;
    char *args;
    uint64_t semaphore;
} Probe;

static void probe_free(gpointer p)
{
    Probe *probe = p;

    g_free(probe->provider);
    g_free(probe->name);
    g_free(probe->args);
    g_free(probe);
}

/* Parse the SystemTap notes of one .note.stapsdt section. */
static void parse_notes(const uint8_t *p, size_t len, GPtrArray *out)
{
    size_t off = 0;

    while (off + sizeof(Elf64_Nhdr) <= len) {
        const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(p + off);
        const char *name = (const char *)(nh + 1);
        const uint8_t *desc = (const uint8_t *)name + QEMU_ALIGN_UP(nh->n_namesz, 4);
        size_t next = (desc - p) + QEMU_ALIGN_UP(nh->n_descsz, 4);

        g_assert_cmpuint(next, <=, len);
        if (nh->n_type == 3 && strcmp(name, "stapsdt") == 0) {
            Probe *probe = g_new0(Probe, 1);
            const char *s = (const char *)desc + 3 * sizeof(uint64_t);

            memcpy(&probe->semaphore, desc + 2 * sizeof(uint64_t), 8);
            probe->provider = g_strdup(s);
            s += strlen(s) + 1;
            probe->name = g_strdup(s);
            s += strlen(s) + 1;
            probe->args = g_strdup(s);
            g_ptr_array_add(out, probe);
        }
        off = next;
    }
}

/* Every USDT probe of the running executable. */
static GPtrArray *read_own_probes(void)
{
    GPtrArray *probes = g_ptr_array_new_with_free_func(probe_free);
    g_autofree char *data = NULL;
    const Elf64_Ehdr *eh;
    const Elf64_Shdr *sh;
    const char *shstr;
    gsize len;

    g_assert_true(g_file_get_contents("/proc/self/exe", &data, &len, NULL));
    eh = (const Elf64_Ehdr *)data;
    g_assert_cmpint(memcmp(eh->e_ident, ELFMAG, SELFMAG), ==, 0);
    g_assert_cmpint(eh->e_ident[EI_CLASS], ==, ELFCLASS64);
    sh = (const Elf64_Shdr *)(data + eh->e_shoff);
    shstr = data + sh[eh->e_shstrndx].sh_offset;
    for (int i = 0; i < eh->e_shnum; i++) {
        if (strcmp(shstr + sh[i].sh_name, ".note.stapsdt") == 0) {
            parse_notes((const uint8_t *)data + sh[i].sh_offset,
                        sh[i].sh_size, probes);
        }
    }
    return probes;
}

static Probe *find_probe(GPtrArray *probes, const char *name)
{
    for (guint i = 0; i < probes->len; i++) {
        Probe *p = g_ptr_array_index(probes, i);
        if (strcmp(p->name, name) == 0) {
            return p;
        }
    }
    return NULL;
}

static void test_probe_notes(void)
{
    g_autoptr(GPtrArray) probes = read_own_probes();
    g_auto(GStrv) args = NULL;
    Probe *p;

    /* the calls whose probes must be present (run-time state is off) */
    trace_test_str("x", 1);
    trace_test_pattern_a();
    trace_test_disabled(3);

    p = find_probe(probes, "test_str");
    g_assert_nonnull(p);
    g_assert_cmpstr(p->provider, ==, "blockd");
    g_assert_cmpuint(p->semaphore, !=, 0);
    /* two arguments: "8@<loc> 8@<loc>" (pointer, uint64_t) */
    args = g_strsplit(p->args, " ", -1);
    g_assert_cmpuint(g_strv_length(args), ==, 2);
    g_assert_true(g_str_has_prefix(p->args, "8@"));

    p = find_probe(probes, "test_pattern_a");
    g_assert_nonnull(p);
    g_assert_cmpstr(p->args, ==, "");

    /* compiled out: no probe */
    g_assert_null(find_probe(probes, "test_disabled"));
}

static void test_semaphore(void)
{
    g_assert_false(trace_event_get_state_backends(TRACE_TEST_STR));
    blockd_test_str_semaphore++;        /* what an attaching tracer does */
    g_assert_true(trace_event_get_state_backends(TRACE_TEST_STR));
    g_assert_false(trace_event_get_state(TRACE_TEST_STR));
    g_assert_false(trace_event_get_state_backends(TRACE_TEST_SIMPLE));
    blockd_test_str_semaphore--;
    g_assert_false(trace_event_get_state_backends(TRACE_TEST_STR));
    g_assert_false(trace_event_get_state_backends(TRACE_TEST_DISABLED));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/trace-usdt/probe-notes", test_probe_notes);
    g_test_add_func("/trace-usdt/semaphore", test_semaphore);
    return g_test_run();
}
