/* batch-output.h: a batch's output directory, written without following links, and its
 * log files, redacted as they are written. */
#pragma once

#include <glib.h>

#include "batch.h"
#include "secrets.h"

/* Mode of every file and directory a batch writes: the owner's and its group's to read. */
#define VMM_BATCH_OUTPUT_FILE_MODE 0640
#define VMM_BATCH_OUTPUT_DIR_MODE 0750

typedef struct _VmmBatchOutput VmmBatchOutput;

/*
 * Opens the output directory @path (created 0750 with missing parents) and
 * its logs/ and artifacts/ (created 0750). Each of them must be a real
 * directory (not a symlink), owned by the caller and writable by nobody
 * else; anything else is refused (INVALID, the error says what to do),
 * since another user could plant links in it. Everything afterwards goes
 * through the directories' descriptors. Caller frees.
 */
VmmBatchOutput *vmm_batch_output_open(const char *path, GError **error);
void vmm_batch_output_free(VmmBatchOutput *out);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmBatchOutput, vmm_batch_output_free)

/*
 * Creates logs/@file afresh: whatever had that name (an old log, a link) is
 * removed, then the file is made with O_EXCL|O_NOFOLLOW, mode 0640. Returns
 * the descriptor (caller closes) or -1 with an error.
 */
int vmm_batch_output_create_log(VmmBatchOutput *out, const char *file, GError **error);

/* Writes @text to @file in the output directory: temporary name, 0640, then renamed. */
gboolean vmm_batch_output_write(VmmBatchOutput *out, const char *file, const char *text,
                                GError **error);

/*
 * The directory artifacts/@job (created 0750, checked like the others).
 * Returns a descriptor (caller closes) or -1 with an error.
 */
int vmm_batch_output_artifacts_dir(VmmBatchOutput *out, const char *job, GError **error);

/* --- logs, redacted as written ------------------------------------------------------------- */

typedef struct _VmmBatchLog VmmBatchLog;

/*
 * A stream of job output going to @fd (taken; -1 for none) and to @tail
 * (borrowed; may be NULL) with every value of @secrets (borrowed; may be
 * NULL) of 4 bytes or more replaced by "***" before it reaches either: bytes
 * that may be the start of a value are held back until the next write shows
 * whether they are. Caller ends it with vmm_batch_log_close().
 */
VmmBatchLog *vmm_batch_log_new(int fd, const VmmSecrets *secrets, VmmBatchTail *tail);

/* Passes @len bytes of output on, redacted. */
void vmm_batch_log_write(VmmBatchLog *log, const char *data, gsize len);

/* Passes on what was held back, closes the descriptor and frees. NULL is fine. */
void vmm_batch_log_close(VmmBatchLog *log);
