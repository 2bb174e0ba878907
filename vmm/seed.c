/*
 * seed.c: the NoCloud seed (meta-data, user-data, network-config) -> cidata ISO bytes.
 * Pure: no libvirt. The fixed text lives in the cloud-init/ templates, compiled in as a
 * GResource; only validated values or base64 reach a template, so no value needs YAML
 * escaping.
 */
#include <config.h>

#include "seed.h"
#include "error.h"
#include "names.h"
#include "vmm/seed-resources.h" /* generated in the build tree */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIBISOFS_WITHOUT_LIBBURN yes
#include <libisofs/libisofs.h>

#define RESOURCE_PREFIX "/org/airlock/cloud-init/"
#define ISO_BLOCK 2048
/* A seed is ~72 KB; refuse to buffer anything absurd. */
#define ISO_MAX (64 * 1024 * 1024)
#define INSTANCE_ID_MAX 128

void
vmm_seed_wipe_free(char *text)
{
    if (text) {
        explicit_bzero(text, strlen(text));
        g_free(text);
    }
}

void
vmm_seed_bytes_wipe_free(GBytes *iso)
{
    gsize size = 0;
    gpointer data;

    if (!iso)
        return;
    /* Steals the buffer when we hold the only reference (else it is a copy we wipe). */
    data = g_bytes_unref_to_data(iso, &size);
    if (data) {
        explicit_bzero(data, size);
        g_free(data);
    }
}

/* ---- validation: everything that is inserted into a template unencoded ---- */

static gboolean
valid_mac(const char *mac)
{
    /* ^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$ */
    if (strlen(mac) != 17)
        return FALSE;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2) {
            if (mac[i] != ':')
                return FALSE;
        } else if (!g_ascii_isxdigit(mac[i])) {
            return FALSE;
        }
    }
    return TRUE;
}

/* Dotted quad (no leading zeros: some parsers read them as octal) + "/1".."/32". */
static gboolean
valid_address(const char *addr)
{
    const char *p = addr;

    for (int octet = 0; octet < 4; octet++) {
        int v = 0, digits = 0;
        while (g_ascii_isdigit(*p) && digits < 4) {
            v = v * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0 || digits > 3 || v > 255 || (digits > 1 && p[-digits] == '0'))
            return FALSE;
        if (*p++ != (octet < 3 ? '.' : '/'))
            return FALSE;
    }
    if (!g_ascii_isdigit(p[0]) || p[0] == '0')
        return FALSE;
    if (p[1] == '\0')
        return TRUE;
    return g_ascii_isdigit(p[1]) && p[2] == '\0' && (p[0] - '0') * 10 + (p[1] - '0') <= 32;
}

static gboolean
valid_instance_id(const char *id)
{
    size_t len = strlen(id);

    if (len == 0 || len > INSTANCE_ID_MAX)
        return FALSE;
    for (size_t i = 0; i < len; i++)
        if (!g_ascii_islower(id[i]) && !g_ascii_isdigit(id[i]) && id[i] != '-')
            return FALSE;
    return TRUE;
}

