/*
 * graph.c: the block graph: nodes (BlockDriverState), their children
 * (BdrvChild), reference counts, node names, opening a node from typed
 * BlockdevOptions, and the permission system (cumulative permissions per
 * node, conflicts refused, child permissions propagated downwards with the
 * drivers' check/set/abort hooks).
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "qapi/qapi-visit.h"
#include "trace/trace-block.h"

/* Every node, named or not, in creation order. */
static GList *all_bdrv_states;
/* Named nodes in creation order (query-named-block-nodes, bdrv_next_node). */
static GList *graph_bdrv_states;
static GHashTable *node_names;      /* node-name -> BlockDriverState * */

static GPtrArray *bdrv_drivers;

/* ---- drivers ---- */

int bdrv_register(BlockDriver *drv)
{
    if (!bdrv_drivers) {
        bdrv_drivers = g_ptr_array_new();
    }
    if (bdrv_find_format(drv->format_name)) {
        return -EEXIST;
    }
    g_ptr_array_add(bdrv_drivers, drv);
    return 0;
}

BlockDriver *bdrv_find_format(const char *format_name)
{
    guint i;

    if (!bdrv_drivers) {
        return NULL;
    }
    for (i = 0; i < bdrv_drivers->len; i++) {
        BlockDriver *drv = g_ptr_array_index(bdrv_drivers, i);

        if (!strcmp(drv->format_name, format_name)) {
            return drv;
        }
    }
    return NULL;
}

/* ---- permission names ---- */

char *bdrv_perm_names(uint64_t perm)
{
    static const struct {
        uint64_t perm;
        const char *name;
    } names[] = {
        { BLK_PERM_CONSISTENT_READ, "consistent read" },
        { BLK_PERM_WRITE, "write" },
        { BLK_PERM_WRITE_UNCHANGED, "write unchanged" },
        { BLK_PERM_RESIZE, "resize" },
        { BLK_PERM_GRAPH_MOD, "change children" },
    };
    GString *s = g_string_new("");
    size_t i;

    for (i = 0; i < ARRAY_SIZE(names); i++) {
        if (perm & names[i].perm) {
            if (s->len) {
                g_string_append(s, ", ");
            }
            g_string_append(s, names[i].name);
        }
    }
    return g_string_free(s, false);
}

/* ---- node names ---- */

/* QEMU's id_wellformed(): a letter, then letters, digits, '-', '.', '_'. */
static bool node_name_wellformed(const char *name)
{
    const char *p;

    if (!g_ascii_isalpha(name[0])) {
        return false;
    }
    for (p = name + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

static void bdrv_generate_node_name(BlockDriverState *bs)
{
    static uint64_t counter;
    static int rnd = -1;

    if (rnd < 0) {
        rnd = g_random_int_range(0, 100);
    }
    do {
        snprintf(bs->node_name, sizeof(bs->node_name), "#block%" PRIu64 "%02d",
                 counter++, rnd);
    } while (bdrv_find_node(bs->node_name));
}

static bool bdrv_assign_node_name(BlockDriverState *bs, const char *name,
                                  Error **errp)
{
    if (!name) {
        bdrv_generate_node_name(bs);
        return true;
    }
    if (!node_name_wellformed(name)) {
        error_setg(errp, "Invalid node-name: '%s'", name);
        return false;
    }
    if (bdrv_find_node(name)) {
        error_setg(errp, "Duplicate nodes with node-name='%s'", name);
        return false;
    }
    if (strlen(name) >= sizeof(bs->node_name)) {
        error_setg(errp, "Node name too long");
        return false;
    }
    g_strlcpy(bs->node_name, name, sizeof(bs->node_name));
    return true;
}

static void bdrv_register_name(BlockDriverState *bs)
{
    if (!node_names) {
        node_names = g_hash_table_new(g_str_hash, g_str_equal);
    }
    g_hash_table_insert(node_names, bs->node_name, bs);
    graph_bdrv_states = g_list_append(graph_bdrv_states, bs);
}

static void bdrv_unregister_name(BlockDriverState *bs)
{
    if (node_names && g_hash_table_lookup(node_names, bs->node_name) == bs) {
        g_hash_table_remove(node_names, bs->node_name);
        graph_bdrv_states = g_list_remove(graph_bdrv_states, bs);
    }
}

BlockDriverState *bdrv_find_node(const char *node_name)
{
    return node_names ? g_hash_table_lookup(node_names, node_name) : NULL;
}

BlockDriverState *bdrv_lookup_bs(const char *device, const char *node_name,
                                 Error **errp)
{
    BlockDriverState *bs = NULL;

    if (node_name) {
        bs = bdrv_find_node(node_name);
    }
    if (!bs) {
        error_setg(errp, "Cannot find device='%s' nor node-name='%s'",
                   device ? device : "", node_name ? node_name : "");
    }
    return bs;
}

/* The node after bs in list (the first one when bs is NULL), or NULL */
static BlockDriverState *bdrv_list_next(GList *list, BlockDriverState *bs)
{
    GList *l;

    if (!bs) {
        return list ? list->data : NULL;
    }
    l = g_list_find(list, bs);
    return l && l->next ? l->next->data : NULL;
}

BlockDriverState *bdrv_next_node(BlockDriverState *bs)
{
    return bdrv_list_next(graph_bdrv_states, bs);
}

BlockDriverState *bdrv_next_all_states(BlockDriverState *bs)
{
    return bdrv_list_next(all_bdrv_states, bs);
}

/* ---- simple accessors ---- */

const char *bdrv_get_node_name(const BlockDriverState *bs)
{
    return bs->node_name;
}

const char *bdrv_get_format_name(BlockDriverState *bs)
{
    return bs->drv ? bs->drv->format_name : NULL;
}

const char *bdrv_get_filename(BlockDriverState *bs)
{
    return bs->filename;
}

bool bdrv_is_read_only(BlockDriverState *bs)
{
    return bs->read_only;
}

bool bdrv_is_writable(BlockDriverState *bs)
{
    return !bs->read_only && !(bs->open_flags & BDRV_O_INACTIVE);
}

bool bdrv_is_inserted(BlockDriverState *bs)
{
    return bs->drv != NULL;
}

int64_t coroutine_mixed_fn bdrv_get_allocated_file_size(BlockDriverState *bs)
{
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (bs->drv->bdrv_get_allocated_file_size) {
        return bs->drv->bdrv_get_allocated_file_size(bs);
    }
    if (bs->file) {
        return bdrv_get_allocated_file_size(bs->file->bs);
    }
    return -ENOTSUP;
}

int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    memset(bdi, 0, sizeof(*bdi));
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_get_info) {
        if (bs->drv->is_filter && bs->file) {
            return bdrv_get_info(bs->file->bs, bdi);
        }
        return -ENOTSUP;
    }
    return bs->drv->bdrv_get_info(bs, bdi);
}

