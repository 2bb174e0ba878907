/* agent-json.c: guest agent commands as JSON, reply parsing, the exec wrapper (pure). */
#include <config.h>

#include "agent-json.h"
#include "error.h"
#include "escape.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/*
 * The streamed-exec wrapper. Positional parameters: DIR ID WORKDIR WITH_ENV
 * UNLINK N ENV1..ENVn ARGV... Values are only ever expanded inside double quotes.
 * With UNLINK=1 the caller already holds both files open, so the wrapper
 * removes their names at once: nothing is left behind, whatever happens next.
 * `exec setsid` keeps the pid the agent reported and makes it the leader of
 * a new session and process group, so a timeout can kill the whole group.
 */
static const char stream_script[] =
    "d=$1 id=$2 wd=$3 we=$4 ul=$5\n"
    "shift 5\n"
    "umask 077\n"
    "[ -d \"$d\" ] || mkdir -p -m 0700 -- \"$d\" || exit 125\n"
    "exec >>\"$d/$id.out\" 2>>\"$d/$id.err\"\n"
    "if [ \"$ul\" = 1 ]; then rm -f -- \"$d/$id.out\" \"$d/$id.err\"; fi\n"
    "if [ -n \"$wd\" ]; then cd -- \"$wd\" || exit 126; fi\n"
    "n=$1\n"
    "if [ \"$n\" -gt 0 ]; then\n"
    "  set -- /bin/sh -c 'n=$1; shift; while [ \"$n\" -gt 0 ]; do export \"$1\"; shift;"
    " n=$((n-1)); done; exec \"$@\"' airlock-env \"$@\"\n"
    "else\n"
    "  shift\n"
    "fi\n"
    "if [ -n \"$we\" ] && [ -x \"$we\" ]; then set -- \"$we\" \"$@\"; fi\n"
    "exec setsid -- \"$@\"\n";

static const char kill_script[] = "kill -s KILL -- \"-$1\" 2>/dev/null || kill -s KILL -- \"$1\"";

char *
vmm_agent_json_command(const char *execute, JsonNode *arguments)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, execute);
    if (arguments) {
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, arguments); /* takes ownership */
    }
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    return json_generator_to_data(gen, NULL);
}

static void
add_string_array(JsonBuilder *b, const char *member, const char *const *strv)
{
    json_builder_set_member_name(b, member);
    json_builder_begin_array(b);
    for (; strv && *strv; strv++)
        json_builder_add_string_value(b, *strv);
    json_builder_end_array(b);
}

char *
vmm_agent_json_exec(const char *path, const char *const *args, const char *const *env,
                    GBytes *input, gboolean capture_output)
{
    g_autoptr(JsonBuilder) b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "path");
    json_builder_add_string_value(b, path);
    add_string_array(b, "arg", args);
    if (env)
        add_string_array(b, "env", env);
    if (input) {
        gsize len = 0;
        const guchar *data = g_bytes_get_data(input, &len);
        g_autofree char *b64 = g_base64_encode(data, len);
        json_builder_set_member_name(b, "input-data");
        json_builder_add_string_value(b, b64);
    }
    json_builder_set_member_name(b, "capture-output");
    json_builder_add_boolean_value(b, capture_output);
    json_builder_end_object(b);
    return vmm_agent_json_command("guest-exec", json_builder_get_root(b));
}

/*
 * Member @name of @obj when it is a plain value of @type, else NULL. The
 * guest shapes these objects: json-glib's getters complain on a wrong shape.
 */
static JsonNode *
value_member(JsonObject *obj, const char *name, GType type)
{
    JsonNode *m = obj ? json_object_get_member(obj, name) : NULL;

    return m && JSON_NODE_HOLDS_VALUE(m) && json_node_get_value_type(m) == type ? m : NULL;
}

static const char *
str_member(JsonObject *obj, const char *name)
{
    JsonNode *m = value_member(obj, name, G_TYPE_STRING);

    return m ? json_node_get_string(m) : NULL;
}

