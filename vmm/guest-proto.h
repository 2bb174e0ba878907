/*
 * guest-proto.h: the host half of the airlock-guest protocol (docs/guest-protocol.md),
 * pure: frames and payloads to and from bytes. Every parser takes guest bytes: it checks
 * each length against what it holds and the protocol's bounds, and its errors are one
 * escaped line (INVALID for a malformed frame).
 */
#pragma once

#include "../guest/protocol.h"

#include <glib.h>

/* A parsed frame; @data points into the buffer it was parsed from. */
typedef struct {
    guint16 type;
    guint32 sid;
    const guint8 *data;
    guint32 len;
} VmmGuestFrame;

/*
 * Parses the frame at the start of @buf (@len bytes). Returns the bytes it takes (header
 * and payload) with *@f filled, 0 when @buf holds only part of a frame, or -1 (INVALID
 * error) when @buf does not start with a frame (a length above AG_FRAME_MAX, flags set).
 */
gssize vmm_guest_frame_parse(const guint8 *buf, gsize len, VmmGuestFrame *f, GError **error);

/* Appends one frame to @out (@len at most AG_FRAME_MAX: the caller's bound). */
void vmm_guest_frame_append(GByteArray *out, guint16 type, guint32 sid, const void *data,
                            gsize len);

/* The host's HELLO with @nonce (AG_NONCE_LEN bytes), session 0. */
void vmm_guest_hello_append(GByteArray *out, const guint8 *nonce);

/*
 * Checks the guest's HELLO answer against @nonce: *@version gets the version it chose,
 * *@name (may be NULL; escaped, caller frees) its name. FALSE (INVALID) for anything else.
 */
gboolean vmm_guest_hello_check(const VmmGuestFrame *f, const guint8 *nonce, guint *version,
                               char **name, GError **error);

/* What an EXEC carries. */
typedef struct {
    const char *const *argv;        /* NULL or empty: the user's login shell (pty) */
    const char *const *env;         /* "K=V" */
    const char *cwd, *user, *group; /* or NULL */
    guint32 flags;                  /* AG_EXEC_* */
    guint32 timeout_ms;
    guint16 rows, cols;
} VmmGuestExecRequest;

/* Appends an EXEC frame; INVALID when a string holds a NUL... or it all exceeds a frame. */
gboolean vmm_guest_exec_append(GByteArray *out, guint32 sid, const VmmGuestExecRequest *req,
                               GError **error);

/* EXIT: *@status 0-255, *@timed_out. */
gboolean vmm_guest_exit_parse(const VmmGuestFrame *f, int *status, gboolean *timed_out,
                              GError **error);

/* A u32 payload (WINDOW, STARTED). */
gboolean vmm_guest_u32_parse(const VmmGuestFrame *f, guint32 *value, GError **error);

/* DONE: bytes written and entries. */
gboolean vmm_guest_done_parse(const VmmGuestFrame *f, guint64 *bytes, guint32 *entries,
                              GError **error);

/* ERROR: *@code (AG_E_*; AG_E_INTERNAL for an unknown one) and the message, escaped. */
char *vmm_guest_error_parse(const VmmGuestFrame *f, guint32 *code);

/* One entry of a PUT/GET stream. */
typedef struct {
    guint8 kind;  /* AG_KIND_* */
    guint32 mode; /* permission bits (0777 at most) */
    guint64 size; /* files: what the sender announced */
    char *name;   /* "" (the root) or a relative name (vmm_guest_name_valid) */
    char *target; /* symlinks: where it points (not checked: never followed) */
} VmmGuestEntry;

void vmm_guest_entry_clear(VmmGuestEntry *e);

/* ENTRY: INVALID for an unknown kind, a bad name, a NUL, a target on a non-symlink. */
gboolean vmm_guest_entry_parse(const VmmGuestFrame *f, VmmGuestEntry *e, GError **error);

/* Appends an ENTRY frame (@name valid, @target "" unless a symlink). */
void vmm_guest_entry_append(GByteArray *out, guint32 sid, guint8 kind, guint32 mode, guint64 size,
                            const char *name, const char *target);

/*
 * A name inside a tree: "" (the root) or relative components joined by '/', none empty,
 * "." or "..", at most AG_PATH_MAX bytes, no NUL.
 */
gboolean vmm_guest_name_valid(const char *name, gsize len);

/* Appends a PUT or GET (@type) of @path with @flags; INVALID for a path it cannot carry. */
gboolean vmm_guest_path_append(GByteArray *out, guint16 type, guint32 sid, guint32 flags,
                               const char *path, GError **error);