BlockDriverState *bdrv_filter_bs(BlockDriverState *bs)
{
    if (bs->drv && bs->drv->is_filter && bs->file) {
        return bs->file->bs;
    }
    return NULL;
}

BlockDriverState *bdrv_cow_bs(BlockDriverState *bs)
{
    return bs->backing ? bs->backing->bs : NULL;
}

BlockDriverState *bdrv_filter_or_cow_bs(BlockDriverState *bs)
{
    BlockDriverState *f = bdrv_filter_bs(bs);

    return f ? f : bdrv_cow_bs(bs);
}

BlockDriverState *bdrv_skip_filters(BlockDriverState *bs)
{
    BlockDriverState *f;

    while (bs && (f = bdrv_filter_bs(bs))) {
        bs = f;
    }
    return bs;
}

BlockDriverState *bdrv_backing_chain_next(BlockDriverState *bs)
{
    BlockDriverState *cow = bdrv_cow_bs(bdrv_skip_filters(bs));

    return cow ? bdrv_skip_filters(cow) : NULL;
}

/* ---- default child permissions ---- */

void bdrv_filter_default_perms(BlockDriverState *bs, BdrvChild *c,
                               BdrvChildRole role, uint64_t perm,
                               uint64_t shared, uint64_t *nperm,
                               uint64_t *nshared)
{
    *nperm = perm & DEFAULT_PERM_PASSTHROUGH;
    *nshared = (shared & DEFAULT_PERM_PASSTHROUGH) | DEFAULT_PERM_UNCHANGED;
}

static void bdrv_default_perms_for_cow(BlockDriverState *bs, BdrvChild *c,
                                       uint64_t perm, uint64_t shared,
                                       uint64_t *nperm, uint64_t *nshared)
{
    /* A backing file is only read; others may write it if our users allow */
    perm &= BLK_PERM_CONSISTENT_READ;
    if (shared & BLK_PERM_WRITE) {
        shared = BLK_PERM_WRITE | BLK_PERM_RESIZE;
    } else {
        shared = 0;
    }
    shared |= BLK_PERM_CONSISTENT_READ | BLK_PERM_GRAPH_MOD |
              BLK_PERM_WRITE_UNCHANGED;
    if (bs->open_flags & BDRV_O_INACTIVE) {
        shared |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
    }
    *nperm = perm;
    *nshared = shared;
}

static void bdrv_default_perms_for_storage(BlockDriverState *bs, BdrvChild *c,
                                           BdrvChildRole role, uint64_t perm,
                                           uint64_t shared, uint64_t *nperm,
                                           uint64_t *nshared)
{
    bdrv_filter_default_perms(bs, c, role, perm, shared, &perm, &shared);
    if (role & BDRV_CHILD_METADATA) {
        /* The format may update metadata whenever it is writable */
        if (bdrv_is_writable(bs)) {
            perm |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
        }
        if (!(bs->open_flags & BDRV_O_NO_IO)) {
            perm |= BLK_PERM_CONSISTENT_READ;
        }
        shared &= ~(BLK_PERM_WRITE | BLK_PERM_RESIZE);
    }
    if (role & BDRV_CHILD_DATA) {
        /* Writes through the parent need the child to stay its size */
        if (perm & BLK_PERM_WRITE) {
            shared &= ~BLK_PERM_RESIZE;
        }
    }
    if (bs->open_flags & BDRV_O_INACTIVE) {
        shared |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
    }
    *nperm = perm;
    *nshared = shared;
}

void bdrv_default_perms(BlockDriverState *bs, BdrvChild *c, BdrvChildRole role,
                        uint64_t perm, uint64_t shared, uint64_t *nperm,
                        uint64_t *nshared)
{
    if (role & BDRV_CHILD_FILTERED) {
        bdrv_filter_default_perms(bs, c, role, perm, shared, nperm, nshared);
    } else if (role & BDRV_CHILD_COW) {
        bdrv_default_perms_for_cow(bs, c, perm, shared, nperm, nshared);
    } else if (role & (BDRV_CHILD_METADATA | BDRV_CHILD_DATA)) {
        bdrv_default_perms_for_storage(bs, c, role, perm, shared, nperm,
                                       nshared);
    } else {
        *nperm = 0;
        *nshared = BLK_PERM_ALL;
    }
}

/* ---- the permission system ---- */

void bdrv_get_cumulative_perm(BlockDriverState *bs, uint64_t *perm,
                              uint64_t *shared)
{
    uint64_t p = 0, s = BLK_PERM_ALL;
    GList *l;

    for (l = bs->parents; l; l = l->next) {
        BdrvChild *c = l->data;

        p |= c->perm;
        s &= c->shared_perm;
    }
    *perm = p;
    *shared = s;
}

static char *bdrv_child_user_desc(BdrvChild *c)
{
    if (c->klass && c->klass->get_parent_desc) {
        return c->klass->get_parent_desc(c);
    }
    return g_strdup("another user");
}

/* Is b's use of the node allowed by a's sharing? */
static bool bdrv_a_allow_b(BdrvChild *a, BdrvChild *b, Error **errp)
{
    const char *name;
    g_autofree char *a_user = NULL;
    g_autofree char *b_user = NULL;
    g_autofree char *perms = NULL;

    if ((b->perm & a->shared_perm) == b->perm) {
        return true;
    }
    name = bdrv_get_node_name(b->bs);
    a_user = bdrv_child_user_desc(a);
    b_user = bdrv_child_user_desc(b);
    perms = bdrv_perm_names(b->perm & ~a->shared_perm);
    error_setg(errp, "Permission conflict on node '%s': permissions '%s' are "
               "both required by %s (uses node '%s' as '%s' child) and "
               "unshared by %s (uses node '%s' as '%s' child).",
               name, perms, b_user, name, b->name, a_user, name, a->name);
    return false;
}

static bool bdrv_parents_compatible(BlockDriverState *bs, Error **errp)
{
    GList *a, *b;

    for (a = bs->parents; a; a = a->next) {
        for (b = bs->parents; b; b = b->next) {
            if (a != b && !bdrv_a_allow_b(a->data, b->data, errp)) {
                return false;
            }
        }
    }
    return true;
}

/* Child permissions as the parent's driver asks for them (force-share aware). */
static void bdrv_child_perm(BlockDriverState *bs, BdrvChild *c,
                            uint64_t perm, uint64_t shared,
                            uint64_t *nperm, uint64_t *nshared)
{
    if (bs->drv && bs->drv->bdrv_child_perm) {
        bs->drv->bdrv_child_perm(bs, c, c->role, perm, shared, nperm, nshared);
    } else {
        bdrv_default_perms(bs, c, c->role, perm, shared, nperm, nshared);
    }
    if (c->bs->force_share) {
        *nshared = BLK_PERM_ALL;
    }
}

