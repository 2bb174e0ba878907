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

/* Limits on [cloud-init] parts: bytes per part, parts per spec (docs/spec.md). */
#define VMM_SPEC_PART_MAX (64 * 1024)
#define VMM_SPEC_PARTS_MAX 16

/* One extra #cloud-config document from [cloud-init] parts, loaded and checked. */
typedef struct {
    char *path;   /* as resolved (for errors: PATH:LINE) */
    char *text;   /* the document, NUL-free UTF-8 starting with "#cloud-config" */
    char *sha256; /* hex of text */
} VmmCloudPart;

void vmm_cloud_part_free(VmmCloudPart *part);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmCloudPart, vmm_cloud_part_free)

/*
 * Checks one extra cloud-config document (@path names it in errors as PATH:LINE):
 * size, NUL, UTF-8, the "#cloud-config" header, YAML-ish shape (top level is a
 * mapping, no tabs in indentation, no anchors/aliases/tags, one document), no key
 * airlock owns (merge_how, merge_type, hostname, fqdn, preserve_hostname,
 * manage_resolv_conf, resolv_conf), and no `path:` under /run/airlock,
 * /etc/profile.d/airlock.sh, /usr/local/sbin/airlock-with-env and -scrub-seed,
 * /etc/resolv.conf, /run/systemd/resolve (also spelled with /var/run, //, . or ..).
 */
gboolean vmm_cloud_part_check(const char *path, const char *text, gsize len, GError **error);

/* Reads and checks @path (a regular file). Caller frees. */
VmmCloudPart *vmm_cloud_part_load(const char *path, GError **error);

typedef struct {
    char *image;        /* image name */
    char *image_digest; /* pin "sha256:<64 hex>" from "image@sha256:...", or NULL */
    guint cpus;
    guint memory_mib;
    guint disk_gib; /* 0: the image's size */
    VmmNetMode net_mode;
    gint64 ttl_s;           /* 0: none */
    GPtrArray *labels;      /* "K=V" */
    GPtrArray *env;         /* "K=V", not secret */
    char *secrets_file;     /* or NULL */
    char **allow;           /* mode allow: NULL-terminated "HOST:PORT" list, or NULL */
    char **deny;            /* [secrets] deny regexes; NULL: the defaults; empty: none */
    GPtrArray *parts;       /* VmmCloudPart*: [cloud-init] parts, in merge order */
    guint64 max_copy_bytes; /* cap on a file copied out of the guest; 0: the default (1 GiB) */
    struct {
        gboolean enabled;   /* [model-gateway]: calls model APIs through the host's gateway */
        guint64 max_calls;  /* 0: the gateway configuration's limit */
        guint64 max_tokens; /* 0: the gateway configuration's limit */
        guint max_concurrent;
        char **models; /* NULL: the configuration's list */
    } gateway;
} VmmSpec;

/* A spec with the defaults. */
VmmSpec *vmm_spec_new(void);
void vmm_spec_free(VmmSpec *spec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmmSpec, vmm_spec_free)

/*
 * Reads a spec file into @spec: [sandbox] image (NAME or NAME@sha256:HEX) cpus
 * memory disk ttl labels max-copy-size, [network] mode allow, [secrets] file deny, [env] K=V,
 * [cloud-init] parts (each loaded and checked, vmm_cloud_part_check), [model-gateway]
 * enable max-calls max-tokens max-concurrent models (docs/gateway.md). Unknown
 * groups or keys, bad values and missing files are INVALID errors that start with
 * "FILE:LINE:" and say what is allowed. Relative paths are resolved against the
 * spec file's directory. List values are split at ';' ("\;" is a literal one) and
 * read verbatim (no key-file escapes).
 */
gboolean vmm_spec_load_file(VmmSpec *spec, const char *path, GError **error);

/*
 * Sets spec->image (and spec->image_digest) from "NAME" or "NAME@sha256:<64 hex>".
 * The digest is kept in lower case.
 */
gboolean vmm_spec_set_image(VmmSpec *spec, const char *image, GError **error);

/* Parses "90s", "30m", "2h", "1d" or plain seconds. */
gboolean vmm_spec_parse_duration(const char *str, gint64 *seconds, GError **error);

/*
 * Parses a size: bytes, or a number with K, M, G or T (powers of 1024;
 * "100M", "1GiB" and "1g" all work). Zero is refused.
 */
gboolean vmm_spec_parse_size(const char *str, guint64 *bytes, GError **error);

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

/*
 * sha256 (hex) of the canonical form of the effective spec: image and pinned
 * digest, sizes, network mode and allow list, ttl, labels, env, the cloud-init
 * parts' sha256s (in order) and, with vmm_spec_hash_full(), the secret NAMES
 * (never values). Caller frees.
 */
char *vmm_spec_hash(const VmmSpec *spec);
char *vmm_spec_hash_full(const VmmSpec *spec, const char *const *secret_names);
