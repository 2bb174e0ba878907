/* audit.c: `airlock audit verify`, `airlock events`, `airlock logs`, `airlock stats`. */
#include <config.h>

#include "autoptr.h"
#include "cli.h"
#include "table.h"
#include "error.h"
#include "events.h"
#include "names.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void
vmm_cli_event(VmmCli *cli, const char *name, const char *event, JsonObject *fields)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonObject) all = fields ? json_object_ref(fields) : json_object_new();
    g_autoptr(VmmCaller) caller = vmm_caller_new(getuid(), "cli");
    VmmEventsActor actor = {.user = caller->user, .uid = caller->uid};

    json_object_set_string_member(all, "via", caller->via);
    if (!vmm_events_append_as(cli->state_dir, name, event, &actor, all, &err))
        fprintf(stderr, "airlock: warning: audit log not written: %s\n", err->message);
}

int
vmm_cmd_audit_verify(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the result as JSON", NULL}, {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new(
        "[NAME] - check the audit log's keyed chain and head (global, or a sandbox's)");
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    const char *name;
    VmmEventsVerified v = {0};
    gboolean ok;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 2)
        return vmm_cli_usage(argv[0], "expects at most one sandbox NAME");
    name = argc == 2 ? argv[1] : NULL;
    if (name && !vmm_name_validate(name, "sandbox name", &err))
        return vmm_cli_fail(err);
    path = name ? vmm_events_sandbox_path(cli->state_dir, name)
                : vmm_events_global_path(cli->state_dir);
    ok = vmm_events_verify(cli->state_dir, name, &v, &err);
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "path");
        json_builder_add_string_value(b, path);
        json_builder_set_member_name(b, "intact");
        json_builder_add_boolean_value(b, ok);
        if (!ok) {
            json_builder_set_member_name(b, "error");
            json_builder_add_string_value(b, err->message);
        } else {
            json_builder_set_member_name(b, "records");
            json_builder_add_int_value(b, v.records);
            json_builder_set_member_name(b, "keyed");
            json_builder_add_boolean_value(b, v.keyed);
            json_builder_set_member_name(b, "unkeyed_records");
            json_builder_add_int_value(b, v.unkeyed);
            json_builder_set_member_name(b, "head_lag");
            json_builder_add_boolean_value(b, v.head_lag);
        }
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
        return ok ? AIRLOCK_EXIT_OK : vmm_cli_exit_code(err);
    }
    if (!ok)
        return vmm_cli_fail(err);
    printf("%s: %u records, chain intact", path, v.records);
    if (!v.keyed)
        printf(" but unkeyed (written before audit keys: anyone who could write it could "
               "rewrite it)");
    else if (v.unkeyed)
        printf(" (the first %u records predate audit keys; the keyed ones after them pin them)",
               v.unkeyed + 1);
    if (v.head_lag)
        printf("; its head names the record before the last (a writer died between the two)");
    printf("\n");
    return AIRLOCK_EXIT_OK;
}

/* ---- events ---- */

static gboolean as_json_events;
static char *events_filter;
static char *type_filter; /* --type: an event name, or its first word (model: model-call) */
static gboolean summary;  /* --summary: counts instead of records */

typedef struct {
    guint records, failed;
    gint64 input_tokens, output_tokens;
    GHashTable *by_event; /* event -> count */
} Summary;

static gboolean
type_matches(const char *event)
{
    gsize n;

    if (!type_filter)
        return TRUE;
    if (!event)
        return FALSE;
    n = strlen(type_filter);
    return g_str_equal(event, type_filter) ||
           (g_str_has_prefix(event, type_filter) && event[n] == '-');
}
static volatile int stop_following;

static void
on_signal(int sig)
{
    stop_following = 1;
}

static void
print_live(const char *name, const char *kind, const char *detail)
{
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    g_autofree char *time = g_date_time_format(now, "%Y-%m-%dT%H:%M:%SZ");

    if (!name || (events_filter && strcmp(events_filter, name) != 0) || !type_matches(kind))
        return;
    if (as_json_events)
        printf("{\"time\":\"%s\",\"source\":\"libvirt\",\"sandbox\":\"%s\",\"event\":\"%s\","
               "\"detail\":\"%s\"}\n",
               time, name, kind, detail);
    else
        printf("%s  %-20s %-16s %s\n", time, name, kind, detail);
    fflush(stdout);
}