/* Nodes below (and including) bs, parents before children. */
static void bdrv_topo_visit(BlockDriverState *bs, GHashTable *seen,
                            GList **order)
{
    GList *l;

    if (g_hash_table_contains(seen, bs)) {
        return;
    }
    g_hash_table_add(seen, bs);
    for (l = bs->children; l; l = l->next) {
        bdrv_topo_visit(((BdrvChild *)l->data)->bs, seen, order);
    }
    *order = g_list_prepend(*order, bs);
}

typedef struct PermSave {
    BdrvChild *c;
    uint64_t perm;
    uint64_t shared;
} PermSave;

typedef struct PermTran {
    GArray *saved;          /* PermSave: permissions to restore on abort */
    GList *checked;         /* nodes whose driver check_perm succeeded */
} PermTran;

static void perm_tran_set(PermTran *t, BdrvChild *c, uint64_t perm,
                          uint64_t shared)
{
    PermSave s = { c, c->perm, c->shared_perm };

    if (c->perm == perm && c->shared_perm == shared) {
        return;
    }
    g_array_append_val(t->saved, s);
    c->perm = perm;
    c->shared_perm = shared;
}

/* Check one node with its parents' (already updated) permissions. */
static int bdrv_node_check_perm(BlockDriverState *bs, PermTran *t, Error **errp)
{
    uint64_t perm, shared;
    GList *l;
    int ret;

    if (!bdrv_parents_compatible(bs, errp)) {
        return -EPERM;
    }
    bdrv_get_cumulative_perm(bs, &perm, &shared);
    if ((perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED)) &&
        !bdrv_is_writable(bs)) {
        /* A read-only node may still be written with unchanged data */
        if ((perm & BLK_PERM_WRITE) && bdrv_is_inactive(bs)) {
            error_setg(errp, "Block node '%s' is inactive",
                       bdrv_get_node_name(bs));
            return -EPERM;
        }
        if (perm & BLK_PERM_WRITE) {
            error_setg(errp, "Block node is read-only");
            return -EPERM;
        }
    }
    if (bs->drv && bs->drv->bdrv_check_perm) {
        ret = bs->drv->bdrv_check_perm(bs, perm, shared, errp);
        if (ret < 0) {
            return ret;
        }
    }
    t->checked = g_list_prepend(t->checked, bs);
    for (l = bs->children; l; l = l->next) {
        BdrvChild *c = l->data;
        uint64_t nperm, nshared;

        bdrv_child_perm(bs, c, perm, shared, &nperm, &nshared);
        perm_tran_set(t, c, nperm, nshared);
    }
    return 0;
}

static void perm_tran_finish(PermTran *t, bool commit)
{
    GList *l;
    guint i;

    for (l = t->checked; l; l = l->next) {
        BlockDriverState *bs = l->data;

        if (!bs->drv) {
            continue;
        }
        if (commit && bs->drv->bdrv_set_perm) {
            uint64_t perm, shared;

            bdrv_get_cumulative_perm(bs, &perm, &shared);
            bs->drv->bdrv_set_perm(bs, perm, shared);
        } else if (!commit && bs->drv->bdrv_abort_perm_update) {
            bs->drv->bdrv_abort_perm_update(bs);
        }
    }
    if (!commit) {
        for (i = t->saved->len; i-- > 0;) {
            PermSave *s = &g_array_index(t->saved, PermSave, i);

            s->c->perm = s->perm;
            s->c->shared_perm = s->shared;
        }
    }
    g_list_free(t->checked);
    g_array_free(t->saved, true);
}

/*
 * Recompute the permissions of every node in roots and below (after a
 * parent's permissions or the graph changed).  On failure everything is
 * restored and the drivers' abort hooks run.
 */
static int bdrv_refresh_perms_list(GList *roots, PermTran *t, Error **errp)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
    GList *order = NULL, *l;
    int ret = 0;

    for (l = roots; l; l = l->next) {
        bdrv_topo_visit(l->data, seen, &order);
    }
    for (l = order; l; l = l->next) {
        ret = bdrv_node_check_perm(l->data, t, errp);
        if (ret < 0) {
            break;
        }
    }
    g_list_free(order);
    return ret;
}

static int bdrv_refresh_perms_tran(GList *roots, Error **errp)
{
    PermTran t = { g_array_new(false, false, sizeof(PermSave)), NULL };
    int ret = bdrv_refresh_perms_list(roots, &t, errp);

    perm_tran_finish(&t, ret == 0);
    return ret;
}

int bdrv_refresh_perms(BlockDriverState *bs, Error **errp)
{
    GList roots = { .data = bs };

    return bdrv_refresh_perms_tran(&roots, errp);
}

int bdrv_child_try_set_perm(BdrvChild *c, uint64_t perm, uint64_t shared,
                            Error **errp)
{
    PermTran t = { g_array_new(false, false, sizeof(PermSave)), NULL };
    GList roots = { .data = c->bs };
    int ret;

    perm_tran_set(&t, c, perm, shared);
    ret = bdrv_refresh_perms_list(&roots, &t, errp);
    perm_tran_finish(&t, ret == 0);
    return ret;
}

/* ---- children ---- */

static char *bdrv_child_get_parent_desc(BdrvChild *c)
{
    BlockDriverState *parent = c->opaque;

    return g_strdup_printf("node '%s'", bdrv_get_node_name(parent));
}

static void bdrv_child_cb_drained_begin(BdrvChild *c)
{
    bdrv_do_drained_begin_quiesce(c->opaque);
}

static void bdrv_child_cb_drained_end(BdrvChild *c)
{
    bdrv_do_drained_end_quiesce(c->opaque);
}

static bool bdrv_child_cb_drained_poll(BdrvChild *c)
{
    return bdrv_drain_poll(c->opaque);
}

static void bdrv_child_cb_resize(BdrvChild *c)
{
    BlockDriverState *parent = c->opaque;

    /* A filter's length follows its child's */
    parent->total_bytes_hint = -1;
}

const BdrvChildClass child_of_bds = {
    .parent_is_bds = true,
    .get_parent_desc = bdrv_child_get_parent_desc,
    .drained_begin = bdrv_child_cb_drained_begin,
    .drained_end = bdrv_child_cb_drained_end,
    .drained_poll = bdrv_child_cb_drained_poll,
    .resize = bdrv_child_cb_resize,
};

static BdrvChild *bdrv_child_new(BlockDriverState *child_bs, const char *name,
                                 const BdrvChildClass *klass,
                                 BdrvChildRole role, void *opaque)
{
    BdrvChild *c = g_new0(BdrvChild, 1);

    c->bs = child_bs;
    c->name = g_strdup(name);
    c->klass = klass;
    c->role = role;
    c->opaque = opaque;
    return c;
}

static void bdrv_child_free(BdrvChild *c)
{
    g_free(c->name);
    g_free(c);
}