static gboolean
seed_validate(const VmmSeedConfig *cfg, GError **error)
{
    if (!cfg->instance_id || !valid_instance_id(cfg->instance_id)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "seed instance-id is invalid (use 1-%d of a-z, 0-9 and '-')", INSTANCE_ID_MAX);
        return FALSE;
    }
    if (!vmm_name_validate(cfg->hostname, "hostname", error))
        return FALSE;
    if (!cfg->mac != !cfg->address) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "seed needs both a MAC and an address for its NIC, or neither");
        return FALSE;
    }
    if (cfg->mac && !valid_mac(cfg->mac)) {
        g_autofree char *shown = g_strescape(cfg->mac, NULL);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "MAC address '%.40s' is invalid (expected xx:xx:xx:xx:xx:xx)", shown);
        return FALSE;
    }
    if (cfg->nameserver) {
        g_autofree char *with_prefix = g_strdup_printf("%s/32", cfg->nameserver);
        if (!cfg->mac || !valid_address(with_prefix)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "nameserver is invalid (expected an IPv4 address, and a NIC)");
            return FALSE;
        }
    }
    if (cfg->address && !valid_address(cfg->address)) {
        g_autofree char *shown = g_strescape(cfg->address, NULL);
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                    "address '%.40s' is invalid (expected an IPv4 address/prefix like "
                    "10.77.3.2/24)",
                    shown);
        return FALSE;
    }
    for (const char *const *e = cfg->env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        g_autofree char *key = eq ? g_strndup(*e, (gsize)(eq - *e)) : NULL;
        if (!key || !vmm_secrets_valid_key(key)) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "environment entry %u is not KEY=VALUE with KEY of A-Z, a-z, 0-9, _",
                        (guint)(e - cfg->env) + 1);
            return FALSE;
        }
    }
    for (guint i = 0; i < vmm_secrets_count(cfg->secrets); i++) {
        if (!vmm_secrets_valid_key(vmm_secrets_key(cfg->secrets, i))) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "secret %u has an invalid name",
                        i + 1);
            return FALSE;
        }
    }
    return vmm_seed_check_parts(cfg->parts, cfg->secrets, error);
}

gboolean
vmm_seed_check_parts(const GPtrArray *parts, const VmmSecrets *secrets, GError **error)
{
    for (guint i = 0; parts && i < parts->len; i++) {
        const VmmCloudPart *part = g_ptr_array_index(parts, i);
        if (!part || !part->text || !part->path ||
            !vmm_cloud_part_check(part->path, part->text, strlen(part->text), error) ||
            !vmm_secrets_check_absent(secrets, part->text, part->path, error))
            return FALSE;
    }
    return TRUE;
}

/* ---- templates ---- */

typedef struct {
    const char *name;  /* placeholder without the @s */
    const char *value; /* validated or base64 text */
} Subst;

static GBytes *
template_get(const char *name)
{
    g_autofree char *path = g_strconcat(RESOURCE_PREFIX, name, NULL);
    g_autoptr(GError) err = NULL;
    static gsize registered;
    GBytes *b;

    /* --manual-register: no constructor in a static library, register on first use. */
    if (g_once_init_enter(&registered)) {
        airlock_seed_register_resource();
        g_once_init_leave(&registered, 1);
    }
    b = g_resource_lookup_data(airlock_seed_get_resource(), path, G_RESOURCE_LOOKUP_FLAGS_NONE,
                               &err);

    /* The templates are compiled in: a missing one is a build bug, not a runtime error. */
    if (!b)
        g_error("seed template %s missing: %s", path, err->message);
    return b;
}

static const char *
subst_find(const Subst *subst, const char *name, size_t len)
{
    for (; subst->name; subst++)
        if (strlen(subst->name) == len && memcmp(subst->name, name, len) == 0)
            return subst->value;
    return NULL;
}

/*
 * Replaces each @NAME@ in template @name. Two passes so that the result is one
 * allocation of its final size: a growing buffer would leave unwiped copies of
 * secrets (even base64 ones) in freed memory. Caller frees (wipe: it may hold secrets).
 */
