/*
 * test-transaction.c: the transaction engine (block/transaction.c), the
 * `transaction` command's bitmap actions on a null-co node
 * (block/qmp-transaction.c), and the blockd-archive format
 * (tools/archive-format.c): header and record round trips, a flipped
 * byte caught by the checksums.
 */
#include "qemu/osdep.h"
#include <json-c/json.h>
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "block/transaction.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "../../tools/archive-format.h"
#include "test-util-block.h"

/* ---- engine ---- */

static GString *journal;

static void note_commit(void *opaque)
{
    g_string_append_printf(journal, "c%s ", (char *)opaque);
}

static void note_abort(void *opaque)
{
    g_string_append_printf(journal, "a%s ", (char *)opaque);
}

static void note_clean(void *opaque)
{
    g_string_append_printf(journal, "x%s ", (char *)opaque);
}

static const TransactionActionDrv note_drv = {
    .commit = note_commit,
    .abort = note_abort,
    .clean = note_clean,
};

static const TransactionActionDrv clean_only_drv = {
    .clean = note_clean,
};

static void test_engine(void)
{
    Transaction *t;

    journal = g_string_new("");
    t = tran_new();
    tran_add(t, &note_drv, "1");
    tran_add(t, &clean_only_drv, "2");
    tran_add(t, &note_drv, "3");
    g_assert_cmpuint(tran_length(t), ==, 3);
    tran_commit(t);
    g_assert_cmpstr(journal->str, ==, "c1 c3 x3 x2 x1 ");

    g_string_truncate(journal, 0);
    t = tran_new();
    tran_add(t, &note_drv, "1");
    tran_add(t, &note_drv, "2");
    tran_finalize(t, -EINVAL);
    g_assert_cmpstr(journal->str, ==, "a2 a1 x2 x1 ");

    g_string_truncate(journal, 0);
    t = tran_new();
    tran_finalize(t, 0);
    g_assert_cmpstr(journal->str, ==, "");
    g_string_free(journal, true);
}

/* ---- the command on bitmaps ---- */

static BlockDriverState *disk;

static TransactionActionList *actions_from_json(const char *json)
{
    json_object *tree = json_tokener_parse(json);
    TransactionActionList *l = NULL;

    g_assert_nonnull(tree);
    visit_type_TransactionActionList(tree, NULL, &l, &error_abort);
    json_object_put(tree);
    return l;
}

static void run(const char *json, const char *mode, const char *want_err)
{
    TransactionActionList *l = actions_from_json(json);
    TransactionProperties props = { 0 };
    Error *err = NULL;

    if (mode) {
        props.has_completion_mode = true;
        props.completion_mode = !strcmp(mode, "grouped") ?
            ACTION_COMPLETION_MODE_GROUPED : ACTION_COMPLETION_MODE_INDIVIDUAL;
    }
    qmp_transaction(l, mode ? &props : NULL, &err);
    if (want_err) {
        g_assert_nonnull(err);
        g_assert_cmpstr(error_get_pretty(err), ==, want_err);
        error_free(err);
    } else {
        g_assert_null(err);
    }
    qapi_free_TransactionActionList(l);
}

static BdrvDirtyBitmap *find(const char *name)
{
    return bdrv_find_dirty_bitmap(disk, name);
}

static void test_bitmap_actions(void)
{
    HBitmap *unused = NULL;

    run("[{\"type\": \"block-dirty-bitmap-add\", \"data\": {\"node\": \"disk\", "
        "\"name\": \"a\", \"granularity\": 65536}},"
        " {\"type\": \"block-dirty-bitmap-add\", \"data\": {\"node\": \"disk\", "
        "\"name\": \"b\", \"disabled\": true}}]", NULL, NULL);
    g_assert_nonnull(find("a"));
    g_assert_nonnull(find("b"));
    g_assert_false(bdrv_dirty_bitmap_enabled(find("b")));
    bdrv_set_dirty_bitmap(find("a"), 0, 65536 * 3);

    /* everything rolled back by the Abort action */
    run("[{\"type\": \"block-dirty-bitmap-clear\", \"data\": {\"node\": \"disk\", \"name\": \"a\"}},"
        " {\"type\": \"block-dirty-bitmap-enable\", \"data\": {\"node\": \"disk\", \"name\": \"b\"}},"
        " {\"type\": \"block-dirty-bitmap-merge\", \"data\": {\"node\": \"disk\", \"target\": \"b\", \"bitmaps\": [\"a\"]}},"
        " {\"type\": \"block-dirty-bitmap-add\", \"data\": {\"node\": \"disk\", \"name\": \"c\"}},"
        " {\"type\": \"block-dirty-bitmap-remove\", \"data\": {\"node\": \"disk\", \"name\": \"a\"}},"
        " {\"type\": \"abort\", \"data\": {}}]",
        NULL, "Transaction aborted using Abort action");
    g_assert_cmpint(bdrv_get_dirty_count(find("a")), ==, 65536 * 3);
    g_assert_false(bdrv_dirty_bitmap_busy(find("a")));
    g_assert_false(bdrv_dirty_bitmap_enabled(find("b")));
    g_assert_cmpint(bdrv_get_dirty_count(find("b")), ==, 0);
    g_assert_null(find("c"));

    /* the first failing action's error; earlier ones undone */
    run("[{\"type\": \"block-dirty-bitmap-clear\", \"data\": {\"node\": \"disk\", \"name\": \"a\"}},"
        " {\"type\": \"block-dirty-bitmap-disable\", \"data\": {\"node\": \"disk\", \"name\": \"zz\"}},"
        " {\"type\": \"abort\", \"data\": {}}]",
        NULL, "Dirty bitmap 'zz' not found");
    g_assert_cmpint(bdrv_get_dirty_count(find("a")), ==, 65536 * 3);

    run("[{\"type\": \"block-dirty-bitmap-add\", \"data\": {\"node\": \"disk\", \"name\": \"g\"}}]",
        "grouped", "Action 'block-dirty-bitmap-add' does not support "
        "Transaction property completion-mode = grouped");
    g_assert_null(find("g"));
    run("[]", "grouped", NULL);

    /* committed: merge, then remove */
    run("[{\"type\": \"block-dirty-bitmap-merge\", \"data\": {\"node\": \"disk\", \"target\": \"b\", \"bitmaps\": [\"a\"]}},"
        " {\"type\": \"block-dirty-bitmap-remove\", \"data\": {\"node\": \"disk\", \"name\": \"a\"}}]",
        "individual", NULL);
    g_assert_null(find("a"));
    g_assert_cmpint(bdrv_get_dirty_count(find("b")), ==, 65536 * 3);
    bdrv_clear_dirty_bitmap(find("b"), &unused);
    hbitmap_free(unused);
    bdrv_release_dirty_bitmap(find("b"));
}

