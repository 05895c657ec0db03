/*
 * standalone-main.c: replay fuzz inputs without libFuzzer.
 *
 * Built with any compiler; `fuzz-qmp-replay FILE|DIR...` runs each input
 * once through LLVMFuzzerTestOneInput.  make check uses it to replay the
 * seed corpus, so the target keeps building and the seeds keep passing.
 */
#include "qemu/osdep.h"

#include <dirent.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path)
{
    gchar *contents;
    gsize len;
    GError *gerr = NULL;

    if (!g_file_get_contents(path, &contents, &len, &gerr)) {
        fprintf(stderr, "%s: %s\n", path, gerr->message);
        g_error_free(gerr);
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)contents, len);
    g_free(contents);
    return 0;
}

int main(int argc, char **argv)
{
    int failures = 0, count = 0;

    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
            GDir *dir = g_dir_open(argv[i], 0, NULL);
            const char *name;
            while (dir && (name = g_dir_read_name(dir))) {
                char *p = g_build_filename(argv[i], name, NULL);
                failures += run_file(p);
                count++;
                g_free(p);
            }
            if (dir) {
                g_dir_close(dir);
            }
        } else {
            failures += run_file(argv[i]);
            count++;
        }
    }
    printf("replayed %d inputs, %d unreadable\n", count, failures);
    return failures ? 1 : 0;
}
