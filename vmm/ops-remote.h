/*
 * ops-remote.h: the pure parts of the airlockd backend (vmm_ops_open_remote in
 * ops.h): request bodies built from the operations' types, and the API's
 * answers turned back into them. tests/unit/test-remote.c drives these.
 */
#pragma once

#include "ops.h"

/*
 * The GError (VMM_ERROR) for an answer with HTTP @status and body @body
 * ({"error":{"code","message"}}): the code from vmm_error_code_from_string,
 * the daemon's own codes mapped onto the nearest (quota, forbidden and
 * unauthorized: HOST; too-large: INVALID; unavailable: CONNECT), else from
 * the status. The message is the daemon's, made one printable line.
 */
GError *vmm_remote_error_from_body(guint status, const char *body, gsize len);

/*
 * The POST /v1/sandboxes body for @req (secret values included: the caller
 * wipes it). INVALID when the spec has what the API does not carry
 * ([cloud-init] parts are host files airlockd does not read). Caller frees.
 */
char *vmm_remote_create_body(const VmmCreateRequest *req, gsize *len, GError **error);

/*
 * The exec request for @spec (argv, env, workdir, user, timeout; stdin when not
 * @websocket, else tty and the terminal size of @spec->stdin_fd). Caller frees.
 */
char *vmm_remote_exec_body(const VmmAgentExec *spec, gboolean websocket, gsize *len);

/*
 * One NDJSON line of an exec answer: output goes to @spec's callbacks;
 * {"exit_code"} sets *@exit_code and *@done; an error frame sets *@done and
 * @error. FALSE for an error frame or a line that is not a frame.
 */
gboolean vmm_remote_exec_frame(const char *line, gsize len, const VmmAgentExec *spec,
                               gboolean *done, int *exit_code, GError **error);