static gint64
int_member(JsonObject *obj, const char *name, gint64 def)
{
    JsonNode *m = value_member(obj, name, G_TYPE_INT64);

    return m ? json_node_get_int(m) : def;
}

static gboolean
bool_member(JsonObject *obj, const char *name, gboolean def)
{
    JsonNode *m = value_member(obj, name, G_TYPE_BOOLEAN);

    return m ? json_node_get_boolean(m) : def;
}

/*
 * A strict JSON reader that only says yes or no (RFC 8259, nesting at most
 * JSON_MAX_DEPTH). json-glib leaks on some of its error paths (a value
 * followed by garbage, "{...}{...}"), and a guest may send garbage forever:
 * only text that is exactly one valid JSON object reaches it.
 */
#define JSON_MAX_DEPTH 64

static const char *ws(const char *p);
static const char *value(const char *p, int depth);

static const char *
ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* The value of 4 hex digits at @p, or -1. */
static int
hex4(const char *p)
{
    int v = 0;

    for (int i = 0; i < 4; i++) {
        if (!g_ascii_isxdigit(p[i]))
            return -1;
        v = v * 16 + g_ascii_xdigit_value(p[i]);
    }
    return v;
}

static const char *number_end(const char *p);

static const char *
string(const char *p)
{
    if (*p++ != '"')
        return NULL;
    for (;;) {
        unsigned char c = (unsigned char)*p++;
        if (c == '"')
            return p;
        if (c < 0x20)
            return NULL; /* NUL (the end) and raw control characters */
        if (c == '\\') {
            c = (unsigned char)*p++;
            if (c == 'u') {
                int u = hex4(p);
                p += 4;
                /* UTF-16 in JSON: a high surrogate must be followed by a low one, a low one
                 * never stands alone, and no NUL (json-glib leaks on each of these). */
                if (u <= 0 || (u >= 0xDC00 && u <= 0xDFFF))
                    return NULL;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    int lo;
                    if (p[0] != '\\' || p[1] != 'u')
                        return NULL;
                    lo = hex4(p + 2);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return NULL;
                    p += 6;
                }
            } else if (!strchr("\"\\/bfnrt", c) || !c) {
                return NULL;
            }
        }
    }
}

static const char *
number(const char *p)
{
    const char *end = number_end(p);
    g_autofree char *tok = NULL;
    gboolean integer;

    /* json-glib errors, and leaks, on integers it cannot hold: only what fits gets through. */
    if (!end || end - p > 32)
        return NULL;
    tok = g_strndup(p, end - p);
    integer = !strpbrk(tok, ".eE");
    errno = 0;
    if (integer)
        g_ascii_strtoll(tok, NULL, 10);
    else if (!isfinite(g_ascii_strtod(tok, NULL)))
        return NULL;
    return errno == ERANGE ? NULL : end;
}

static const char *
number_end(const char *p)
{
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (g_ascii_isdigit(*p))
            p++;
    else
        return NULL;
    if (*p == '.') {
        if (!g_ascii_isdigit(*++p))
            return NULL;
        while (g_ascii_isdigit(*p))
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!g_ascii_isdigit(*p))
            return NULL;
        while (g_ascii_isdigit(*p))
            p++;
    }
    return p;
}