static void
on_live(const char *name, const char *kind, const char *detail, gpointer data)
{
    print_live(name, kind, detail);
}

/*
 * Prints the records of @path (those of events_filter's sandbox when set) and
 * counts them in *@shown. A log that does not exist yet holds nothing; one
 * that cannot be read is an error, never an empty trail.
 */
static gboolean
print_recorded(const char *path, guint *shown, Summary *sum, GError **error)
{
    g_autofree char *data = NULL;
    g_auto(GStrv) lines = NULL;
    g_autoptr(GError) local = NULL;

    *shown = 0;
    if (!g_file_get_contents(path, &data, NULL, &local)) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return TRUE;
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot read the audit log: %s%s",
                    local->message,
                    g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_ACCES)
                        ? " (it is root's: run this as root)"
                        : "");
        return FALSE;
    }
    lines = g_strsplit(data, "\n", -1);
    for (char **l = lines; *l; l++) {
        g_autoptr(JsonParser) p = json_parser_new();
        JsonObject *o;
        const char *sb;
        if (!**l || !json_parser_load_from_data(p, *l, -1, NULL) ||
            !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)))
            continue;
        o = json_node_get_object(json_parser_get_root(p));
        sb = json_object_get_string_member_with_default(o, "sandbox", NULL);
        if (events_filter && g_strcmp0(sb, events_filter) != 0)
            continue;
        if (!type_matches(json_object_get_string_member_with_default(o, "event", NULL)))
            continue;
        (*shown)++;
        if (sum) {
            const char *ev = json_object_get_string_member_with_default(o, "event", "?");
            guint c = GPOINTER_TO_UINT(g_hash_table_lookup(sum->by_event, ev));
            g_hash_table_replace(sum->by_event, g_strdup(ev), GUINT_TO_POINTER(c + 1));
            sum->records++;
            sum->failed +=
                g_strcmp0(json_object_get_string_member_with_default(o, "result", "ok"), "ok") != 0;
            sum->input_tokens += json_object_get_int_member_with_default(o, "input_tokens", 0);
            sum->output_tokens += json_object_get_int_member_with_default(o, "output_tokens", 0);
        } else if (as_json_events) {
            printf("%s\n", *l);
        } else {
            g_autoptr(JsonGenerator) gen = json_generator_new();
            g_autoptr(JsonObject) rest = json_object_new();
            g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
            g_autofree char *text = NULL;
            g_autoptr(GList) members = json_object_get_members(o);
            for (GList *m = members; m; m = m->next) {
                const char *k = m->data;
                if (!strcmp(k, "time") || !strcmp(k, "event") || !strcmp(k, "sandbox") ||
                    !strcmp(k, "prev") || !strcmp(k, "uid"))
                    continue;
                json_object_set_member(rest, k, json_node_copy(json_object_get_member(o, k)));
            }
            json_node_set_object(node, rest);
            json_generator_set_root(gen, node);
            text = json_generator_to_data(gen, NULL);
            printf("%s  %-20s %-16s %s\n",
                   json_object_get_string_member_with_default(o, "time", ""), sb ? sb : "-",
                   json_object_get_string_member_with_default(o, "event", ""), text);
        }
    }
    return TRUE;
}

