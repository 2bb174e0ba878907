/* archive.h: evidence kept at teardown: archive/<name>-<timestamp>/ with a sha256 manifest. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>
#include <libvirt/libvirt.h>

#include "lookup.h"

#define VMM_ARCHIVE_DEFAULT_KEEP 50
#define VMM_ARCHIVE_DEFAULT_MAX_AGE_S (30 * 86400)
#define VMM_ARCHIVE_DEFAULT_MAX_MIB 4096 /* one archive: what a guest wrote is capped */

typedef struct {
    char *id;       /* "<name>-<YYYYmmddTHHMMSSZ>" */
    char *name;     /* sandbox name */
    char *archived; /* ISO 8601 */
    char *dir;
    guint64 bytes;
} VmmArchiveInfo;

void vmm_archive_info_free(VmmArchiveInfo *info);
/* @info as JSON: id, name, archived, bytes, dir. Caller frees. */
JsonNode *vmm_archive_info_to_json(const VmmArchiveInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmArchiveInfo, vmm_archive_info_free)

/*
 * Copies what sandbox @name leaves behind into a new archive directory: its
 * disk as a qcow2 holding only its own changes over the base image (written
 * by `qemu-img convert -B`), console.log and its event/DNS logs, with
 * manifest.json (metadata, and sha256 + size of every file). The guest's
 * filesystems are synced through the agent first when it runs, then the
 * domain is stopped. *@id (may be NULL) gets the archive id. Caller frees.
 */
gboolean vmm_archive_capture(VmmContext *ctx, virDomainPtr dom, const char *name, char **id,
                             GError **error);

/* Archives, oldest first. Caller frees. */
GPtrArray *vmm_archive_list(const char *state_dir, GError **error);

/* The manifest.json text of archive @id. NOT_FOUND for an unknown id. Caller frees. */
char *vmm_archive_manifest(const char *state_dir, const char *id, GError **error);

/* Removes archive @id. */
gboolean vmm_archive_remove(const char *state_dir, const char *id, GError **error);

/*
 * Keeps at most @keep archives and none older than @max_age_s (0: no limit).
 * The retention comes from $AIRLOCK_ARCHIVE_KEEP and $AIRLOCK_ARCHIVE_MAX_AGE
 * (e.g. 30d) through vmm_archive_prune_default().
 */
gboolean vmm_archive_prune(const char *state_dir, guint keep, gint64 max_age_s, GError **error);
gboolean vmm_archive_prune_default(const char *state_dir, GError **error);