static const char *
value(const char *p, int depth)
{
    p = ws(p);
    if (depth > JSON_MAX_DEPTH)
        return NULL;
    switch (*p) {
    case '{':
        p = ws(p + 1);
        if (*p == '}')
            return p + 1;
        for (;;) {
            if (!(p = string(ws(p))))
                return NULL;
            p = ws(p);
            if (*p++ != ':' || !(p = value(p, depth + 1)))
                return NULL;
            p = ws(p);
            if (*p == '}')
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    case '[':
        p = ws(p + 1);
        if (*p == ']')
            return p + 1;
        for (;;) {
            if (!(p = value(p, depth + 1)))
                return NULL;
            p = ws(p);
            if (*p == ']')
                return p + 1;
            if (*p++ != ',')
                return NULL;
        }
    case '"':
        return string(p);
    case 't':
        return strncmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return strncmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return strncmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return number(p);
    }
}

gboolean
vmm_json_is_one_object(const char *text)
{
    const char *p = ws(text);

    /* json-glib refuses invalid UTF-8 too, on an error path that leaks. */
    if (!g_utf8_validate(text, -1, NULL) || *p != '{' || !(p = value(p, 0)))
        return FALSE;
    return *ws(p) == '\0';
}

JsonNode *
vmm_agent_json_return(const char *reply, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) perr = NULL;
    JsonNode *root;
    JsonObject *obj;

    if (reply && !vmm_json_is_one_object(reply)) {
        /* json-glib leaks on some of its error paths: only valid JSON reaches it. */
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                    "guest agent sent a reply that is not exactly one JSON object");
        return NULL;
    }
    if (!reply || !json_parser_load_from_data(parser, reply, -1, &perr)) {
        /* The parser's message can quote the guest's bytes. */
        g_autofree char *shown =
            vmm_escape(perr ? perr->message : "empty reply", -1, VMM_ESCAPE_LINE_MAX);
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                    "guest agent sent a reply that is not JSON: %s", shown);
        return NULL;
    }
    root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "guest agent reply is not a JSON object");
        return NULL;
    }
    obj = json_node_get_object(root);
    if (json_object_has_member(obj, "error")) {
        JsonNode *e = json_object_get_member(obj, "error");
        const char *desc = NULL;
        if (JSON_NODE_HOLDS_OBJECT(e))
            desc = str_member(json_node_get_object(e), "desc");
        g_autofree char *shown = vmm_escape(desc ? desc : "unknown", -1, VMM_ESCAPE_LINE_MAX);
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "guest agent error: %s", shown);
        return NULL;
    }
    if (!json_object_has_member(obj, "return")) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "guest agent reply has no \"return\"");
        return NULL;
    }
    return json_node_ref(json_object_get_member(obj, "return"));
}

static JsonObject *
ret_object(JsonNode *ret, GError **error)
{
    if (!ret || !JSON_NODE_HOLDS_OBJECT(ret)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "guest agent returned no object");
        return NULL;
    }
    return json_node_get_object(ret);
}

gboolean
vmm_agent_json_get_int(JsonNode *ret, const char *member, gint64 *value, GError **error)
{
    JsonObject *obj = ret_object(ret, error);
    JsonNode *m;

    if (!obj)
        return FALSE;
    m = json_object_get_member(obj, member);
    if (!m || !JSON_NODE_HOLDS_VALUE(m) || json_node_get_value_type(m) != G_TYPE_INT64) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "guest agent reply lacks integer \"%s\"",
                    member);
        return FALSE;
    }
    *value = json_node_get_int(m);
    return TRUE;
}

static GBytes *
b64_member(JsonObject *obj, const char *member)
{
    const char *b64 = str_member(obj, member);
    gsize len = 0;
    guchar *data;

    if (!b64 || !*b64)
        return g_bytes_new(NULL, 0);
    data = g_base64_decode(b64, &len);
    return g_bytes_new_take(data, len);
}

void
vmm_agent_exec_status_clear(VmmAgentExecStatus *st)
{
    g_clear_pointer(&st->out, g_bytes_unref);
    g_clear_pointer(&st->err, g_bytes_unref);
    memset(st, 0, sizeof(*st));
}

gboolean
vmm_agent_json_exec_status(JsonNode *ret, VmmAgentExecStatus *st, GError **error)
{
    JsonObject *obj = ret_object(ret, error);

    memset(st, 0, sizeof(*st));
    if (!obj)
        return FALSE;
    if (!json_object_has_member(obj, "exited")) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT, "guest-exec-status reply lacks \"exited\"");
        return FALSE;
    }
    st->exited = bool_member(obj, "exited", FALSE);
    if (!st->exited)
        return TRUE;
    /* Exit codes are 0-255 and signals 1-127 on Linux: anything else from the guest is 255. */
    if (json_object_has_member(obj, "signal")) {
        gint64 sig = int_member(obj, "signal", -1);
        st->exit_code = sig > 0 && sig < 128 ? 128 + (int)sig : 255;
    } else {
        gint64 code = int_member(obj, "exitcode", 0);
        st->exit_code = code >= 0 && code <= 255 ? (int)code : 255;
    }
    st->out = b64_member(obj, "out-data");
    st->err = b64_member(obj, "err-data");
    st->truncated =
        bool_member(obj, "out-truncated", FALSE) || bool_member(obj, "err-truncated", FALSE);
    return TRUE;
}