int
vmm_cmd_events(VmmCli *cli, int argc, char **argv)
{
    gboolean follow = FALSE;
    GOptionEntry entries[] = {
        {"follow", 'f', 0, G_OPTION_ARG_NONE, &follow,
         "After the recorded events, print libvirt's live events (lifecycle, crash, I/O error, "
         "agent) until interrupted",
         NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json_events, "One JSON object per line", NULL},
        {"type", 0, 0, G_OPTION_ARG_STRING, &type_filter,
         "Only records of this event (or family: model is model-call, snapshot also "
         "snapshot-delete)",
         "TYPE"},
        {"summary", 0, 0, G_OPTION_ARG_NONE, &summary,
         "Counts instead of records: per event, failed, input and output tokens (model calls)",
         NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("[NAME] - show the audit trail and live events");
    Summary sum = {0};
    g_autoptr(GHashTable) by_event = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GError) err = NULL;
    g_autofree char *path = NULL;
    guint shown = 0;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 2)
        return vmm_cli_usage(argv[0], "expects at most one sandbox NAME");
    if (argc == 2) {
        if (!vmm_name_validate(argv[1], "sandbox name", &err))
            return vmm_cli_fail(err);
        events_filter = argv[1];
    }
    if (type_filter && (!*type_filter ||
                        strspn(type_filter, "abcdefghijklmnopqrstuvwxyz-") != strlen(type_filter)))
        return vmm_cli_usage(argv[0], "--type takes an event name, e.g. model, create, exec");
    if (summary && follow)
        return vmm_cli_usage(argv[0], "--summary counts what is recorded: not with --follow");
    sum.by_event = by_event;
    path = vmm_events_global_path(cli->state_dir);
    if (!print_recorded(path, &shown, summary ? &sum : NULL, &err))
        return vmm_cli_fail(err);
    if (summary) {
        g_autoptr(GList) keys = g_list_sort(g_hash_table_get_keys(by_event), (GCompareFunc)strcmp);
        if (as_json_events) {
            g_autoptr(JsonBuilder) b = json_builder_new();
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "records");
            json_builder_add_int_value(b, sum.records);
            json_builder_set_member_name(b, "failed");
            json_builder_add_int_value(b, sum.failed);
            json_builder_set_member_name(b, "input_tokens");
            json_builder_add_int_value(b, sum.input_tokens);
            json_builder_set_member_name(b, "output_tokens");
            json_builder_add_int_value(b, sum.output_tokens);
            json_builder_set_member_name(b, "by_event");
            json_builder_begin_object(b);
            for (GList *k = keys; k; k = k->next) {
                json_builder_set_member_name(b, k->data);
                json_builder_add_int_value(
                    b, GPOINTER_TO_UINT(g_hash_table_lookup(by_event, k->data)));
            }
            json_builder_end_object(b);
            json_builder_end_object(b);
            vmm_cli_print_json(json_builder_get_root(b)); /* as every --json */
        } else {
            printf("records %u, failed %u, input tokens %" G_GINT64_FORMAT
                   ", output tokens %" G_GINT64_FORMAT "\n",
                   sum.records, sum.failed, sum.input_tokens, sum.output_tokens);
            for (GList *k = keys; k; k = k->next)
                printf("  %-16s %u\n", (const char *)k->data,
                       GPOINTER_TO_UINT(g_hash_table_lookup(by_event, k->data)));
        }
    }
    fflush(stdout);
    if (events_filter && !shown && !follow) {
        g_autofree char *dir = vmm_path_sandbox_dir(cli->state_dir, events_filter);
        if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
            g_set_error(&err, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                        "no events of a sandbox '%s' (airlock list shows what exists)",
                        events_filter);
            return vmm_cli_fail(err);
        }
    }
    if (!follow)
        return AIRLOCK_EXIT_OK;

    if (!vmm_ops_events_init(&err) || !vmm_cli_ops(cli, &err))
        return vmm_cli_fail(err);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (!vmm_ops_follow(cli->ops, on_live, NULL, &stop_following, &err))
        return vmm_cli_fail(err);
    return AIRLOCK_EXIT_OK;
}

/* ---- logs ---- */

/*
 * Prints what is appended to @path after byte @from until @dir (the sandbox)
 * is gone or a signal stops it. A log replaced by a shorter one starts over.
 */
static void
follow_file(const char *path, gsize from, const char *dir)
{
    char buf[8192];
    off_t pos = (off_t)from;

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop_following && g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        ssize_t n = 0;
        if (fd >= 0 && fstat(fd, &st) == 0) {
            if (st.st_size < pos)
                pos = 0;
            while ((n = pread(fd, buf, sizeof buf, pos)) > 0) {
                fwrite(buf, 1, (size_t)n, stdout);
                pos += n;
            }
            fflush(stdout);
        }
        if (fd >= 0)
            close(fd);
        g_usleep(200 * 1000);
    }
}

