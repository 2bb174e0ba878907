/* events.c: audit log (JSON lines, chained with HMAC-SHA256 under a root-only key). */
#include <config.h>

#include "events.h"
#include "fsutil.h"
#include "error.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_LEN 32
#define TAIL_CHUNK 4096
/* A last line longer than this is no record airlock wrote: it is hashed but not parsed. */
#define PARSE_MAX (1024 * 1024)

/* ---- paths ---- */

static char *
audit_dir(const char *state_dir)
{
    return g_build_filename(state_dir, "audit", NULL);
}

char *
vmm_events_global_path(const char *state_dir)
{
    return g_build_filename(state_dir, "events.jsonl", NULL);
}

char *
vmm_events_sandbox_path(const char *state_dir, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".jsonl", NULL);

    return g_build_filename(state_dir, "audit", "sandboxes", file, NULL);
}

static char *
head_path(const char *state_dir, const char *name)
{
    g_autofree char *file = name ? g_strconcat(name, ".head", NULL) : NULL;

    if (!name)
        return g_build_filename(state_dir, "audit", "events.head", NULL);
    return g_build_filename(state_dir, "audit", "sandboxes", file, NULL);
}

/* Where heads lived before audit keys: next to the log (only the global one is still read). */
static char *
legacy_head_path(const char *state_dir)
{
    g_autofree char *log = vmm_events_global_path(state_dir);

    return g_strconcat(log, ".head", NULL);
}

/* Creates or checks a directory only its owner can use; a symlink is refused, not followed. */
static gboolean
private_dir(const char *path, GError **error)
{
    struct stat st;

    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot create %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                    "%s must be a directory of uid %u with mode 0700 (fix its owner and mode, or "
                    "remove it if airlock did not make it)",
                    path, (unsigned)geteuid());
        return FALSE;
    }
    return TRUE;
}

/* A file's contents, stripped; NULL when it does not exist or is not a regular file. */
static char *
read_small(const char *path)
{
    char buf[256];
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return g_strstrip(g_strdup(buf));
}

/* ---- the key ---- */

typedef struct {
    guint8 bytes[KEY_LEN];
} AuditKey;

static void
audit_key_free(AuditKey *key)
{
    if (key) {
        explicit_bzero(key, sizeof(*key));
        g_free(key);
    }
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AuditKey, audit_key_free)

/* The key at @path; *@missing tells a key that does not exist from one that is unusable. */
static AuditKey *
key_load(const char *path, gboolean *missing, GError **error)
{
    g_autoptr(AuditKey) key = g_new0(AuditKey, 1);
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

    *missing = FALSE;
    if (fd < 0) {
        *missing = errno == ENOENT;
        g_set_error(error, VMM_ERROR, *missing ? VMM_ERROR_NOT_FOUND : VMM_ERROR_HOST,
                    "cannot open the audit key %s: %s", path, g_strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077) != 0 || st.st_size != KEY_LEN) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST,
                    "the audit key %s is not a %d-byte file of uid %u with mode 0600 (someone "
                    "changed it: the logs it keyed cannot be checked)",
                    path, KEY_LEN, (unsigned)geteuid());
        return NULL;
    }
    n = read(fd, key->bytes, KEY_LEN);
    close(fd);
    if (n != KEY_LEN) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot read the audit key %s", path);
        return NULL;
    }
    return g_steal_pointer(&key);
}

/*
 * The key of @state_dir, made on first use: 32 random bytes written to a
 * fresh O_EXCL file and linked into place, so a reader never sees half a key
 * and two first writers agree on one.
 */