static char *
template_render(const char *name, const Subst *subst)
{
    g_autoptr(GBytes) tb = template_get(name);
    const char *tmpl = g_bytes_get_data(tb, NULL);
    char *out = NULL, *o = NULL;

    for (int pass = 0; pass < 2; pass++) {
        size_t total = 0;
        const char *p = tmpl;

        while (*p) {
            const char *at = strchr(p, '@'), *end, *value;
            size_t n = at ? (size_t)(at - p) : strlen(p);

            if (pass) {
                memcpy(o, p, n);
                o += n;
            }
            total += n;
            if (!at)
                break;
            /* A placeholder is @[A-Z0-9_]+@; any other '@' (as in "$@") is text. */
            end = at + 1 + strspn(at + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
            if (end == at + 1 || *end != '@') {
                if (pass)
                    *o++ = '@';
                total++;
                p = at + 1;
                continue;
            }
            value = subst_find(subst, at + 1, (size_t)(end - at - 1));
            if (!value)
                g_error("seed template %s: unknown placeholder near offset %zu", name,
                        (size_t)(at - tmpl));
            n = strlen(value);
            if (pass) {
                memcpy(o, value, n);
                o += n;
            }
            total += n;
            p = end + 1;
        }
        if (!pass) {
            out = g_malloc(total + 1);
            o = out;
        } else {
            *o = '\0';
            g_assert((size_t)(o - out) == total);
        }
    }
    return out;
}

/* Appends KEY='value' (with ' written as '\'') to @o, or only counts when @o is NULL. */
static size_t
shell_assign(char *o, const char *key, size_t key_len, const char *value)
{
    size_t n = 0;

#define PUT(s, l)                                                                                  \
    do {                                                                                           \
        if (o)                                                                                     \
            memcpy(o + n, (s), (l));                                                               \
        n += (l);                                                                                  \
    } while (0)
    PUT(key, key_len);
    PUT("='", 2);
    for (const char *v = value; *v; v++) {
        if (*v == '\'')
            PUT("'\\''", 4);
        else
            PUT(v, 1);
    }
    PUT("'\n", 2);
#undef PUT
    return n;
}

/* The secrets as a shell-sourceable file, base64-encoded. Both intermediates are wiped. */
static char *
secrets_file_b64(const VmmSecrets *secrets)
{
    guint count = vmm_secrets_count(secrets);
    size_t len = 0, pos = 0;
    char *text, *b64;

    for (int pass = 0; pass < 2; pass++) {
        char *o = pass ? text : NULL;
        for (guint i = 0; i < count; i++) {
            const char *k = vmm_secrets_key(secrets, i);
            size_t n =
                shell_assign(o ? o + pos : NULL, k, strlen(k), vmm_secrets_value(secrets, i));
            if (pass)
                pos += n;
            else
                len += n;
        }
        if (!pass)
            text = g_malloc(len + 1);
    }
    text[len] = '\0';
    b64 = g_base64_encode((const guchar *)text, len);
    explicit_bzero(text, len);
    g_free(text);
    return b64;
}

/* The plain environment ("K=V" list) as a shell-sourceable file, base64-encoded. */
static char *
env_file_b64(const char *const *env)
{
    g_autoptr(GString) s = g_string_new(NULL);

    for (const char *const *e = env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        size_t n = shell_assign(NULL, *e, (size_t)(eq - *e), eq + 1);
        g_string_set_size(s, s->len + n);
        shell_assign(s->str + s->len - n, *e, (size_t)(eq - *e), eq + 1);
    }
    return g_base64_encode((const guchar *)s->str, s->len);
}

char *
vmm_seed_secrets_b64(const VmmSecrets *secrets)
{
    return secrets_file_b64(secrets);
}

char *
vmm_seed_env_b64(const char *const *env)
{
    return env_file_b64(env);
}

static char *
script_b64(const char *name)
{
    const Subst subst[] = {
        {"ENV_PATH", VMM_SEED_ENV_PATH}, {"SECRETS_PATH", VMM_SEED_SECRETS_PATH}, {NULL, NULL}};
    g_autofree char *text = template_render(name, subst);

    return g_base64_encode((const guchar *)text, strlen(text));
}

char *
vmm_seed_meta_data(const VmmSeedConfig *cfg)
{
    const Subst subst[] = {
        {"INSTANCE_ID", cfg->instance_id}, {"HOSTNAME", cfg->hostname}, {NULL, NULL}};

    if (!seed_validate(cfg, NULL))
        return NULL;
    return template_render("meta-data.in", subst);
}

char *
vmm_seed_network_config(const VmmSeedConfig *cfg)
{
    g_autofree char *mac = NULL;

    if (!seed_validate(cfg, NULL))
        return NULL;
    if (!cfg->mac)
        return g_strdup("version: 2\nethernets: {}\n");
    /* cloud-init compares MACs in lower case; keep the file canonical too. */
    mac = g_ascii_strdown(cfg->mac, -1);
    {
        const Subst subst[] = {{"MAC", mac}, {"ADDRESS", cfg->address}, {NULL, NULL}};
        g_autofree char *text = template_render("network-config.in", subst);
        if (!text || !cfg->nameserver)
            return g_steal_pointer(&text);
        /* Validated above: a dotted quad needs no quoting beyond the template's. */
        return g_strdup_printf("%s    nameservers:\n      addresses:\n        - \"%s\"\n", text,
                               cfg->nameserver);
    }
}

#define MIME_BOUNDARY "==airlock-cloud-config=="
#define MIME_PART_HEAD                                                                             \
    "--" MIME_BOUNDARY "\n"                                                                        \
    "Content-Type: text/cloud-config; charset=\"utf-8\"\n"                                         \
    "MIME-Version: 1.0\n"                                                                          \
    "Content-Transfer-Encoding: base64\n"

/*
 * Wraps airlock's own document @own (consumed and wiped) and the extra parts
 * into one multipart/mixed user-data. Every part is base64, so no line of any
 * part can look like the boundary; the file names in the headers are ours,
 * never the user's. One allocation for the result (it holds the secrets).
 */
static char *
multipart(char *own, const GPtrArray *parts)
{
    char *own_b64 = g_base64_encode((const guchar *)own, strlen(own));
    g_autoptr(GPtrArray) pieces = g_ptr_array_new_with_free_func(g_free);
    char *out;

    vmm_seed_wipe_free(own);
    g_ptr_array_add(pieces,
                    g_strdup("Content-Type: multipart/mixed; boundary=\"" MIME_BOUNDARY
                             "\"\nMIME-Version: 1.0\n\n" MIME_PART_HEAD
                             "Content-Disposition: attachment; filename=\"airlock.cfg\"\n\n"));
    g_ptr_array_add(pieces, NULL); /* own_b64 goes here; not owned by @pieces */
    for (guint i = 0; i < parts->len; i++) {
        const VmmCloudPart *part = g_ptr_array_index(parts, i);
        g_autofree char *b64 = g_base64_encode((const guchar *)part->text, strlen(part->text));
        g_ptr_array_add(pieces,
                        g_strdup_printf("\n" MIME_PART_HEAD "Content-Disposition: attachment; "
                                        "filename=\"part-%u.cfg\"\n"
                                        "Merge-Type: " VMM_SEED_MERGE_TYPE "\n\n%s",
                                        i + 1, b64));
    }
    g_ptr_array_add(pieces, g_strdup("\n--" MIME_BOUNDARY "--\n"));
    {
        size_t total = 0, pos = 0;
        for (guint i = 0; i < pieces->len; i++)
            total += strlen(i == 1 ? own_b64 : (char *)g_ptr_array_index(pieces, i));
        out = g_malloc(total + 1);
        for (guint i = 0; i < pieces->len; i++) {
            const char *piece = i == 1 ? own_b64 : g_ptr_array_index(pieces, i);
            size_t n = strlen(piece);
            memcpy(out + pos, piece, n);
            pos += n;
        }
        out[pos] = '\0';
    }
    vmm_seed_wipe_free(own_b64);
    return out;
}

extern const guchar vmm_guest_helper[], vmm_guest_helper_end[];

const guchar *
vmm_seed_guest_helper(gsize *len)
{
    *len = vmm_guest_helper_end - vmm_guest_helper;
    return vmm_guest_helper;
}

/*
 * airlock-guest for an image without it: the binary (gzip, base64: ~0.4 MB of YAML) and
 * its unit, enabled and started by runcmd (cloud-final, before airlock's readiness).
 */
static char *
add_guest_helper(char *text, const VmmSeedConfig *cfg)
{
    g_autoptr(GZlibCompressor) z = g_zlib_compressor_new(G_ZLIB_COMPRESSOR_FORMAT_GZIP, 9);
    g_autoptr(GBytes) unit = template_get("airlock-guest.service");
    g_autofree guchar *gz = g_malloc(cfg->guest_helper_len + 4096);
    g_autofree char *bin_b64 = NULL, *unit_b64 = NULL;
    gsize read = 0, written = 0;
    char *out;

    if (g_converter_convert(G_CONVERTER(z), cfg->guest_helper, cfg->guest_helper_len, gz,
                            cfg->guest_helper_len + 4096, G_CONVERTER_INPUT_AT_END, &read, &written,
                            NULL) != G_CONVERTER_FINISHED)
        g_error("cannot compress airlock-guest for the seed");
    bin_b64 = g_base64_encode(gz, written);
    unit_b64 = g_base64_encode(g_bytes_get_data(unit, NULL), g_bytes_get_size(unit));
    out = g_strdup_printf("%s"
                          "  - path: " VMM_SEED_GUEST_PATH "\n"
                          "    owner: root:root\n"
                          "    permissions: '0755'\n"
                          "    encoding: gz+b64\n"
                          "    content: \"%s\"\n"
                          "    defer: false\n"
                          "  - path: " VMM_SEED_GUEST_UNIT "\n"
                          "    owner: root:root\n"
                          "    permissions: '0644'\n"
                          "    encoding: b64\n"
                          "    content: \"%s\"\n"
                          "    defer: false\n"
                          "runcmd:\n"
                          "  - [systemctl, enable, --now, airlock-guest.service]\n",
                          text, bin_b64, unit_b64);
    vmm_seed_wipe_free(text);
    return out;
}

char *
vmm_seed_user_data(const VmmSeedConfig *cfg)
{
    g_autofree char *env_b64 = NULL, *with_env_b64 = NULL, *profile_b64 = NULL;
    g_autofree char *scrub_b64 = NULL;
    g_autofree char *resolv = NULL, *resolv_b64 = NULL;
    char *secrets_b64, *text;

    if (!seed_validate(cfg, NULL))
        return NULL;
    env_b64 = env_file_b64(cfg->env);
    with_env_b64 = script_b64("with-env.sh");
    profile_b64 = script_b64("profile.sh");
    scrub_b64 = script_b64("scrub-seed.sh");
    /* The only DNS server a sandbox knows is the host's recorder, which answers nothing. */
    resolv = cfg->nameserver ? g_strdup_printf("# airlock: DNS questions are recorded, never "
                                               "answered (docs/security.md)\nnameserver %s\n",
                                               cfg->nameserver)
                             : g_strdup("# airlock: no network, no DNS\n");
    resolv_b64 = g_base64_encode((const guchar *)resolv, strlen(resolv));
    secrets_b64 = secrets_file_b64(cfg->secrets);
    {
        const Subst subst[] = {{"HOSTNAME", cfg->hostname},
                               {"ENV_PATH", VMM_SEED_ENV_PATH},
                               {"SECRETS_PATH", VMM_SEED_SECRETS_PATH},
                               {"WITH_ENV_PATH", VMM_SEED_WITH_ENV},
                               {"ENV_B64", env_b64},
                               {"SECRETS_B64", secrets_b64},
                               {"WITH_ENV_B64", with_env_b64},
                               {"PROFILE_B64", profile_b64},
                               {"RESOLV_B64", resolv_b64},
                               {"SCRUB_PATH", VMM_SEED_SCRUB},
                               {"SCRUB_B64", scrub_b64},
                               {NULL, NULL}};
        text = template_render("user-data.in", subst);
    }
    vmm_seed_wipe_free(secrets_b64);
    if (cfg->guest_helper && cfg->guest_helper_len)
        text = add_guest_helper(text, cfg);
    if (cfg->parts && cfg->parts->len)
        return multipart(text, cfg->parts);
    return text;
}

/* ---- the ISO ---- */

static gsize iso_init_result;

/*
 * libisofs keeps process-global state: initialise it once and never call
 * iso_finish() (another thread may be building a seed at that moment).
 */
static gboolean
iso_lib_init(GError **error)
{
    if (g_once_init_enter(&iso_init_result)) {
        int ret = iso_init();
        /* The library never prints: errors come back as GErrors. */
        if (ret >= 0)
            iso_set_msgs_severities("NEVER", "NEVER", "airlock");
        g_once_init_leave(&iso_init_result, ret < 0 ? 2 : 1);
    }
    if (iso_init_result != 1) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot initialise libisofs");
        return FALSE;
    }
    return TRUE;
}

