/* events.c: audit log (JSON lines, hash-chained). */
#include <config.h>

#include "events.h"
#include "error.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAIL_CHUNK 4096

char *
vmm_events_global_path(const char *state_dir)
{
    return g_build_filename(state_dir, "events.jsonl", NULL);
}

char *
vmm_events_sandbox_path(const char *state_dir, const char *name)
{
    g_autofree char *dir = vmm_path_sandbox_dir(state_dir, name);

    return g_build_filename(dir, "events.jsonl", NULL);
}

static char *
sha256_line(const char *line, gsize len)
{
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)line, len);
}

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

/* The hash of the last line of the open file @fd (read whole, however long), or the genesis value.
 */
static char *
last_hash(int fd)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    char buf[TAIL_CHUNK];
    struct stat st;
    off_t start, end;

    if (fstat(fd, &st) != 0 || st.st_size == 0 || !last_line(fd, st.st_size, &start, &end))
        return g_strdup(VMM_EVENTS_GENESIS);
    for (off_t pos = start; pos < end;) {
        ssize_t n = pread(fd, buf, MIN((off_t)sizeof(buf), end - pos), pos);
        if (n <= 0)
            break;
        g_checksum_update(sum, (const guchar *)buf, n);
        pos += n;
    }
    return g_strdup(g_checksum_get_string(sum));
}

static gboolean
append_one(const char *path, JsonObject *record, GError **error)
{
    g_autofree char *head_path = g_strconcat(path, ".head", NULL);
    g_autofree char *prev = NULL;
    g_autofree char *line = NULL;
    g_autofree char *hash = NULL;
    gsize len;
    int fd;

    fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot open %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    if (flock(fd, LOCK_EX) != 0) {
        close(fd);
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot lock %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    prev = last_hash(fd);
    json_object_set_string_member(record, "prev", prev);
    line = vmm_events_record_line(record, &len);
    json_object_remove_member(record, "prev");
    hash = sha256_line(line, len);
    if (write(fd, line, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot write %s: %s", path,
                    g_strerror(errno));
        close(fd);
        return FALSE;
    }
    /* Still under the lock: the head file always names the last line. */
    g_file_set_contents_full(head_path, hash, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, NULL);
    close(fd);
    return TRUE;
}

gboolean
vmm_events_append(const char *state_dir, const char *name, const char *event, JsonObject *fields,
                  GError **error)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S");
    g_autofree char *time =
        g_strdup_printf("%s.%03dZ", stamp, g_date_time_get_microsecond(now) / 1000);
    g_autofree char *global = vmm_events_global_path(state_dir);

    g_autoptr(JsonObject) rec = vmm_events_record_new(time, event, name, fields);

    for (int pass = 0; pass < 2; pass++) {
        g_autofree char *path = NULL;

        if (pass == 1) {
            g_autofree char *dir = NULL;
            if (!name)
                break;
            dir = vmm_path_sandbox_dir(state_dir, name);
            if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
                break;
            path = vmm_events_sandbox_path(state_dir, name);
        } else {
            if (g_mkdir_with_parents(state_dir, 0755) != 0) {
                g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot create %s: %s", state_dir,
                            g_strerror(errno));
                return FALSE;
            }
            path = g_strdup(global);
        }
        if (!append_one(path, rec, error))
            return FALSE;
    }
    return TRUE;
}

gboolean
vmm_events_verify(const char *path, guint *records, GError **error)
{
    g_autofree char *data = NULL;
    g_autofree char *head_path = g_strconcat(path, ".head", NULL);
    g_autofree char *head = NULL;
    g_autofree char *prev = g_strdup(VMM_EVENTS_GENESIS);
    gsize len = 0;
    guint lineno = 0;
    char *p, *nl;

    if (records)
        *records = 0;
    if (!g_file_get_contents(path, &data, &len, NULL)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_NOT_FOUND, "%s: no audit log", path);
        return FALSE;
    }
    for (p = data; p < data + len; p = nl + 1) {
        g_autoptr(JsonParser) parser = json_parser_new();
        JsonObject *o;
        const char *got;

        nl = memchr(p, '\n', data + len - p);
        lineno++;
        if (!nl) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "%s:%u: truncated record", path,
                        lineno);
            return FALSE;
        }
        if (!json_parser_load_from_data(parser, p, nl - p, NULL) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "%s:%u: not a JSON record", path,
                        lineno);
            return FALSE;
        }
        o = json_node_get_object(json_parser_get_root(parser));
        got = json_object_get_string_member_with_default(o, "prev", "");
        if (g_strcmp0(got, prev) != 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                        "%s:%u: chain broken (this record or the one before it was edited, "
                        "removed or moved)",
                        path, lineno);
            return FALSE;
        }
        g_free(prev);
        prev = sha256_line(p, nl - p);
        if (records)
            (*records)++;
    }
    if (g_file_get_contents(head_path, &head, NULL, NULL) &&
        g_strcmp0(g_strstrip(head), prev) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "%s:%u: the last record is not the one last written (records were removed "
                    "or edited at the end)",
                    path, lineno);
        return FALSE;
    }
    return TRUE;
}