static AuditKey *
key_get(const char *state_dir, GError **error)
{
    g_autofree char *dir = audit_dir(state_dir);
    g_autofree char *path = g_build_filename(dir, "key", NULL);
    g_autofree char *tmp = g_build_filename(dir, "key.XXXXXX", NULL);
    g_autoptr(GError) local = NULL;
    g_autoptr(AuditKey) fresh = g_new0(AuditKey, 1);
    gboolean missing;
    AuditKey *key;
    int fd, err = 0;

    if (!private_dir(dir, error))
        return NULL;
    if ((key = key_load(path, &missing, &local)) || !missing) {
        if (!key)
            g_propagate_error(error, g_steal_pointer(&local));
        return key;
    }
    if (getrandom(fresh->bytes, KEY_LEN, 0) != KEY_LEN) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot get random bytes for the audit key");
        return NULL;
    }
    fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot create %s: %s", tmp,
                    g_strerror(errno));
        return NULL;
    }
    errno = 0;
    if (write(fd, fresh->bytes, KEY_LEN) != KEY_LEN || fsync(fd) != 0)
        err = errno ? errno : EIO;
    close(fd);
    if (!err && link(tmp, path) != 0 && errno != EEXIST)
        err = errno;
    unlink(tmp);
    if (err) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot write the audit key %s: %s", path,
                    g_strerror(err));
        return NULL;
    }
    return key_load(path, &missing, error);
}

static char *
mac_line(const AuditKey *key, const char *line, gsize len)
{
    g_autoptr(GHmac) h = g_hmac_new(G_CHECKSUM_SHA256, key->bytes, KEY_LEN);

    g_hmac_update(h, (const guchar *)line, len);
    return g_strdup(g_hmac_get_string(h));
}

static char *
sha256_line(const char *line, gsize len)
{
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)line, len);
}

/* ---- the end of a log ---- */

typedef struct {
    gboolean empty;
    gboolean ends_in_newline;
    char *mac;  /* HMAC of the last line */
    char *sha;  /* its sha256, for logs from before audit keys */
    char *prev; /* its prev member; NULL when it is no record airlock wrote */
} Tail;

static void
tail_clear(Tail *t)
{
    g_free(t->mac);
    g_free(t->sha);
    g_free(t->prev);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Tail, tail_clear)

/* Offsets of the last line of @fd, without its newline, however long it is. */
static gboolean
last_line(int fd, off_t size, off_t *start, off_t *end)
{
    char buf[TAIL_CHUNK];
    off_t pos;

    *end = size;
    if (size > 0 && pread(fd, buf, 1, size - 1) == 1 && buf[0] == '\n')
        (*end)--;
    for (pos = *end; pos > 0;) {
        off_t from = pos > TAIL_CHUNK ? pos - TAIL_CHUNK : 0;
        if (pread(fd, buf, pos - from, from) != pos - from)
            return FALSE;
        for (off_t i = pos - from; i > 0; i--)
            if (buf[i - 1] == '\n') {
                *start = from + i;
                return TRUE;
            }
        pos = from;
    }
    *start = 0;
    return TRUE;
}

static gboolean
read_tail(int fd, off_t size, const AuditKey *key, Tail *t, GError **error)
{
    g_autoptr(GHmac) mac = g_hmac_new(G_CHECKSUM_SHA256, key->bytes, KEY_LEN);
    g_autoptr(GChecksum) sha = g_checksum_new(G_CHECKSUM_SHA256);
    g_autoptr(GString) line = g_string_new(NULL);
    char buf[TAIL_CHUNK];
    off_t start, end;

    t->empty = size == 0;
    if (t->empty)
        return TRUE;
    if (!last_line(fd, size, &start, &end)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot read the audit log: %s",
                    g_strerror(errno));
        return FALSE;
    }
    t->ends_in_newline = end < size;
    for (off_t pos = start; pos < end;) {
        ssize_t n = pread(fd, buf, MIN((off_t)sizeof(buf), end - pos), pos);
        if (n <= 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot read the audit log: %s",
                        n < 0 ? g_strerror(errno) : "shrank while reading");
            return FALSE;
        }
        g_hmac_update(mac, (const guchar *)buf, n);
        g_checksum_update(sha, (const guchar *)buf, n);
        if (end - start <= PARSE_MAX)
            g_string_append_len(line, buf, n);
        pos += n;
    }
    t->mac = g_strdup(g_hmac_get_string(mac));
    t->sha = g_strdup(g_checksum_get_string(sha));
    if (end - start <= PARSE_MAX) {
        g_autoptr(JsonParser) p = json_parser_new();
        if (json_parser_load_from_data(p, line->str, line->len, NULL) &&
            JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
            t->prev = g_strdup(json_object_get_string_member_with_default(
                json_node_get_object(json_parser_get_root(p)), "prev", NULL));
    }
    return TRUE;
}