static gboolean
iso_fail(GError **error, int ret, const char *what)
{
    g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot build the seed ISO: %s: %s", what,
                iso_error_to_msg(ret));
    return FALSE;
}

/* A buffer handed to libisofs: wiped by us once the image is read, freed by libisofs. */
typedef struct {
    unsigned char *data;
    size_t len;
} IsoCopy;

/*
 * Adds @text as /@name; libisofs gets its own malloc()ed copy (it free()s it,
 * without wiping: @copies remembers it so that vmm_seed_build wipes it first).
 */
static gboolean
iso_add_text(IsoImage *image, const char *name, const char *text, GArray *copies, GError **error)
{
    size_t len = strlen(text);
    unsigned char *copy = malloc(len ? len : 1);
    IsoStream *stream = NULL;
    IsoFile *file = NULL;
    int ret;

    if (!copy)
        g_error("out of memory");
    memcpy(copy, text, len);
    ret = iso_memory_stream_new(copy, len, &stream);
    if (ret < 0) {
        explicit_bzero(copy, len);
        free(copy);
        return iso_fail(error, ret, name);
    }
    g_array_append_val(copies, ((IsoCopy){copy, len}));
    ret = iso_image_add_new_file(image, iso_image_get_root(image), name, stream, &file);
    if (ret < 0) {
        /* On success the new node took over our reference; on failure it is still ours. */
        iso_stream_unref(stream);
        return iso_fail(error, ret, name);
    }
    iso_node_set_permissions((IsoNode *)file, 0444);
    return TRUE;
}

