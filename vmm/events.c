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

/* The hash of the last line of the open file @fd, or the genesis value. */
static char *
last_hash(int fd)
{
    struct stat st;
    off_t start;
    g_autofree char *buf = NULL;
    ssize_t n;
    char *end, *begin;

    if (fstat(fd, &st) != 0 || st.st_size == 0)
        return g_strdup(VMM_EVENTS_GENESIS);
    start = st.st_size > 65536 ? st.st_size - 65536 : 0;
    buf = g_malloc(st.st_size - start + 1);
    n = pread(fd, buf, st.st_size - start, start);
    if (n <= 0)
        return g_strdup(VMM_EVENTS_GENESIS);
    buf[n] = '\0';
    end = buf + n;
    if (end > buf && end[-1] == '\n')
        end--;
    begin = end;
    while (begin > buf && begin[-1] != '\n')
        begin--;
    return sha256_line(begin, end - begin);
}

static gboolean
append_one(const char *path, JsonObject *record, GError **error)
{
    g_autofree char *head_path = g_strconcat(path, ".head", NULL);
    g_autofree char *prev = NULL;
    g_autofree char *line = NULL;
    g_autofree char *hash = NULL;
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonGenerator) gen = json_generator_new();
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
    json_node_set_object(node, record);
    json_generator_set_root(gen, node);
    line = json_generator_to_data(gen, &len);
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
    g_autofree char *time = g_strdup_printf("%s.%03dZ", stamp, g_date_time_get_microsecond(now) / 1000);
    g_autofree char *global = vmm_events_global_path(state_dir);

    for (int pass = 0; pass < 2; pass++) {
        g_autoptr(JsonObject) rec = json_object_new();
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
        json_object_set_string_member(rec, "time", time);
        json_object_set_string_member(rec, "event", event);
        if (name)
            json_object_set_string_member(rec, "sandbox", name);
        else
            json_object_set_null_member(rec, "sandbox");
        json_object_set_string_member(rec, "user", g_get_user_name());
        json_object_set_int_member(rec, "uid", getuid());
        if (fields) {
            g_autoptr(GList) members = json_object_get_members(fields);
            for (GList *l = members; l; l = l->next)
                json_object_set_member(rec, l->data,
                                       json_node_copy(json_object_get_member(fields, l->data)));
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
    if (g_file_get_contents(head_path, &head, NULL, NULL) && g_strcmp0(g_strstrip(head), prev) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "%s:%u: the last record is not the one last written (records were removed "
                    "or edited at the end)",
                    path, lineno);
        return FALSE;
    }
    return TRUE;
}