/*
 * Link c into its node's parent list.  A drained node quiesces each of its
 * parents exactly once, however deeply the drain nests (the last
 * drained_end releases it once), so a new parent of a drained node is
 * quiesced once too.
 */
static void bdrv_child_link(BdrvChild *c)
{
    c->bs->parents = g_list_append(c->bs->parents, c);
    if (c->bs->quiesce_counter > 0) {
        c->quiesced_parent++;
        if (c->klass->drained_begin) {
            c->klass->drained_begin(c);
        }
    }
}

/*
 * Move c from its node to `to` without letting its parent run in between:
 * a parent that goes from a drained node to a drained node stays quiesced
 * throughout (the mirror pivot moves an export's BlockBackend this way,
 * and a guest write must not slip through to the old node meanwhile).
 */
static void bdrv_child_move(BdrvChild *c, BlockDriverState *to)
{
    bool was_quiesced = c->quiesced_parent > 0;
    bool now_quiesced = to->quiesce_counter > 0;

    c->bs->parents = g_list_remove(c->bs->parents, c);
    c->bs = to;
    to->parents = g_list_append(to->parents, c);
    if (now_quiesced && !was_quiesced) {
        c->quiesced_parent++;
        if (c->klass->drained_begin) {
            c->klass->drained_begin(c);
        }
    } else if (!now_quiesced && was_quiesced) {
        while (c->quiesced_parent > 0) {
            c->quiesced_parent--;
            if (c->klass->drained_end) {
                c->klass->drained_end(c);
            }
        }
    }
}

static void bdrv_child_unlink(BdrvChild *c)
{
    while (c->quiesced_parent > 0) {
        c->quiesced_parent--;
        if (c->klass->drained_end) {
            c->klass->drained_end(c);
        }
    }
    c->bs->parents = g_list_remove(c->bs->parents, c);
}

/*
 * Give c the permissions perm/shared and link it into its node's parents,
 * then apply the node's new permissions; if they are refused, c is
 * unlinked and freed again (the node's permissions as before).
 */
static int bdrv_child_link_with_perms(BdrvChild *c, uint64_t perm,
                                      uint64_t shared, Error **errp)
{
    BlockDriverState *child_bs = c->bs;

    c->perm = perm;
    c->shared_perm = shared;
    bdrv_child_link(c);
    if (bdrv_refresh_perms(child_bs, errp) < 0) {
        bdrv_child_unlink(c);
        bdrv_child_free(c);
        bdrv_refresh_perms(child_bs, NULL);
        return -EPERM;
    }
    return 0;
}

BdrvChild *bdrv_root_attach_child(BlockDriverState *child_bs,
                                  const char *child_name,
                                  const BdrvChildClass *klass,
                                  BdrvChildRole role, uint64_t perm,
                                  uint64_t shared, void *opaque, Error **errp)
{
    BdrvChild *c = bdrv_child_new(child_bs, child_name, klass, role, opaque);

    if (bdrv_child_link_with_perms(c, perm, shared, errp) < 0) {
        return NULL;
    }
    bdrv_ref(child_bs);
    trace_bdrv_root_attach_child(c, child_name, child_bs);
    return c;
}

void bdrv_root_unref_child(BdrvChild *child)
{
    BlockDriverState *child_bs = child->bs;

    trace_bdrv_root_unref_child(child, child->name, child_bs);
    bdrv_child_unlink(child);
    bdrv_child_free(child);
    /* Dropping a user only relaxes permissions: this cannot fail */
    bdrv_refresh_perms(child_bs, NULL);
    bdrv_unref(child_bs);
}

BdrvChild *bdrv_attach_child(BlockDriverState *parent, BlockDriverState *child_bs,
                             const char *child_name, const BdrvChildClass *klass,
                             BdrvChildRole role, Error **errp)
{
    BdrvChild *c = bdrv_child_new(child_bs, child_name, klass, role, parent);
    uint64_t perm, shared, nperm, nshared;

    if (child_bs == parent) {
        error_setg(errp, "Making '%s' a %s child of itself would create a loop",
                   bdrv_get_node_name(parent), child_name);
        bdrv_child_free(c);
        return NULL;
    }
    if (bdrv_is_inactive(child_bs) && !bdrv_is_inactive(parent)) {
        error_setg(errp, "Inactive '%s' can't be a %s child of active '%s'",
                   bdrv_get_node_name(child_bs), child_name,
                   bdrv_get_node_name(parent));
        bdrv_child_free(c);
        return NULL;
    }
    bdrv_get_cumulative_perm(parent, &perm, &shared);
    bdrv_child_perm(parent, c, perm, shared, &nperm, &nshared);
    if (bdrv_child_link_with_perms(c, nperm, nshared, errp) < 0) {
        return NULL;
    }
    parent->children = g_list_append(parent->children, c);
    if (role & BDRV_CHILD_COW) {
        parent->backing = c;
    } else if (role & BDRV_CHILD_PRIMARY) {
        parent->file = c;
    }
    bdrv_ref(child_bs);
    trace_bdrv_attach_child(parent, c, child_name, child_bs);
    return c;
}

void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child)
{
    BlockDriverState *child_bs;

    if (!child) {
        return;
    }
    child_bs = child->bs;
    if (child_bs->inherits_from == parent) {
        child_bs->inherits_from = NULL;
    }
    if (parent->file == child) {
        parent->file = NULL;
    }
    if (parent->backing == child) {
        parent->backing = NULL;
    }
    parent->children = g_list_remove(parent->children, child);
    bdrv_child_unlink(child);
    bdrv_child_free(child);
    bdrv_refresh_perms(child_bs, NULL);
    bdrv_unref(child_bs);
}

/*
 * Whether bdrv_replace_node(c->bs, to) may move the link c to `to`: not a
 * link of a class that stays at its node (a job's links to the nodes it
 * works on), and not when c belongs to `to` or to any node below it
 * (QEMU's should_update_child()).  Moving such a link would make `to` reach
 * itself: e.g. a filter inserted above a node that is its own child, or a
 * target whose backing node is the replaced node.  The whole subtree is
 * walked breadth first, each node once.
 */
static bool bdrv_should_update_child(BdrvChild *c, BlockDriverState *to)
{
    GHashTable *seen;
    GQueue queue = G_QUEUE_INIT;
    bool update = true;

    if (c->klass->stay_at_node) {
        return false;
    }
    seen = g_hash_table_new(NULL, NULL);
    g_hash_table_add(seen, to);
    g_queue_push_tail(&queue, to);
    while (update && !g_queue_is_empty(&queue)) {
        BlockDriverState *v = g_queue_pop_head(&queue);
        GList *l;

        for (l = v->children; l; l = l->next) {
            BdrvChild *c2 = l->data;

            if (c2 == c) {
                update = false;
                break;
            }
            if (!g_hash_table_contains(seen, c2->bs)) {
                g_hash_table_add(seen, c2->bs);
                g_queue_push_tail(&queue, c2->bs);
            }
        }
    }
    g_queue_clear(&queue);
    g_hash_table_destroy(seen);
    return update;
}