static void
iso_burn_source_free(struct burn_source *src)
{
    if (src) {
        src->free_data(src);
        free(src);
    }
}

static void
iso_image_unref0(IsoImage *image)
{
    if (image)
        iso_image_unref(image);
}

static void
iso_write_opts_free0(IsoWriteOpts *opts)
{
    if (opts)
        iso_write_opts_free(opts);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(IsoImage, iso_image_unref0)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(IsoWriteOpts, iso_write_opts_free0)

/* Reads the whole image from @src into one buffer of its announced size. */
static GBytes *
iso_read_all(struct burn_source *src, GError **error)
{
    off_t size = src->get_size(src);
    int (*rd)(struct burn_source *, unsigned char *, int) = src->read ? src->read : src->read_xt;
    unsigned char *buf;
    size_t len = 0;

    if (size <= 0 || size > ISO_MAX || size % ISO_BLOCK != 0) {
        if (src->version >= 1 && src->cancel)
            src->cancel(src);
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "cannot build the seed ISO: unexpected image size %lld", (long long)size);
        return NULL;
    }
    /* Exact size up front: no realloc, so no stray copies of the secrets. */
    buf = g_malloc((size_t)size);
    for (;;) {
        unsigned char block[ISO_BLOCK];
        int n = rd(src, block, ISO_BLOCK);
        if (n == 0)
            break;
        if (n < 0 || len + (size_t)n > (size_t)size) {
            explicit_bzero(block, sizeof(block));
            explicit_bzero(buf, (size_t)size);
            g_free(buf);
            if (src->version >= 1 && src->cancel)
                src->cancel(src);
            g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot build the seed ISO: %s",
                        n < 0 ? "reading the image failed" : "image larger than announced");
            return NULL;
        }
        memcpy(buf + len, block, (size_t)n);
        explicit_bzero(block, sizeof(block));
        len += (size_t)n;
    }
    if (len != (size_t)size) {
        explicit_bzero(buf, (size_t)size);
        g_free(buf);
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED,
                    "cannot build the seed ISO: image shorter than announced");
        return NULL;
    }
    return g_bytes_new_take(buf, len);
}

