/* seed.h: the NoCloud seed (meta-data, user-data, network-config) -> ISO bytes (pure). */
#pragma once

#include <glib.h>

#include "secrets.h"

/* Where the guest finds what airlock put there. */
#define VMM_SEED_SECRETS_PATH "/run/airlock/secrets.env"
#define VMM_SEED_ENV_PATH "/run/airlock/env"
#define VMM_SEED_WITH_ENV "/usr/local/sbin/airlock-with-env"

typedef struct {
    const char *instance_id; /* fresh per create, e.g. "airlock-<uuid>" */
    const char *hostname;    /* the sandbox name */
    const char *mac;         /* "52:54:00:xx:xx:xx"; NULL when there is no NIC */
    const char *address;     /* "10.77.3.2/24"; NULL when there is no NIC */
    const char *nameserver;  /* "10.77.3.1": where the guest sends DNS questions, or NULL */
    const char *const *env;  /* NULL-terminated "K=V" list (not secret), or NULL */
    const VmmSecrets *secrets; /* may be NULL or empty */
} VmmSeedConfig;

/* meta-data text (YAML). Caller frees. */
char *vmm_seed_meta_data(const VmmSeedConfig *cfg);

/*
 * network-config v2 text: the NIC matched by MAC, renamed eth0, static
 * address, no gateway, @nameserver as its only DNS server (if set). With no NIC: "version: 2\nethernets: {}\n".
 * Caller frees.
 */
char *vmm_seed_network_config(const VmmSeedConfig *cfg);

/*
 * user-data (#cloud-config). Secrets only ever in write_files, into
 * VMM_SEED_SECRETS_PATH (0600, root, tmpfs), each value shell-single-quoted
 * as KEY='...'; plain env into VMM_SEED_ENV_PATH; VMM_SEED_WITH_ENV is a
 * small /bin/sh wrapper that exports both files' variables and execs its
 * arguments (airlock exec runs commands through it); a profile.d hook does
 * the same for login shells. Never runcmd with a secret. Caller frees
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
/* Zeroes the bytes of @iso (it must be the only reference) and unrefs it. */
void vmm_seed_bytes_wipe_free(GBytes *iso);
