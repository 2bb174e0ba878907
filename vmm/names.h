/* names.h: sandbox name rules, libvirt object names and state paths (pure). */
#pragma once

#include <glib.h>

#define VMM_NAME_MAX 32
#define VMM_METADATA_NS "urn:airlock:sandbox:1"
#define VMM_METADATA_PREFIX "airlock"

/*
 * Checks @name against ^[a-z][a-z0-9-]{0,31}$. @what names the thing in
 * the error ("sandbox name", "tag"). Nothing else reaches XML, paths or
 * shell commands.
 */
gboolean vmm_name_validate(const char *name, const char *what, GError **error);

/* "airlock-<name>": the domain's and the network's libvirt name. Caller frees. */
char *vmm_name_object(const char *name);

/* If @object is "airlock-<valid name>", returns the sandbox name (caller frees), else NULL. */
char *vmm_name_from_object(const char *object);

/* "al" + 8 hex digits of sha256(name): fits IFNAMSIZ. Caller frees. */
char *vmm_name_bridge(const char *name);

/*
 * The state directory: $AIRLOCK_STATE_DIR, else $XDG_DATA_HOME/airlock for a
 * session URI, else /var/lib/airlock. Caller frees.
 */
char *vmm_state_dir(const char *uri);

/* <state>/images/<image>. Caller frees. */
char *vmm_path_image_dir(const char *state_dir, const char *image);
/* <state>/sandboxes/<name>. Caller frees. */
char *vmm_path_sandbox_dir(const char *state_dir, const char *name);