/* Wipes what libisofs still holds of the user-data before it frees it. */
typedef GArray IsoCopies;

static void
iso_copies_wipe(IsoCopies *copies)
{
    for (guint i = 0; copies && i < copies->len; i++) {
        IsoCopy *c = &g_array_index(copies, IsoCopy, i);
        explicit_bzero(c->data, c->len);
    }
    if (copies)
        g_array_unref(copies);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(IsoCopies, iso_copies_wipe)

GBytes *
vmm_seed_build(const VmmSeedConfig *cfg, GError **error)
{
    g_autoptr(IsoImage) image = NULL;
    g_autoptr(IsoWriteOpts) opts = NULL;
    /* Declared after @image: wiped before the image (and the copies with it) is freed. */
    g_autoptr(IsoCopies) copies = g_array_new(FALSE, FALSE, sizeof(IsoCopy));
    g_autofree char *meta = NULL, *net = NULL;
    struct burn_source *src = NULL;
    char *user;
    gboolean ok;
    GBytes *iso;
    int ret;

    if (!seed_validate(cfg, error) || !iso_lib_init(error))
        return NULL;
    ret = iso_image_new("cidata", &image);
    if (ret < 0) {
        iso_fail(error, ret, "new image");
        return NULL;
    }
    iso_image_set_application_id(image, "airlock");

    meta = vmm_seed_meta_data(cfg);
    net = vmm_seed_network_config(cfg);
    user = vmm_seed_user_data(cfg);
    ok = iso_add_text(image, "meta-data", meta, copies, error) &&
         iso_add_text(image, "network-config", net, copies, error) &&
         iso_add_text(image, "user-data", user, copies, error);
    vmm_seed_wipe_free(user);
    if (!ok)
        return NULL;

    ret = iso_write_opts_new(&opts, 0);
    if (ret < 0) {
        iso_fail(error, ret, "write options");
        return NULL;
    }
    /* Rock Ridge keeps the lowercase names cloud-init looks for; Joliet for other readers. */
    iso_write_opts_set_rockridge(opts, 1);
    iso_write_opts_set_joliet(opts, 1);
    /* root:root, 0444/0555 whatever the process is: the guest sees the same seed every time. */
    iso_write_opts_set_replace_mode(opts, 1, 1, 1, 1);
    ret = iso_image_create_burn_source(image, opts, &src);
    if (ret < 0) {
        iso_fail(error, ret, "start writing");
        return NULL;
    }
    iso = iso_read_all(src, error);
    iso_burn_source_free(src);
    return iso;
}

gboolean
vmm_seed_write(const char *path, GBytes *iso, GError **error)
{
    gsize size = 0;
    const guint8 *data = g_bytes_get_data(iso, &size);
    size_t done = 0;
    int fd, saved = 0;
    const char *what = NULL;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        saved = errno;
        g_set_error(error, VMM_ERROR, saved == EEXIST ? VMM_ERROR_EXISTS : VMM_ERROR_HOST,
                    "cannot create seed '%s': %s", path, g_strerror(saved));
        return FALSE;
    }
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            saved = errno;
            what = "write";
            break;
        }
        done += (size_t)n;
    }
    if (!what && fsync(fd) < 0) {
        saved = errno;
        what = "fsync";
    }
    if (close(fd) < 0 && !what) {
        saved = errno;
        what = "close";
    }
    if (what) {
        unlink(path);
        g_set_error(error, VMM_ERROR, VMM_ERROR_HOST, "cannot write seed '%s' (%s): %s", path, what,
                    g_strerror(saved));
        return FALSE;
    }
    return TRUE;
}
