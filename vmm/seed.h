/* seed.h: the NoCloud seed (meta-data, user-data, network-config) -> ISO bytes (pure). */
#pragma once

#include <glib.h>

#include "secrets.h"
#include "spec.h"

/* Where the guest finds what airlock put there. */
#define VMM_SEED_SECRETS_PATH "/run/airlock/secrets.env"
#define VMM_SEED_ENV_PATH "/run/airlock/env"
#define VMM_SEED_WITH_ENV "/usr/local/sbin/airlock-with-env"
/*
 * Run through the agent once cloud-init is done (before the clean state): overwrites
 * cloud-init's on-disk copies of the user-data (user-data.txt*, cloud-config.txt, the
 * user-data in obj.pkl), which hold the secrets in base64, so the disk, the clean
 * state and the evidence archive do not.
 */
#define VMM_SEED_SCRUB "/usr/local/sbin/airlock-scrub-seed"

typedef struct {
    const char *instance_id;   /* fresh per create, e.g. "airlock-<uuid>" */
    const char *hostname;      /* the sandbox name */
    const char *mac;           /* "52:54:00:xx:xx:xx"; NULL when there is no NIC */
    const char *address;       /* "10.77.3.2/24"; NULL when there is no NIC */
    const char *nameserver;    /* "10.77.3.1": where the guest sends DNS questions, or NULL */
    const char *const *env;    /* NULL-terminated "K=V" list (not secret), or NULL */
    const VmmSecrets *secrets; /* may be NULL or empty */
    const GPtrArray *parts;    /* VmmCloudPart*: extra #cloud-config documents, or NULL */
    /* airlock-guest for an image without it (written and started by cloud-init), or NULL */
    const guchar *guest_helper;
    gsize guest_helper_len;
} VmmSeedConfig;

/* Where the image (or the seed) puts airlock-guest, and its systemd unit. */
#define VMM_SEED_GUEST_PATH "/usr/local/sbin/airlock-guest"
#define VMM_SEED_GUEST_UNIT "/etc/systemd/system/airlock-guest.service"

/* airlock-guest as built with airlock (vmm/guest.mk), for vmm_seed_guest_helper. */
const guchar *vmm_seed_guest_helper(gsize *len);

/* How each extra part merges into airlock's: lists appended, airlock's keys kept. */
#define VMM_SEED_MERGE_TYPE "list(append)+dict(no_replace,recurse_list)+str()"

/*
 * Checks extra cloud-config parts again (vmm_cloud_part_check) and that none
 * holds the value of any secret (errors name PART:LINE and the key, never the value).
 */
gboolean vmm_seed_check_parts(const GPtrArray *parts, const VmmSecrets *secrets, GError **error);

/* meta-data text (YAML). Caller frees. */
char *vmm_seed_meta_data(const VmmSeedConfig *cfg);

/*
 * network-config v2 text: the NIC matched by MAC, renamed eth0, static
 * address, no gateway, @nameserver as its only DNS server (if set). With no NIC: "version:
 * 2\nethernets: {}\n". Caller frees.
 */
char *vmm_seed_network_config(const VmmSeedConfig *cfg);

/*
 * user-data (#cloud-config). Secrets only ever in write_files, into
 * VMM_SEED_SECRETS_PATH (0600, root, tmpfs), each value shell-single-quoted
 * as KEY='...'; plain env into VMM_SEED_ENV_PATH; VMM_SEED_WITH_ENV is a
 * small /bin/sh wrapper that exports both files' variables and execs its
 * arguments (airlock exec runs commands through it); a profile.d hook does
 * the same for login shells. Never runcmd with a secret. With extra parts,
 * a MIME multipart/mixed of text/cloud-config parts (all base64): airlock's first,
 * then each part with Merge-Type VMM_SEED_MERGE_TYPE. Caller frees
 * (the returned text holds secret values: wipe it with vmm_seed_wipe_free).
 */
char *vmm_seed_user_data(const VmmSeedConfig *cfg);

/*
 * Builds the cidata ISO (volume label "cidata", Joliet + Rock Ridge) fully in
 * memory with libisofs. Caller frees the bytes with vmm_seed_bytes_wipe_free.
 */
GBytes *vmm_seed_build(const VmmSeedConfig *cfg, GError **error);

/*
 * Writes @iso to @path with O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, mode 0600.
 */
gboolean vmm_seed_write(const char *path, GBytes *iso, GError **error);

/* Zeroes a string's bytes and frees it. */
void vmm_seed_wipe_free(char *text);

/*
 * The contents the seed writes to VMM_SEED_SECRETS_PATH and VMM_SEED_ENV_PATH
 * (KEY='value' lines), base64. Warm create hands them to a restored guest.
 * Caller frees (secrets: with vmm_seed_wipe_free).
 */
char *vmm_seed_secrets_b64(const VmmSecrets *secrets);
char *vmm_seed_env_b64(const char *const *env);
/* Zeroes the bytes of @iso (it must be the only reference) and unrefs it. */
void vmm_seed_bytes_wipe_free(GBytes *iso);
