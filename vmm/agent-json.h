/* agent-json.h: guest agent commands as JSON, reply parsing, the exec wrapper (pure). */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Where streamed output goes in the guest (a tmpfs; 0700, root). */
#define VMM_AGENT_EXEC_DIR "/run/airlock/exec"

/*
 * {"execute": @execute, "arguments": @arguments} as text. @arguments (an
 * object node, or NULL for none) is consumed. Caller frees.
 */
char *vmm_agent_json_command(const char *execute, JsonNode *arguments);

/*
 * A guest-exec command running @path with @args (the arguments after
 * argv[0], NULL-terminated, may be NULL); @env replaces the environment when
 * not NULL; @input (may be NULL) becomes stdin. Caller frees.
 */
char *vmm_agent_json_exec(const char *path, const char *const *args, const char *const *env,
                          GBytes *input, gboolean capture_output);

/*
 * Parses a reply ({"return": ...}) and returns its "return" member (a new
 * reference; caller unrefs). AGENT error when the text is not such a reply.
 */
JsonNode *vmm_agent_json_return(const char *reply, GError **error);

/* Reads integer member @member of object @ret; AGENT error when missing. */
gboolean vmm_agent_json_get_int(JsonNode *ret, const char *member, gint64 *value, GError **error);

/* What one guest-exec-status reply says. */
typedef struct {
    gboolean exited;
    int exit_code; /* exitcode, or 128 + signal */
    GBytes *out;   /* captured stdout (empty when none), only once exited */
    GBytes *err;
    gboolean truncated; /* the agent cut the captured output at 16 MB */
} VmmAgentExecStatus;

/* Frees what @st holds (not @st itself). */
void vmm_agent_exec_status_clear(VmmAgentExecStatus *st);

/* Fills @st from a guest-exec-status "return" object. */
gboolean vmm_agent_json_exec_status(JsonNode *ret, VmmAgentExecStatus *st, GError **error);

/*
 * Decodes a guest-file-read "return" object: the bytes read (caller unrefs)
 * and whether the agent hit end of file.
 */
GBytes *vmm_agent_json_file_read(JsonNode *ret, gboolean *eof, GError **error);

/* TRUE when @kv is "KEY=VALUE" with KEY like a shell variable name; INVALID error otherwise. */
gboolean vmm_agent_env_valid(const char *kv, GError **error);

/*
 * The argv (starting with "/bin/sh") of the small fixed script that runs a
 * streamed command in the guest: it creates @dir (0700) if needed, appends
 * stdout and stderr to @dir/@id.out and .err, removes both names when
 * @unlink_files (the caller opened the files beforehand and reads through its
 * handles), changes to @workdir (may be NULL), puts the command in its own
 * session and process group (pgid = the pid the agent reports) and runs it
 * through @with_env_path when that is not NULL and executable in the guest.
 * @env entries ("K=V") are exported last so they win. Nothing the caller
 * gives is interpolated into the script: it all travels as positional
 * parameters. Setup failures exit 125 or print on the script's own stderr
 * (the agent's captured output), never in the files. Caller frees with
 * g_strfreev.
 */
char **vmm_agent_stream_argv(const char *dir, const char *id, const char *const *argv,
                             const char *const *env, const char *workdir, const char *with_env_path,
                             gboolean unlink_files, GError **error);

/* The argv of a script that SIGKILLs process group @pid (or just @pid). Caller frees. */
char **vmm_agent_kill_argv(gint64 pid);

/*
 * Whether @text is exactly one valid JSON object (RFC 8259, valid UTF-8,
 * bounded nesting, numbers that fit) with nothing but whitespace around it.
 * json-glib leaks on several of its error paths: whatever a guest or a client
 * sends is checked with this before json-glib sees it.
 */
gboolean vmm_json_is_one_object(const char *text);
