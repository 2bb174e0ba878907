/* spec.h: the sandbox spec (GKeyFile file + CLI overrides): parse, validate, hash (pure). */
#pragma once

#include <glib.h>

typedef enum {
    VMM_NET_MODE_NONE,
    VMM_NET_MODE_ISOLATED,
    VMM_NET_MODE_ALLOW,
    VMM_NET_MODE_LAST
} VmmNetMode;

const char *vmm_net_mode_to_string(VmmNetMode mode);
gboolean vmm_net_mode_from_string(const char *str, VmmNetMode *mode, GError **error);

#define VMM_SPEC_DEFAULT_IMAGE "debian-12"
#define VMM_SPEC_DEFAULT_CPUS 1
#define VMM_SPEC_DEFAULT_MEMORY 512
#define VMM_SPEC_MIN_MEMORY 128

typedef struct {
    char *image;        /* image name */
    guint cpus;
    guint memory_mib;
    guint disk_gib;     /* 0: the image's size */
    VmmNetMode net_mode;
    gint64 ttl_s;       /* 0: none */
    GPtrArray *labels;  /* "K=V" */
    GPtrArray *env;     /* "K=V", not secret */
    char *secrets_file; /* or NULL */
    char **allow;       /* mode allow: NULL-terminated "HOST:PORT" list, or NULL */
} VmmSpec;

/* A spec with the defaults. */
VmmSpec *vmm_spec_new(void);
void vmm_spec_free(VmmSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmSpec, vmm_spec_free)

/*
 * Reads a spec file into @spec ([sandbox] image cpus memory disk ttl labels,
 * [network] mode allow (HOST:PORT;...), [secrets] file, [env] K=V). Unknown groups or keys and bad
 * values are INVALID errors naming FILE and the key. A relative secrets
 * file is resolved against the spec file's directory.
 */
gboolean vmm_spec_load_file(VmmSpec *spec, const char *path, GError **error);

/* Parses "90s", "30m", "2h", "1d" or plain seconds. */
gboolean vmm_spec_parse_duration(const char *str, gint64 *seconds, GError **error);

/* Adds "K=V" to @list after checking K (@what names it in errors: "label", "env"). */
gboolean vmm_spec_add_kv(GPtrArray *list, const char *kv, const char *what, GError **error);

/*
 * Checks one allow-list entry "HOST:PORT": HOST is "host" (the host side of
 * the sandbox's own bridge) or an IPv4 address, PORT 1-65535. Fills @host
 * (caller frees) and @port when not NULL.
 */
gboolean vmm_spec_parse_allow(const char *entry, char **host, guint *port, GError **error);

/* Checks @entry and appends it to spec->allow (duplicates are kept once). */
gboolean vmm_spec_add_allow(VmmSpec *spec, const char *entry, GError **error);

/* Checks ranges: cpus 1..64, memory >= 128 MiB, disk <= 1024 GiB, names valid. */
gboolean vmm_spec_validate(const VmmSpec *spec, GError **error);

/* sha256 (hex) of the canonical form of the effective spec. Caller frees. */
char *vmm_spec_hash(const VmmSpec *spec);