/*
 * Links that `to` reaches through stay where they are (skipped silently,
 * as QEMU's bdrv_replace_node() does); a frozen link that would move
 * refuses the whole replacement.
 */
bool bdrv_replace_node(BlockDriverState *from, BlockDriverState *to,
                       Error **errp)
{
    GList *moved = NULL, *l, *parents;
    GList roots[2];
    int ret;

    if (from == to) {
        return true;
    }
    parents = g_list_copy(from->parents);
    for (l = parents; l; l = l->next) {
        BdrvChild *c = l->data;

        if (!bdrv_should_update_child(c, to)) {
            continue;
        }
        if (c->frozen) {
            error_setg(errp, "Cannot change '%s' link to '%s'", c->name,
                       bdrv_get_node_name(from));
            g_list_free(moved);
            g_list_free(parents);
            return false;
        }
        moved = g_list_append(moved, c);
    }
    g_list_free(parents);

    bdrv_ref(from);
    for (l = moved; l; l = l->next) {
        BdrvChild *c = l->data;

        bdrv_child_move(c, to);
        bdrv_ref(to);
    }
    roots[0] = (GList) { .data = to, .next = &roots[1] };
    roots[1] = (GList) { .data = from, .prev = &roots[0] };
    ret = bdrv_refresh_perms_tran(roots, errp);
    if (ret < 0) {
        for (l = moved; l; l = l->next) {
            BdrvChild *c = l->data;

            bdrv_child_move(c, from);
            bdrv_unref(to);
        }
        bdrv_refresh_perms_tran(roots, NULL);
    } else {
        for (l = moved; l; l = l->next) {
            bdrv_unref(from);
        }
        trace_bdrv_replace_node(from, to);
    }
    g_list_free(moved);
    bdrv_unref(from);
    return ret == 0;
}

/* ---- limits ---- */

void bdrv_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BlockLimits *bl = &bs->bl;
    BdrvChild *c = bs->file;

    memset(bl, 0, sizeof(*bl));
    bl->request_alignment = 1;
    bl->min_mem_alignment = 1;
    bl->opt_mem_alignment = 1;
    bl->max_iov = IOV_MAX;
    if (c) {
        /* Inherit what the child would need anyway */
        bl->max_transfer = c->bs->bl.max_transfer;
        bl->opt_transfer = c->bs->bl.opt_transfer;
        bl->min_mem_alignment = c->bs->bl.min_mem_alignment;
        bl->opt_mem_alignment = c->bs->bl.opt_mem_alignment;
        bl->max_iov = c->bs->bl.max_iov;
        bl->pdiscard_alignment = c->bs->bl.pdiscard_alignment;
        bl->max_pdiscard = c->bs->bl.max_pdiscard;
        bl->pwrite_zeroes_alignment = c->bs->bl.pwrite_zeroes_alignment;
        bl->max_pwrite_zeroes = c->bs->bl.max_pwrite_zeroes;
    }
    if (bs->drv && bs->drv->bdrv_refresh_limits) {
        bs->drv->bdrv_refresh_limits(bs, errp);
    }
    if (!bl->request_alignment) {
        bl->request_alignment = 1;
    }
    if (bl->max_transfer) {
        bl->max_transfer = MAX(QEMU_ALIGN_DOWN(bl->max_transfer,
                                               bl->request_alignment),
                               bl->request_alignment);
    }
}

/* ---- reference counting and closing ---- */

void bdrv_ref(BlockDriverState *bs)
{
    bs->refcnt++;
}

static void bdrv_close(BlockDriverState *bs)
{
    GList *l, *next;

    trace_bdrv_close(bs, bs->node_name);
    assert(!bs->parents);
    /* The last reference may go away in a coroutine (jobs, exports) */
    bdrv_co_drained_begin(bs);
    if (bs->drv) {
        if (bdrv_is_writable(bs)) {
            bdrv_flush(bs);
        }
        if (bs->drv->bdrv_close) {
            bs->drv->bdrv_close(bs);
        }
    }
    /* The driver stored its persistent bitmaps in bdrv_close */
    bdrv_release_all_dirty_bitmaps(bs);
    for (l = bs->children; l; l = next) {
        next = l->next;
        bdrv_unref_child(bs, l->data);
    }
    bdrv_co_drained_end(bs);
    bs->drv = NULL;
}

static void bdrv_delete(BlockDriverState *bs)
{
    bdrv_unregister_name(bs);
    all_bdrv_states = g_list_remove(all_bdrv_states, bs);
    bdrv_close(bs);
    qapi_free_BlockdevOptions(bs->options);
    g_free(bs->backing_file);
    g_free(bs->backing_format);
    g_free(bs->opaque);
    g_free(bs);
}

void bdrv_unref(BlockDriverState *bs)
{
    if (!bs) {
        return;
    }
    assert(bs->refcnt > 0);
    if (--bs->refcnt == 0) {
        bdrv_delete(bs);
    }
}

bool bdrv_del_monitor_owned(BlockDriverState *bs, Error **errp)
{
    GList *l;

    for (l = bs->parents; l; l = l->next) {
        BdrvChild *c = l->data;

        /* A job marks its nodes busy with op blockers instead (below) */
        if (!c->klass->parent_is_bds && !c->parent_is_job) {
            error_setg(errp, "Node %s is in use", bs->node_name);
            return false;
        }
    }
    if (bdrv_op_is_blocked(bs, BLOCK_OP_TYPE_DRIVE_DEL, errp)) {
        return false;
    }
    if (!bs->monitor_owned) {
        error_setg(errp, "Node %s is not owned by the monitor", bs->node_name);
        return false;
    }
    if (bs->refcnt > 1) {
        error_setg(errp, "Block device %s is in use", bs->node_name);
        return false;
    }
    bs->monitor_owned = false;
    bdrv_unref(bs);
    return true;
}

void bdrv_close_all(void)
{
    BlockDriverState *bs;
    GList *l, *owned = NULL;

    bdrv_drain_all();
    /* Drop the monitor's references, roots first so children follow */
    for (l = graph_bdrv_states; l; l = l->next) {
        bs = l->data;
        if (bs->monitor_owned) {
            owned = g_list_prepend(owned, bs);
        }
    }
    owned = g_list_reverse(owned);
    for (l = owned; l; l = l->next) {
        bs = l->data;
        bs->monitor_owned = false;
    }
    /* Unreference the ones without parents first, repeatedly */
    while (owned) {
        bool progress = false;

        for (l = owned; l;) {
            GList *next = l->next;

            bs = l->data;
            if (!bs->parents) {
                owned = g_list_delete_link(owned, l);
                bdrv_unref(bs);
                progress = true;
            }
            l = next;
        }
        if (!progress) {
            /* Users outside the graph (exports, jobs) still hold these */
            for (l = owned; l; l = l->next) {
                bdrv_unref(l->data);
            }
            g_list_free(owned);
            owned = NULL;
        }
    }
}