/*
 * What the next record chains to. Normally the head and the last line agree.
 * When they do not, the record chains to the head (or to HEAD_LOST), so the
 * records that went missing keep showing; only the traces of a writer that
 * died between the line and its head, and a log from before audit keys, are
 * carried on.
 */
static char *
chain_point(const Tail *t, const char *head, const char *legacy_head)
{
    if (t->empty)
        return g_strdup(head ? head : VMM_EVENTS_GENESIS);
    if (head && (g_strcmp0(head, t->mac) == 0 || g_strcmp0(head, t->prev) == 0))
        return g_strdup(t->mac);
    if (!head && g_strcmp0(t->prev, VMM_EVENTS_GENESIS) == 0)
        return g_strdup(t->mac); /* died after the first record */
    if (!head && legacy_head && g_strcmp0(legacy_head, t->sha) == 0)
        return g_strdup(t->mac);
    return g_strdup(head ? head : VMM_EVENTS_HEAD_LOST);
}

static gboolean
write_all(int fd, const char *buf, gsize len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        buf += n;
        len -= n;
    }
    return TRUE;
}

/* The log at @path open, locked and still linked (a concurrent remove unlinks it). */
static int
open_locked(const char *path, int flags, int lock, GError **error)
{
    for (int tries = 0; tries < 3; tries++) {
        struct stat st;
        int fd = open(path, flags | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
        if (fd < 0) {
            g_set_error(error, VMM_ERROR, errno == ENOENT ? VMM_ERROR_NOT_FOUND : VMM_ERROR_HOST,
                        "cannot open %s: %s", path, g_strerror(errno));
            return -1;
        }
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "%s is not a regular file", path);
            return -1;
        }
        if (flock(fd, lock) != 0) {
            close(fd);
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot lock %s: %s", path,
                        g_strerror(errno));
            return -1;
        }
        if (fstat(fd, &st) == 0 && st.st_nlink > 0)
            return fd;
        close(fd);
    }
    g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "%s keeps being removed", path);
    return -1;
}

static gboolean
append_one(const char *path, const char *head_file, const char *legacy_file, const AuditKey *key,
           JsonObject *rec, GError **error)
{
    g_auto(Tail) tail = {0};
    g_autofree char *head = NULL;
    g_autofree char *legacy = legacy_file ? read_small(legacy_file) : NULL;
    g_autofree char *prev = NULL;
    g_autofree char *line = NULL;
    g_autofree char *mac = NULL;
    g_autoptr(GString) out = g_string_new(NULL);
    struct stat st;
    gsize len;
    int fd;

    if ((fd = open_locked(path, O_RDWR | O_CREAT | O_APPEND, LOCK_EX, error)) < 0)
        return FALSE;
    head = read_small(head_file); /* under the lock: it names the last line written */
    if (fstat(fd, &st) != 0 || !read_tail(fd, st.st_size, key, &tail, error)) {
        if (error && !*error)
            g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot stat %s", path);
        close(fd);
        return FALSE;
    }
    prev = chain_point(&tail, head, legacy);
    json_object_set_string_member(rec, "prev", prev);
    line = vmm_events_record_line(rec, &len);
    json_object_remove_member(rec, "prev");
    mac = mac_line(key, line, len);
    if (!tail.empty && !tail.ends_in_newline)
        g_string_append_c(out, '\n'); /* a torn line stays a line of its own, and shows */
    g_string_append_len(out, line, len);
    g_string_append_c(out, '\n');
    if (!write_all(fd, out->str, out->len)) {
        int err = errno;
        if (ftruncate(fd, st.st_size) != 0)
            g_debug("cannot cut %s back after a failed write", path);
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot write %s: %s", path, g_strerror(err));
        return FALSE;
    }
    g_string_printf(out, "%s\n", mac);
    if (!g_file_set_contents_full(head_file, out->str, out->len, G_FILE_SET_CONTENTS_CONSISTENT,
                                  0600, error)) {
        close(fd);
        return FALSE;
    }
    if (legacy_file && legacy)
        unlink(legacy_file); /* superseded by the keyed head */
    close(fd);
    return TRUE;
}