/* ---- archive format ---- */

static void test_archive_format(void)
{
    g_autofree char *path = g_strdup_printf("%s/test-transaction-%d.arc",
                                            g_get_tmp_dir(), getpid());
    ArchiveDisk disks[2] = { { (char *)"sda", 1 << 20 }, { (char *)"vdb", 4096 } };
    ArchiveHeader h = { .cluster_size = 65536, .created = 42, .ndisks = 2,
                        .disks = disks };
    ArchiveHeader back;
    ArchiveRecord rec;
    g_autofree uint8_t *hdr = NULL;
    uint8_t recbuf[ARCHIVE_REC_SIZE], data[512], byte;
    struct iovec iov[2];
    Error *err = NULL;
    size_t len;
    int fd;

    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    hdr = archive_header_encode(&h, &len);
    memset(data, 0xa5, sizeof(data));
    archive_record_encode(recbuf, ARCHIVE_REC_DATA, 1, 512, sizeof(data),
                          &(struct iovec) { data, sizeof(data) }, 1);
    iov[0] = (struct iovec) { hdr, len };
    g_assert_cmpint(archive_pwritev_full(fd, iov, 1, 0), ==, 0);
    iov[0] = (struct iovec) { recbuf, sizeof(recbuf) };
    iov[1] = (struct iovec) { data, sizeof(data) };
    g_assert_cmpint(archive_pwritev_full(fd, iov, 2, len), ==, 0);

    g_assert_true(archive_header_read(fd, &back, &error_abort));
    g_assert_cmpuint(back.ndisks, ==, 2);
    g_assert_cmpstr(back.disks[1].name, ==, "vdb");
    g_assert_cmpuint(back.disks[0].size, ==, 1 << 20);
    g_assert_cmpuint(back.header_size, ==, len);
    archive_header_free(&back);

    g_assert_cmpint(archive_record_read(fd, len, &rec, &error_abort), ==, 1);
    g_assert_cmpuint(rec.type, ==, ARCHIVE_REC_DATA);
    g_assert_cmpuint(rec.disk, ==, 1);
    g_assert_cmpuint(rec.offset, ==, 512);
    g_assert_true(archive_record_check(fd, &rec, NULL, &error_abort));
    g_assert_cmpint(archive_record_read(fd, len + archive_record_size(&rec),
                                        &rec, &error_abort), ==, 0);

    /* a flipped payload bit, then a flipped header bit */
    g_assert_cmpint(archive_record_read(fd, len, &rec, &error_abort), ==, 1);
    g_assert_cmpint(pread(fd, &byte, 1, len + ARCHIVE_REC_SIZE + 100), ==, 1);
    byte ^= 0x10;
    g_assert_cmpint(pwrite(fd, &byte, 1, len + ARCHIVE_REC_SIZE + 100), ==, 1);
    g_assert_false(archive_record_check(fd, &rec, NULL, &err));
    g_assert_nonnull(strstr(error_get_pretty(err), "Checksum mismatch"));
    error_free(err);
    err = NULL;
    g_assert_cmpint(pread(fd, &byte, 1, 45), ==, 1);
    byte ^= 1;
    g_assert_cmpint(pwrite(fd, &byte, 1, 45), ==, 1);
    g_assert_false(archive_header_read(fd, &back, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Archive header checksum mismatch");
    error_free(err);
    close(fd);
    unlink(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    bdrv_init();
    disk = test_open_json("{\"driver\": \"null-co\", \"node-name\": \"disk\", "
                          "\"size\": 1048576}", &error_abort);

    g_test_add_func("/transaction/engine", test_engine);
    g_test_add_func("/transaction/bitmap-actions", test_bitmap_actions);
    g_test_add_func("/transaction/archive-format", test_archive_format);
    return g_test_run();
}