/* ---- activation (blockdev-set-active) ---- */

bool bdrv_is_inactive(BlockDriverState *bs)
{
    return bs->open_flags & BDRV_O_INACTIVE;
}

/* Is bs a child of an active node, other than those in skip? */
static bool bdrv_has_active_bds_parent(BlockDriverState *bs, GHashTable *skip)
{
    GList *l;

    for (l = bs->parents; l; l = l->next) {
        BdrvChild *c = l->data;

        if (c->klass->parent_is_bds && !bdrv_is_inactive(c->opaque) &&
            !(skip && g_hash_table_contains(skip, c->opaque))) {
            return true;
        }
    }
    return false;
}

/*
 * The nodes bdrv_inactivate(bs) takes down, parents before children: bs,
 * then every child all of whose active parents are taken down as well.
 */
static void bdrv_inactivate_collect(BlockDriverState *bs, GHashTable *set,
                                    GList **order)
{
    GList *l;

    if (bdrv_is_inactive(bs) || g_hash_table_contains(set, bs)) {
        return;
    }
    g_hash_table_add(set, bs);
    *order = g_list_append(*order, bs);
    for (l = bs->children; l; l = l->next) {
        BlockDriverState *child = ((BdrvChild *)l->data)->bs;

        if (!bdrv_has_active_bds_parent(child, set)) {
            bdrv_inactivate_collect(child, set, order);
        }
    }
}

/* Users outside the graph (exports, jobs) cannot follow a hand-over */
static int bdrv_inactivate_check_users(BlockDriverState *bs, Error **errp)
{
    GList *l;

    for (l = bs->parents; l; l = l->next) {
        BdrvChild *c = l->data;

        if (!c->klass->parent_is_bds) {
            g_autofree char *user = bdrv_child_user_desc(c);

            error_setg(errp, "Cannot inactivate node '%s': it is in use by %s",
                       bdrv_get_node_name(bs), user);
            return -EPERM;
        }
    }
    return 0;
}

/* One node: the driver writes back, then the node gives up its locks */
static int bdrv_inactivate_node(BlockDriverState *bs, Error **errp)
{
    int ret = 0;

    trace_bdrv_inactivate(bs, bdrv_get_node_name(bs));
    bdrv_drained_begin(bs);
    if (bs->drv && bs->drv->bdrv_inactivate) {
        ret = bs->drv->bdrv_inactivate(bs, errp);
    }
    if (ret == 0 && bs->drv && !bs->read_only) {
        ret = bdrv_flush(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not flush node '%s'",
                             bdrv_get_node_name(bs));
        }
    }
    if (ret == 0) {
        bs->open_flags |= BDRV_O_INACTIVE;
        /* An inactive node only loosens what it needs of its children */
        bdrv_refresh_perms(bs, NULL);
    }
    bdrv_drained_end(bs);
    return ret;
}

static int bdrv_inactivate_tree(BlockDriverState *bs, Error **errp)
{
    g_autoptr(GHashTable) set = g_hash_table_new(NULL, NULL);
    GList *order = NULL, *l;
    int ret = 0;

    bdrv_inactivate_collect(bs, set, &order);
    for (l = order; l && ret == 0; l = l->next) {
        ret = bdrv_inactivate_check_users(l->data, errp);
    }
    for (l = order; l && ret == 0; l = l->next) {
        ret = bdrv_inactivate_node(l->data, errp);
    }
    g_list_free(order);
    return ret;
}

int bdrv_inactivate(BlockDriverState *bs, Error **errp)
{
    if (bdrv_is_inactive(bs)) {
        return 0;
    }
    if (bdrv_has_active_bds_parent(bs, NULL)) {
        error_setg(errp, "Node '%s' has an active parent node",
                   bdrv_get_node_name(bs));
        return -EPERM;
    }
    return bdrv_inactivate_tree(bs, errp);
}