gboolean
vmm_events_append(const char *state_dir, const char *name, const char *event, JsonObject *fields,
                  GError **error)
{
    return vmm_events_append_as(state_dir, name, event, NULL, fields, error);
}

gboolean
vmm_events_append_as(const char *state_dir, const char *name, const char *event,
                     const VmmEventsActor *actor, JsonObject *fields, GError **error)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");
    g_autofree char *time =
        g_strdup_printf("%s.%03dZ", stamp, g_date_time_get_microsecond(now) / 1000);
    g_autofree char *global = vmm_events_global_path(state_dir);
    g_autofree char *global_head = head_path(state_dir, NULL);
    g_autofree char *legacy = legacy_head_path(state_dir);
    g_autoptr(JsonObject) rec = NULL;
    g_autoptr(AuditKey) key = NULL;

    /* Made 0755 whatever the umask (qemu must reach images/ and sandboxes/ below it), and
     * checked like every other way in: the first record may be what creates it. */
    if (!vmm_fs_check_state_dir(state_dir, error))
        return FALSE;
    if (!(key = key_get(state_dir, error)))
        return FALSE;
    rec = vmm_events_record_new_as(time, event, name, actor, fields);
    if (!append_one(global, global_head, legacy, key, rec, error))
        return FALSE;
    if (name) {
        g_autofree char *dir = vmm_path_sandbox_dir(state_dir, name);
        g_autofree char *sdir = NULL;
        g_autofree char *path = NULL;
        g_autofree char *head = NULL;
        if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
            return TRUE;
        sdir = g_build_filename(state_dir, "audit", "sandboxes", NULL);
        path = vmm_events_sandbox_path(state_dir, name);
        head = head_path(state_dir, name);
        if (!private_dir(sdir, error) || !append_one(path, head, NULL, key, rec, error))
            return FALSE;
    }
    return TRUE;
}

gboolean
vmm_events_sandbox_remove(const char *state_dir, const char *name, GError **error)
{
    g_autofree char *path = vmm_events_sandbox_path(state_dir, name);
    g_autofree char *head = head_path(state_dir, name);
    g_autoptr(GError) local = NULL;
    int fd = open_locked(path, O_RDONLY, LOCK_EX, &local);

    /* Locked, so an append in flight lands in the old file or in a fresh one, whole. */
    if ((unlink(path) != 0 && errno != ENOENT) || (unlink(head) != 0 && errno != ENOENT)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot remove the audit log of '%s': %s",
                    name, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return FALSE;
    }
    if (fd >= 0)
        close(fd);
    return TRUE;
}

/* ---- verify ---- */

/* The line's prev member, or NULL with an error when it is no record. */
static char *
line_prev(const char *path, guint lineno, const char *line, gsize len, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    const char *prev;

    if (!json_parser_load_from_data(parser, line, len, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "%s:%u: not a JSON record", path, lineno);
        return NULL;
    }
    prev = json_object_get_string_member_with_default(
        json_node_get_object(json_parser_get_root(parser)), "prev", NULL);
    if (!prev) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "%s:%u: record without prev", path, lineno);
        return NULL;
    }
    return g_strdup(prev);
}

typedef struct {
    char *mac;  /* HMAC of the line before (NULL without a key) */
    char *sha;  /* its sha256 */
    char *prev; /* its own prev */
    gboolean keyed;
} Chain;

static void
chain_clear(Chain *c)
{
    g_free(c->mac);
    g_free(c->sha);
    g_free(c->prev);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Chain, chain_clear)