int
vmm_cmd_logs(VmmCli *cli, int argc, char **argv)
{
    gboolean console = FALSE, events = FALSE, dns = FALSE, follow = FALSE, as_json = FALSE;
    GOptionEntry entries[] = {
        {"console", 0, 0, G_OPTION_ARG_NONE, &console, "The serial console (default)", NULL},
        {"events", 0, 0, G_OPTION_ARG_NONE, &events, "The sandbox's audit events", NULL},
        {"dns", 0, 0, G_OPTION_ARG_NONE, &dns, "The DNS questions the guest asked", NULL},
        {"follow", 'f', 0, G_OPTION_ARG_NONE, &follow,
         "Keep printing as the log grows, until the sandbox is destroyed or interrupted", NULL},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json,
         "Print {name, log, path, text} as JSON (not with --follow)", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx = g_option_context_new("NAME - print one of a sandbox's logs");
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    g_autofree char *data = NULL;
    g_autoptr(GError) local = NULL;
    gsize len = 0;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one sandbox NAME");
    if (console + events + dns > 1)
        return vmm_cli_usage(argv[0], "choose one of --console, --events, --dns");
    if (follow && as_json)
        return vmm_cli_usage(argv[0], "--json prints the log once: not with --follow");
    if (!vmm_name_validate(argv[1], "sandbox name", &err))
        return vmm_cli_fail(err);
    dir = vmm_path_sandbox_dir(cli->state_dir, argv[1]);
    if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
        g_set_error(&err, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                    "sandbox '%s' not found (airlock list shows what exists; airlock archive list "
                    "shows destroyed ones)",
                    argv[1]);
        return vmm_cli_fail(err);
    }
    path = events ? vmm_events_sandbox_path(cli->state_dir, argv[1])
                  : g_build_filename(dir, dns ? "dns.log" : "console.log", NULL);
    if (!g_file_get_contents(path, &data, &len, &local)) {
        if (!g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_set_error(&err, VMM_ERROR, VMM_ERROR_FAILED, "cannot read %s: %s", path,
                        local->message);
            return vmm_cli_fail(err);
        }
        len = 0; /* not written yet */
    }
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autofree char *text = g_utf8_make_valid(data ? data : "", (gssize)len);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, argv[1]);
        json_builder_set_member_name(b, "log");
        json_builder_add_string_value(b, events ? "events" : dns ? "dns" : "console");
        json_builder_set_member_name(b, "path");
        json_builder_add_string_value(b, path);
        json_builder_set_member_name(b, "text");
        json_builder_add_string_value(b, text);
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
        return AIRLOCK_EXIT_OK;
    }
    fwrite(data ? data : "", 1, len, stdout);
    if (follow)
        follow_file(path, len, dir);
    return AIRLOCK_EXIT_OK;
}

/* ---- stats ---- */

int
vmm_cmd_stats(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("[NAME] - CPU, memory, block and network figures of sandboxes");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) stats = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 2)
        return vmm_cli_usage(argv[0], "expects at most one sandbox NAME");
    if (!vmm_cli_ops(cli, &err) ||
        !(stats = vmm_ops_stats(cli->ops, argc == 2 ? argv[1] : NULL, &err)))
        return vmm_cli_fail(err);
    {
        static const VmmCliColumn cols[] = {{"NAME", "name", 20},
                                            {"STATE", "state", 9},
                                            {"CPU_S", "cpu_ns", -12, VMM_CLI_CELL_NS_AS_S},
                                            {"RSS_KIB", "rss_kib", -12},
                                            {"BLK_WR_B", "block_wr_bytes", -12},
                                            {"NET_RX_B", "net_rx_bytes", -12},
                                            {"NET_TX_B", "net_tx_bytes", -12},
                                            {NULL}};
        g_autoptr(JsonArray) rows = json_array_new();
        for (guint i = 0; i < stats->len; i++)
            json_array_add_element(rows, vmm_stats_to_json(g_ptr_array_index(stats, i)));
        vmm_cli_print_table(cols, rows, as_json);
    }
    return AIRLOCK_EXIT_OK;
}