int bdrv_inactivate_all(Error **errp)
{
    GList *l;
    int ret;

    /* The roots first, so that their children follow them down */
    for (l = all_bdrv_states; l; l = l->next) {
        BlockDriverState *bs = l->data;

        if (!bdrv_is_inactive(bs) && !bdrv_has_active_bds_parent(bs, NULL)) {
            ret = bdrv_inactivate_tree(bs, errp);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return 0;
}

typedef struct InvalidateCo {
    BlockDriverState *bs;
    Error *err;
    int ret;
    bool done;
} InvalidateCo;

static void coroutine_fn bdrv_invalidate_cache_entry(void *opaque)
{
    InvalidateCo *ic = opaque;

    ic->ret = ic->bs->drv->bdrv_co_invalidate_cache(ic->bs, &ic->err);
    ic->done = true;
    aio_notify(qemu_get_aio_context());
}

static int bdrv_invalidate_cache(BlockDriverState *bs, Error **errp)
{
    InvalidateCo ic = { .bs = bs };

    if (!bs->drv || !bs->drv->bdrv_co_invalidate_cache) {
        return 0;
    }
    if (qemu_in_coroutine()) {
        bdrv_invalidate_cache_entry(&ic);
    } else {
        qemu_coroutine_enter(qemu_coroutine_create(bdrv_invalidate_cache_entry,
                                                   &ic));
        AIO_POLL_WHILE(qemu_get_aio_context(), !ic.done);
    }
    if (ic.ret < 0) {
        error_propagate(errp, ic.err);
    } else {
        error_free(ic.err);
    }
    return ic.ret;
}

/* Another process may have grown the files while we were inactive */
static void bdrv_forget_lengths(BlockDriverState *bs)
{
    GList *l;

    bs->total_bytes_hint = -1;
    for (l = bs->children; l; l = l->next) {
        bdrv_forget_lengths(((BdrvChild *)l->data)->bs);
    }
}

static int bdrv_activate_node(BlockDriverState *bs, Error **errp)
{
    int ret;

    trace_bdrv_activate(bs, bdrv_get_node_name(bs));
    bdrv_forget_lengths(bs);
    bs->open_flags &= ~BDRV_O_INACTIVE;
    /* Locks come back before anything is read: another writer fails us */
    ret = bdrv_refresh_perms(bs, errp);
    if (ret == 0) {
        bdrv_drained_begin(bs);
        ret = bdrv_invalidate_cache(bs, errp);
        bdrv_drained_end(bs);
    }
    if (ret < 0) {
        bs->open_flags |= BDRV_O_INACTIVE;
        bdrv_refresh_perms(bs, NULL);
        return ret;
    }
    bs->total_bytes_hint = -1;
    return 0;
}

int bdrv_activate(BlockDriverState *bs, Error **errp)
{
    GList *l;
    int ret;

    for (l = bs->children; l; l = l->next) {
        ret = bdrv_activate(((BdrvChild *)l->data)->bs, errp);
        if (ret < 0) {
            return ret;
        }
    }
    if (!bdrv_is_inactive(bs)) {
        return 0;
    }
    return bdrv_activate_node(bs, errp);
}

int bdrv_activate_all(Error **errp)
{
    GList *l;
    int ret;

    for (l = all_bdrv_states; l; l = l->next) {
        ret = bdrv_activate(l->data, errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* ---- opening ---- */

static int bdrv_open_flags(BlockdevOptions *o, Error **errp)
{
    int flags = 0;

    if (!(o->has_read_only && o->read_only)) {
        flags |= BDRV_O_RDWR;
    }
    if (o->has_auto_read_only && o->auto_read_only) {
        flags |= BDRV_O_AUTO_RDONLY;
    }
    if (o->has_discard && o->discard == BLOCKDEV_DISCARD_OPTIONS_UNMAP) {
        flags |= BDRV_O_UNMAP;
    }
    if (o->cache) {
        if (o->cache->has_direct && o->cache->direct) {
            flags |= BDRV_O_NOCACHE;
        }
        if (o->cache->has_no_flush && o->cache->no_flush) {
            flags |= BDRV_O_NO_FLUSH;
        }
    }
    if (o->has_detect_zeroes &&
        o->detect_zeroes == BLOCKDEV_DETECT_ZEROES_OPTIONS_UNMAP &&
        !(flags & BDRV_O_UNMAP)) {
        error_setg(errp, "setting detect-zeroes to unmap is not allowed "
                   "without setting discard operation to unmap");
        return -EINVAL;
    }
    if (o->has_force_share && o->force_share && (flags & BDRV_O_RDWR)) {
        error_setg(errp, "force-share=on can only be used with read-only images");
        return -EINVAL;
    }
    if (o->has_active && !o->active) {
        flags |= BDRV_O_INACTIVE;
    }
    return flags;
}

static BlockdevOptions *blockdev_options_clone(BlockdevOptions *o)
{
    json_object *json = visit_out_BlockdevOptions(o);
    BlockdevOptions *copy = NULL;

    visit_type_BlockdevOptions(json, NULL, &copy, &error_abort);
    json_object_put(json);
    return copy;
}

/* ---- filenames ---- */

/* JSON text as QEMU prints it in json: filenames: {"a": 1, "b": [2, 3]} */
static void json_text_append(GString *s, json_object *v)
{
    size_t i, n;
    bool first = true;

    switch (json_object_get_type(v)) {
    case json_type_object:
        g_string_append_c(s, '{');
        json_object_object_foreach(v, key, val) {
            json_object *k = json_object_new_string(key);

            g_string_append(s, first ? "" : ", ");
            first = false;
            json_text_append(s, k);
            g_string_append(s, ": ");
            json_text_append(s, val);
            json_object_put(k);
        }
        g_string_append_c(s, '}');
        break;
    case json_type_array:
        g_string_append_c(s, '[');
        n = json_object_array_length(v);
        for (i = 0; i < n; i++) {
            g_string_append(s, i ? ", " : "");
            json_text_append(s, json_object_array_get_idx(v, i));
        }
        g_string_append_c(s, ']');
        break;
    default:
        g_string_append(s, json_object_to_json_string_ext(
                            v, JSON_C_TO_STRING_PLAIN |
                               JSON_C_TO_STRING_NOSLASHESCAPE));
        break;
    }
}

/*
 * The options that define what bs presents: its driver, its strong
 * options, and its children's.  *own_strong tells whether bs itself has
 * a strong option set (other than a plain filename).
 */
static json_object *bdrv_strong_options(BlockDriverState *bs, bool *own_strong)
{
    json_object *opts = json_object_new_object();
    json_object *all, *v;
    const char *const *key;
    GList *l;
    bool dummy;

    json_object_object_add(opts, "driver",
                           json_object_new_string(bs->drv->format_name));
    if (!bs->drv->strong_runtime_opts) {
        /* Such a driver is described by its filename */
        if (!g_str_has_prefix(bs->filename, "json:")) {
            json_object_object_add(opts, "filename",
                                   json_object_new_string(bs->filename));
        }
        return opts;
    }
    all = visit_out_BlockdevOptions(bs->options);
    for (key = bs->drv->strong_runtime_opts; *key; key++) {
        if (json_object_object_get_ex(all, *key, &v)) {
            json_object_object_add(opts, *key, json_object_get(v));
            if (strcmp(*key, "filename")) {
                *own_strong = true;
            }
        }
    }
    json_object_put(all);
    for (l = bs->children; l; l = l->next) {
        BdrvChild *c = l->data;

        if (c == bs->file || c == bs->backing) {
            json_object_object_add(opts, c->name,
                                   bdrv_strong_options(c->bs, &dummy));
        }
    }
    return opts;
}

/*
 * QEMU's filename rules: a node with strong options of its own, or over a
 * child known only by a json: filename, is "json:{...}"; a format or filter
 * without strong options shows its file's name; otherwise the driver's own.
 */
static void bdrv_refresh_filename(BlockDriverState *bs)
{
    bool own_strong = false;
    bool child_json;
    json_object *opts;
    GString *text;

    if (!bs->drv->strong_runtime_opts) {
        if (!bs->filename[0] && bs->file) {
            g_strlcpy(bs->filename, bs->file->bs->filename,
                      sizeof(bs->filename));
        }
        return;
    }
    opts = bdrv_strong_options(bs, &own_strong);
    child_json = bs->file && g_str_has_prefix(bs->file->bs->filename, "json:");
    if (own_strong || child_json) {
        text = g_string_new("json:");
        json_text_append(text, opts);
        g_strlcpy(bs->filename, text->str, sizeof(bs->filename));
        g_string_free(text, true);
    } else if (bs->file) {
        g_strlcpy(bs->filename, bs->file->bs->filename, sizeof(bs->filename));
    }
    json_object_put(opts);
}

static BlockDriverState *bdrv_new(void)
{
    BlockDriverState *bs = g_new0(BlockDriverState, 1);

    bs->refcnt = 1;
    bs->total_bytes_hint = -1;
    qemu_co_mutex_init(&bs->flush_lock);
    qemu_co_queue_init(&bs->flush_queue);
    all_bdrv_states = g_list_append(all_bdrv_states, bs);
    return bs;
}

static BlockDriverState *bdrv_open_inherit(BlockdevOptions *options,
                                           Error **errp)
{
    const char *drv_name = BlockdevDriver_str(options->driver);
    BlockDriver *drv = bdrv_find_format(drv_name);
    BlockDriverState *bs;
    Error *local_err = NULL;
    int flags, ret = 0;

    if (!drv) {
        error_setg(errp, "Unknown driver '%s'", drv_name);
        return NULL;
    }
    flags = bdrv_open_flags(options, errp);
    if (flags < 0) {
        return NULL;
    }
    bs = bdrv_new();
    if (!bdrv_assign_node_name(bs, options->node_name, errp)) {
        all_bdrv_states = g_list_remove(all_bdrv_states, bs);
        g_free(bs);
        return NULL;
    }
    bs->drv = drv;
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bs->auto_read_only = options->has_auto_read_only && options->auto_read_only;
    bs->force_share = options->has_force_share && options->force_share;
    bs->detect_zeroes = options->has_detect_zeroes ? options->detect_zeroes :
                        BLOCKDEV_DETECT_ZEROES_OPTIONS_OFF;
    bs->options = blockdev_options_clone(options);
    bs->supported_write_flags = drv->supported_write_flags;
    bs->supported_zero_flags = drv->supported_zero_flags;
    bs->supported_truncate_flags = drv->supported_truncate_flags;
    if (drv->instance_size) {
        bs->opaque = g_malloc0(drv->instance_size);
    }
    trace_bdrv_open_common(bs, bs->filename, flags, drv->format_name);

    ret = drv->bdrv_open ? drv->bdrv_open(bs, bs->options, flags, &local_err) : 0;
    if (ret < 0) {
        if (local_err) {
            error_propagate(errp, local_err);
        } else {
            error_setg_errno(errp, -ret, "Could not open '%s'", bs->filename);
        }
        goto fail;
    }
    bdrv_refresh_limits(bs, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        goto fail;
    }
    bdrv_refresh_filename(bs);
    bs->total_bytes_hint = -1;
    /* Named after its children, as QEMU does (query order) */
    if (bdrv_find_node(bs->node_name)) {
        error_setg(errp, "Duplicate nodes with node-name='%s'", bs->node_name);
        goto fail;
    }
    bdrv_register_name(bs);
    /* A new node has no parents yet: nothing to check but its children */
    if (bdrv_refresh_perms(bs, errp) < 0) {
        goto fail;
    }
    return bs;

fail:
    if (ret < 0) {
        /* The driver failed to open: do not call its close function */
        bs->drv = NULL;
    }
    bdrv_unref(bs);
    return NULL;
}

/*
 * A node of a driver that has no BlockdevOptions branch (job filters such
 * as mirror_top): no children yet, node_name NULL = auto-named.  The
 * driver's bdrv_open, if any, is called with options == NULL.
 */
BlockDriverState *bdrv_new_open_driver(BlockDriver *drv, const char *node_name,
                                       int flags, Error **errp)
{
    BlockDriverState *bs = bdrv_new();
    int ret = 0;

    if (!bdrv_assign_node_name(bs, node_name, errp)) {
        all_bdrv_states = g_list_remove(all_bdrv_states, bs);
        g_free(bs);
        return NULL;
    }
    bs->drv = drv;
    bs->open_flags = flags;
    bs->read_only = !(flags & BDRV_O_RDWR);
    bs->supported_write_flags = drv->supported_write_flags;
    bs->supported_zero_flags = drv->supported_zero_flags;
    bs->supported_truncate_flags = drv->supported_truncate_flags;
    if (drv->instance_size) {
        bs->opaque = g_malloc0(drv->instance_size);
    }
    if (drv->bdrv_open) {
        ret = drv->bdrv_open(bs, NULL, flags, errp);
    }
    if (ret < 0) {
        bs->drv = NULL;
        bdrv_unref(bs);
        return NULL;
    }
    bdrv_refresh_limits(bs, NULL);
    bdrv_register_name(bs);
    return bs;
}

BlockDriverState *bdrv_open_blockdev(BlockdevOptions *options, Error **errp)
{
    return bdrv_open_inherit(options, errp);
}

/*
 * A child defined inside its parent's options takes what it does not set
 * itself from the parent, as QEMU's bdrv_inherited_options(): the cache
 * modes, force-share, read-only (a backing file: read-only by default),
 * inactivity; and discard=unmap, since the parent's own discard policy
 * already decides which requests reach it.
 */
static void bdrv_inherit_options(BlockdevOptions *o, BlockDriverState *parent,
                                 BdrvChildRole role)
{
    BlockdevOptions *po = parent->options;

    if (!o->has_discard) {
        o->has_discard = true;
        o->discard = BLOCKDEV_DISCARD_OPTIONS_UNMAP;
    }
    if (bdrv_is_inactive(parent) && !o->has_active) {
        o->has_active = true;
        o->active = false;
    }
    if (role & BDRV_CHILD_COW) {
        if (!o->has_read_only) {
            o->has_read_only = true;
            o->read_only = true;
        }
    } else if (po) {
        if (!o->has_read_only && po->has_read_only) {
            o->has_read_only = true;
            o->read_only = po->read_only;
        }
        if (!o->has_auto_read_only && po->has_auto_read_only) {
            o->has_auto_read_only = true;
            o->auto_read_only = po->auto_read_only;
        }
    }
    if (!po) {
        return;
    }
    if (!o->has_force_share && po->has_force_share) {
        o->has_force_share = true;
        o->force_share = po->force_share;
    }
    if (po->cache) {
        if (!o->cache) {
            o->cache = g_new0(BlockdevCacheOptions, 1);
        }
        if (!o->cache->has_direct && po->cache->has_direct) {
            o->cache->has_direct = true;
            o->cache->direct = po->cache->direct;
        }
        if (!o->cache->has_no_flush && po->cache->has_no_flush) {
            o->cache->has_no_flush = true;
            o->cache->no_flush = po->cache->no_flush;
        }
    }
}

BdrvChild *bdrv_open_child(BlockdevRef *ref, BlockDriverState *parent,
                           const char *child_name,
                           const BdrvChildClass *child_class,
                           BdrvChildRole role, Error **errp)
{
    BlockDriverState *bs;
    BdrvChild *c;

    if (ref->type == QTYPE_QSTRING) {
        bs = bdrv_lookup_bs(ref->u.reference, ref->u.reference, errp);
        if (!bs) {
            return NULL;
        }
        bdrv_ref(bs);
    } else {
        BlockdevOptions *o = blockdev_options_clone(ref->u.definition);

        bdrv_inherit_options(o, parent, role);
        bs = bdrv_open_inherit(o, errp);
        qapi_free_BlockdevOptions(o);
        if (!bs) {
            return NULL;
        }
        bs->inherits_from = parent;
    }
    c = bdrv_attach_child(parent, bs, child_name,
                          child_class ? child_class : &child_of_bds, role, errp);
    bdrv_unref(bs);
    return c;
}