/* Reads every line of @f against the chain; *@out counts them. */
static gboolean
verify_lines(FILE *f, const char *path, const AuditKey *key, Chain *c, VmmEventsVerified *out,
             GError **error)
{
    g_autofree char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    guint lineno = 0;

    while ((n = getline(&line, &cap, f)) > 0) {
        g_autofree char *prev = NULL;
        lineno++;
        if (line[n - 1] != '\n') {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "%s:%u: truncated record", path,
                        lineno);
            return FALSE;
        }
        n--;
        if (!(prev = line_prev(path, lineno, line, n, error)))
            return FALSE;
        if (lineno == 1 ? strcmp(prev, VMM_EVENTS_GENESIS) == 0
                        : (c->mac && strcmp(prev, c->mac) == 0)) {
            c->keyed = lineno > 1;
        } else if (lineno > 1 && !c->keyed && strcmp(prev, c->sha) == 0) {
            out->unkeyed++; /* chained before audit keys: only while no keyed record was seen */
        } else if (strcmp(prev, VMM_EVENTS_HEAD_LOST) == 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "%s:%u: written when the head did not name the last record (records "
                        "before it were removed, or the head was)",
                        path, lineno);
            return FALSE;
        } else {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "%s:%u: chain broken (this record or the one before it was edited, "
                        "removed or moved%s)",
                        path, lineno, key ? "" : ", or the log was keyed and the key is gone");
            return FALSE;
        }
        chain_clear(c);
        c->mac = key ? mac_line(key, line, n) : NULL;
        c->sha = sha256_line(line, n);
        c->prev = g_steal_pointer(&prev);
        out->records++;
    }
    if (ferror(f)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot read %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

gboolean
vmm_events_verify(const char *state_dir, const char *name, VmmEventsVerified *out, GError **error)
{
    g_autofree char *path =
        name ? vmm_events_sandbox_path(state_dir, name) : vmm_events_global_path(state_dir);
    g_autofree char *dir = audit_dir(state_dir);
    g_autofree char *key_file = g_build_filename(dir, "key", NULL);
    g_autofree char *head_file = head_path(state_dir, name);
    g_autofree char *legacy_file = name ? NULL : legacy_head_path(state_dir);
    g_autofree char *head = read_small(head_file);
    g_autoptr(AuditKey) key = NULL;
    g_autoptr(GError) local = NULL;
    g_auto(Chain) chain = {0};
    VmmEventsVerified dummy;
    gboolean missing;
    FILE *f;
    int fd;

    if (!out)
        out = &dummy;
    memset(out, 0, sizeof(*out));
    if (!(key = key_load(key_file, &missing, &local)) && !missing) {
        g_propagate_error(error, g_steal_pointer(&local));
        return FALSE;
    }
    g_clear_error(&local);
    if (!key && head) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "%s: the audit key %s is gone, so this keyed log cannot be checked", path,
                    key_file);
        return FALSE;
    }
    if ((fd = open_locked(path, O_RDONLY, LOCK_SH, &local)) < 0) {
        if (!g_error_matches(local, VMM_ERROR, VMM_ERROR_NOT_FOUND) || head) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "%s: %s", path,
                        head ? "the log is gone but its head says records were written (it was "
                               "removed)"
                             : local->message);
            return FALSE;
        }
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND, "%s: no audit log", path);
        return FALSE;
    }
    f = fdopen(fd, "r");
    if (!verify_lines(f, path, key, &chain, out, error)) {
        fclose(f);
        return FALSE;
    }
    fclose(f);
    if (out->records == 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "%s: the log is empty (its records were removed: airlock never leaves one "
                    "empty)",
                    path);
        return FALSE;
    }
    out->keyed = key != NULL;
    if (!key) {
        /* A log from before audit keys: its head sits next to it, hashed without a key. */
        g_free(head);
        head = legacy_file ? read_small(legacy_file) : NULL;
    }
    if (!head) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "%s: its head %s is missing, so records removed at the end would not show "
                    "(it was removed)",
                    path,
                    key           ? head_file
                    : legacy_file ? legacy_file
                                  : head_file);
        return FALSE;
    }
    if (key && out->records > 1 && !chain.keyed) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "%s:%u: the last record is not chained with the audit key (the log was "
                    "rewritten without it)",
                    path, out->records);
        return FALSE;
    }
    if (strcmp(head, key ? chain.mac : chain.sha) == 0)
        return TRUE;
    if (key && chain.keyed && strcmp(head, chain.prev) == 0) {
        out->head_lag = TRUE; /* only the key's holder could have chained that last record */
        return TRUE;
    }
    g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                "%s:%u: the last record is not the one last written (records were removed or "
                "edited at the end)",
                path, out->records);
    return FALSE;
}