GBytes *
vmm_agent_json_file_read(JsonNode *ret, gboolean *eof, GError **error)
{
    JsonObject *obj = ret_object(ret, error);
    GBytes *data;
    gint64 count;

    if (!obj)
        return NULL;
    count = int_member(obj, "count", -1);
    data = b64_member(obj, "buf-b64");
    if (count < 0 || (gsize)count != g_bytes_get_size(data)) {
        g_bytes_unref(data);
        g_set_error(error, VMM_ERROR, VMM_ERROR_AGENT,
                    "guest-file-read reply: count does not match the data");
        return NULL;
    }
    *eof = bool_member(obj, "eof", FALSE);
    return data;
}

gboolean
vmm_agent_env_valid(const char *kv, GError **error)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;

    if (!eq || eq == kv || !(g_ascii_isalpha(kv[0]) || kv[0] == '_'))
        goto bad;
    for (const char *p = kv; p < eq; p++)
        if (!(g_ascii_isalnum(*p) || *p == '_'))
            goto bad;
    return TRUE;
bad : {
    g_autofree char *shown = g_strescape(kv ? kv : "", NULL);
    g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                "environment entry '%s' is not KEY=VALUE with KEY like [A-Za-z_][A-Za-z0-9_]*",
                shown);
    return FALSE;
}
}

char **
vmm_agent_stream_argv(const char *dir, const char *id, const char *const *argv,
                      const char *const *env, const char *workdir, const char *with_env_path,
                      gboolean unlink_files, GError **error)
{
    g_autoptr(GPtrArray) a = g_ptr_array_new_with_free_func(g_free);
    guint n_env = env ? g_strv_length((char **)env) : 0;

    if (!argv || !argv[0] || !*argv[0]) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "no command to run");
        return NULL;
    }
    for (guint i = 0; i < n_env; i++)
        if (!vmm_agent_env_valid(env[i], error))
            return NULL;
    if (workdir && *workdir != '/') {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "working directory '%s' is not absolute",
                    workdir);
        return NULL;
    }

    g_ptr_array_add(a, g_strdup("/bin/sh"));
    g_ptr_array_add(a, g_strdup("-c"));
    g_ptr_array_add(a, g_strdup(stream_script));
    g_ptr_array_add(a, g_strdup("airlock-exec")); /* $0 */
    g_ptr_array_add(a, g_strdup(dir));
    g_ptr_array_add(a, g_strdup(id));
    g_ptr_array_add(a, g_strdup(workdir ? workdir : ""));
    g_ptr_array_add(a, g_strdup(with_env_path ? with_env_path : ""));
    g_ptr_array_add(a, g_strdup(unlink_files ? "1" : "0"));
    g_ptr_array_add(a, g_strdup_printf("%u", n_env));
    for (guint i = 0; i < n_env; i++)
        g_ptr_array_add(a, g_strdup(env[i]));
    for (const char *const *p = argv; *p; p++)
        g_ptr_array_add(a, g_strdup(*p));
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&a), FALSE);
}

char **
vmm_agent_kill_argv(gint64 pid)
{
    char **a = g_new0(char *, 6);

    a[0] = g_strdup("/bin/sh");
    a[1] = g_strdup("-c");
    a[2] = g_strdup(kill_script);
    a[3] = g_strdup("airlock-kill");
    a[4] = g_strdup_printf("%" G_GINT64_FORMAT, pid);
    return a;
}
