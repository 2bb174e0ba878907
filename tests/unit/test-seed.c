/* test-seed: NoCloud seed text (golden files), secrets only as base64, the cidata ISO. */
#include <config.h>

#include "error.h"
#include "seed.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_VALUE "s3cr3t-golden-value"
/* Newline-free shell metacharacters: must come back byte for byte after `. FILE`. */
#define NASTY_VALUE "a'b\"c$HOME`id`\\n $(x) ;|&<>*? ''\\'end'"

static VmmSecrets *
golden_secrets(void)
{
    VmmSecrets *s = vmm_secrets_new();

    g_assert_true(vmm_secrets_add(s, "API_TOKEN", SECRET_VALUE, NULL));
    g_assert_true(vmm_secrets_add(s, "DB_PASS", "pa'ss", NULL));
    return s;
}

static const char *const golden_env[] = {"LANG=C.UTF-8", "GREETING=it's $HOME", NULL};

static VmmSeedConfig
golden_config(const VmmSecrets *secrets)
{
    VmmSeedConfig cfg = {
        .instance_id = "airlock-0d6f1c2e-4b7a-4f3e-9a51-golden",
        .hostname = "eval-3",
        .mac = "52:54:00:12:34:56",
        .address = "10.77.3.2/24",
        .env = golden_env,
        .secrets = secrets,
    };
    return cfg;
}

/* Compares @text with tests/data/seed/@name, or rewrites it when VMM_TEST_REGENERATE=1. */
static void
check_golden(const char *name, const char *text)
{
    g_autofree char *path = g_test_build_filename(G_TEST_DIST, "data", "seed", name, NULL);
    g_autofree char *expected = NULL;
    g_autoptr(GError) err = NULL;

    g_assert_nonnull(text);
    if (g_strcmp0(g_getenv("VMM_TEST_REGENERATE"), "1") == 0) {
        g_assert_true(g_file_set_contents(path, text, -1, &err));
        g_assert_no_error(err);
        g_test_message("regenerated %s", path);
        return;
    }
    g_assert_true(g_file_get_contents(path, &expected, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(text, ==, expected);
}

static void
test_golden_meta_data(void)
{
    g_autoptr(VmmSecrets) s = golden_secrets();
    VmmSeedConfig cfg = golden_config(s);
    g_autofree char *text = vmm_seed_meta_data(&cfg);

    check_golden("meta-data", text);
}

static void
test_golden_network_config(void)
{
    g_autoptr(VmmSecrets) s = golden_secrets();
    VmmSeedConfig cfg = golden_config(s);
    g_autofree char *text = vmm_seed_network_config(&cfg);
    g_autofree char *upper = NULL;

    check_golden("network-config", text);
    /* MACs are written in lower case whatever the caller gave. */
    cfg.mac = "52:54:00:AB:CD:EF";
    upper = vmm_seed_network_config(&cfg);
    g_assert_nonnull(strstr(upper, "\"52:54:00:ab:cd:ef\""));
}

static void
test_golden_network_dns(void)
{
    g_autoptr(VmmSecrets) s = golden_secrets();
    VmmSeedConfig cfg = golden_config(s);
    g_autofree char *text = NULL;

    cfg.nameserver = "10.77.3.1";
    text = vmm_seed_network_config(&cfg);
    check_golden("network-config-dns", text);
    cfg.nameserver = "10.77.3.1\nruncmd: [x]";
    g_assert_null(vmm_seed_network_config(&cfg));
    cfg.nameserver = "example.com";
    g_assert_null(vmm_seed_network_config(&cfg));
}

static void
test_golden_network_none(void)
{
    g_autoptr(VmmSecrets) s = golden_secrets();
    VmmSeedConfig cfg = golden_config(s);
    g_autofree char *text = NULL;

    cfg.mac = NULL;
    cfg.address = NULL;
    text = vmm_seed_network_config(&cfg);
    g_assert_cmpstr(text, ==, "version: 2\nethernets: {}\n");
    check_golden("network-config-none", text);
}

static void
test_golden_user_data(void)
{
    g_autoptr(VmmSecrets) s = golden_secrets();
    VmmSeedConfig cfg = golden_config(s);
    char *text = vmm_seed_user_data(&cfg);

    check_golden("user-data", text);
    vmm_seed_wipe_free(text);
}

/*
 * Returns the decoded content of the write_files entry for @path in @user_data, and
 * that entry's permissions in @perms. The template puts path first and content after.
 */
static char *
write_files_content(const char *user_data, const char *path, char **perms)
{
    g_autofree char *key = g_strdup_printf("\n  - path: %s\n", path);
    const char *entry = strstr(user_data, key);
    const char *next, *content, *pm;
    g_autofree char *b64 = NULL;
    gsize len = 0;
    guchar *raw;

    g_assert_nonnull(entry);
    entry += strlen(key);
    next = strstr(entry, "\n  - ");
    content = strstr(entry, "    content: \"");
    pm = strstr(entry, "    permissions: '");
    g_assert_nonnull(content);
    g_assert_nonnull(pm);
    g_assert_true(next == NULL || (content < next && pm < next));
    g_assert_nonnull(strstr(entry, "    encoding: b64\n"));
    content += strlen("    content: \"");
    b64 = g_strndup(content, strcspn(content, "\""));
    pm += strlen("    permissions: '");
    if (perms)
        *perms = g_strndup(pm, strcspn(pm, "'"));
    for (const char *c = b64; *c; c++)
        g_assert_true(g_ascii_isalnum(*c) || *c == '+' || *c == '/' || *c == '=');
    raw = g_base64_decode(b64, &len);
    raw = g_realloc(raw, len + 1);
    raw[len] = '\0';
    return (char *)raw;
}

static void
test_user_data_secrets(void)
{
    g_autoptr(VmmSecrets) s = golden_secrets();
    VmmSeedConfig cfg = golden_config(s);
    char *text = vmm_seed_user_data(&cfg);
    g_autofree char *secrets = NULL, *env = NULL, *with_env = NULL, *profile = NULL;
    g_autofree char *p_secrets = NULL, *p_env = NULL, *p_with_env = NULL, *p_profile = NULL;

    g_assert_true(g_str_has_prefix(text, "#cloud-config\n"));
    g_assert_null(strstr(text, SECRET_VALUE));
    g_assert_null(strstr(text, "pa'ss"));
    g_assert_null(strstr(text, "runcmd"));
    g_assert_null(strstr(text, "bootcmd"));
    g_assert_null(strchr(text, '\t'));
    g_assert_nonnull(strstr(text, "\nhostname: \"eval-3\"\n"));
    g_assert_nonnull(strstr(text, "\npreserve_hostname: false\n"));

    secrets = write_files_content(text, VMM_SEED_SECRETS_PATH, &p_secrets);
    g_assert_cmpstr(secrets, ==, "API_TOKEN='" SECRET_VALUE "'\nDB_PASS='pa'\\''ss'\n");
    g_assert_cmpstr(p_secrets, ==, "0600");
    env = write_files_content(text, VMM_SEED_ENV_PATH, &p_env);
    g_assert_cmpstr(env, ==, "LANG='C.UTF-8'\nGREETING='it'\\''s $HOME'\n");
    g_assert_cmpstr(p_env, ==, "0644");
    with_env = write_files_content(text, VMM_SEED_WITH_ENV, &p_with_env);
    g_assert_true(g_str_has_prefix(with_env, "#!/bin/sh\n"));
    g_assert_nonnull(strstr(with_env, VMM_SEED_ENV_PATH " " VMM_SEED_SECRETS_PATH));
    g_assert_nonnull(strstr(with_env, "exec \"$@\""));
    g_assert_null(strstr(with_env, "_PATH@"));
    g_assert_cmpstr(p_with_env, ==, "0755");
    profile = write_files_content(text, "/etc/profile.d/airlock.sh", &p_profile);
    g_assert_nonnull(strstr(profile, VMM_SEED_ENV_PATH " " VMM_SEED_SECRETS_PATH));
    g_assert_cmpstr(p_profile, ==, "0644");
    vmm_seed_wipe_free(text);
}

static void
test_user_data_empty(void)
{
    VmmSeedConfig cfg = golden_config(NULL);
    char *text = NULL;
    g_autofree char *secrets = NULL, *env = NULL;

    cfg.env = NULL;
    text = vmm_seed_user_data(&cfg);
    secrets = write_files_content(text, VMM_SEED_SECRETS_PATH, NULL);
    env = write_files_content(text, VMM_SEED_ENV_PATH, NULL);
    g_assert_cmpstr(secrets, ==, "");
    g_assert_cmpstr(env, ==, "");
    vmm_seed_wipe_free(text);
}

/* Sources @file with /bin/sh and returns what $@key holds then. */
static char *
sh_source_get(const char *file, const char *key)
{
    g_autofree char *script = g_strdup_printf("set -a; . \"$1\"; printf %%s \"$%s\"", key);
    const char *argv[] = {"/bin/sh", "-c", script, "sh", file, NULL};
    g_autoptr(GError) err = NULL;
    char *out = NULL;
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL,
                               &status, &err));
    g_assert_no_error(err);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    return out;
}

static void
test_shell_roundtrip(void)
{
    g_autoptr(VmmSecrets) s = vmm_secrets_new();
    const char *const env[] = {"PLAIN=" NASTY_VALUE, NULL};
    VmmSeedConfig cfg = golden_config(s);
    g_autofree char *secrets = NULL, *envfile = NULL, *dir = NULL, *p1 = NULL, *p2 = NULL;
    g_autofree char *got1 = NULL, *got2 = NULL, *got3 = NULL, *p3 = NULL, *script = NULL;
    g_autoptr(GError) err = NULL;
    char *text;

    g_assert_true(vmm_secrets_add(s, "NASTY", NASTY_VALUE, NULL));
    g_assert_true(vmm_secrets_add(s, "EMPTY", "", NULL));
    cfg.env = env;
    text = vmm_seed_user_data(&cfg);
    g_assert_nonnull(text);
    secrets = write_files_content(text, VMM_SEED_SECRETS_PATH, NULL);
    envfile = write_files_content(text, VMM_SEED_ENV_PATH, NULL);
    script = write_files_content(text, VMM_SEED_WITH_ENV, NULL);
    vmm_seed_wipe_free(text);

    dir = g_dir_make_tmp("airlock-seed-XXXXXX", &err);
    g_assert_no_error(err);
    p1 = g_build_filename(dir, "secrets.env", NULL);
    p2 = g_build_filename(dir, "env", NULL);
    p3 = g_build_filename(dir, "with-env", NULL);
    g_assert_true(g_file_set_contents(p1, secrets, -1, NULL));
    g_assert_true(g_file_set_contents(p2, envfile, -1, NULL));
    g_assert_true(g_file_set_contents(p3, script, -1, NULL));

    got1 = sh_source_get(p1, "NASTY");
    g_assert_cmpstr(got1, ==, NASTY_VALUE);
    got2 = sh_source_get(p2, "PLAIN");
    g_assert_cmpstr(got2, ==, NASTY_VALUE);
    got3 = sh_source_get(p1, "EMPTY");
    g_assert_cmpstr(got3, ==, "");

    /* The wrapper is at least valid sh. */
    {
        const char *argv[] = {"/bin/sh", "-n", p3, NULL};
        int status = 0;
        g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL,
                                   NULL, &status, &err));
        g_assert_true(g_spawn_check_wait_status(status, NULL));
    }
    g_remove(p1);
    g_remove(p2);
    g_remove(p3);
    g_rmdir(dir);
}

static void
expect_invalid(const VmmSeedConfig *cfg)
{
    g_autoptr(GError) err = NULL;
    GBytes *iso = vmm_seed_build(cfg, &err);

    g_assert_null(iso);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_test_message("refused: %s", err->message);
    g_assert_null(strchr(err->message, '\n'));
    g_assert_null(vmm_seed_meta_data(cfg));
    g_assert_null(vmm_seed_network_config(cfg));
    g_assert_null(vmm_seed_user_data(cfg));
}

static void
test_invalid(void)
{
    const char *bad_hosts[] = {NULL, "", "Eval", "a\"b", "a\nb", "yes\n- x", "-a"};
    const char *bad_macs[] = {"",
                              "52:54:00:12:34",
                              "52:54:00:12:34:5g",
                              "52-54-00-12-34-56",
                              "52:54:00:12:34:56\"",
                              "52:54:00:12:34:56 ",
                              "525400123456"};
    const char *bad_addrs[] = {"",           "10.77.3.2",      "10.77.3.2/33",  "10.77.3.2/0",
                               "10.77.3/24", "10.77.3.256/24", "010.77.3.2/24", "10.77.3.2/24\"",
                               "::1/128",    "10.77.3.2/024",  "10.77.3.2/24 ", "a.b.c.d/24"};
    const char *bad_ids[] = {NULL, "", "Airlock-1", "a b", "a\"", "a\nb"};
    const char *const bad_env[] = {"NOEQUALS", NULL};
    const char *const bad_env2[] = {"1A=x", NULL};

    for (size_t i = 0; i < G_N_ELEMENTS(bad_hosts); i++) {
        VmmSeedConfig cfg = golden_config(NULL);
        cfg.hostname = bad_hosts[i];
        expect_invalid(&cfg);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad_macs); i++) {
        VmmSeedConfig cfg = golden_config(NULL);
        cfg.mac = bad_macs[i];
        expect_invalid(&cfg);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad_addrs); i++) {
        VmmSeedConfig cfg = golden_config(NULL);
        cfg.address = bad_addrs[i];
        expect_invalid(&cfg);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(bad_ids); i++) {
        VmmSeedConfig cfg = golden_config(NULL);
        cfg.instance_id = bad_ids[i];
        expect_invalid(&cfg);
    }
    {
        VmmSeedConfig cfg = golden_config(NULL);
        cfg.address = NULL; /* a MAC without an address */
        expect_invalid(&cfg);
        cfg = golden_config(NULL);
        cfg.env = bad_env;
        expect_invalid(&cfg);
        cfg.env = bad_env2;
        expect_invalid(&cfg);
    }
    {
        const char *ok_addrs[] = {"10.77.3.2/24", "0.0.0.0/8", "255.255.255.255/32", "1.2.3.4/1"};
        for (size_t i = 0; i < G_N_ELEMENTS(ok_addrs); i++) {
            VmmSeedConfig cfg = golden_config(NULL);
            g_autofree char *net = NULL;
            cfg.address = ok_addrs[i];
            net = vmm_seed_network_config(&cfg);
            g_assert_nonnull(net);
        }
    }
}

/* ---- the ISO ---- */

static gboolean
bytes_contain(const char *data, gsize size, const char *needle)
{
    size_t n = strlen(needle);

    for (gsize i = 0; i + n <= size; i++)
        if (memcmp(data + i, needle, n) == 0)
            return TRUE;
    return FALSE;
}

static GBytes *
build_iso(void)
{
    g_autoptr(VmmSecrets) s = golden_secrets();
    VmmSeedConfig cfg = golden_config(s);
    g_autoptr(GError) err = NULL;
    GBytes *iso = vmm_seed_build(&cfg, &err);

    g_assert_no_error(err);
    g_assert_nonnull(iso);
    return iso;
}

static void
test_iso_bytes(void)
{
    GBytes *iso = build_iso();
    gsize size = 0;
    const char *data = g_bytes_get_data(iso, &size);

    g_assert_cmpuint(size, >, 16 * 2048);
    g_assert_cmpuint(size % 2048, ==, 0);
    /* Primary volume descriptor at sector 16: type 1, "CD001". */
    g_assert_cmpint(data[16 * 2048], ==, 1);
    g_assert_true(memcmp(data + 16 * 2048 + 1, "CD001", 5) == 0);
    g_assert_false(bytes_contain(data, size, SECRET_VALUE));
    g_assert_true(bytes_contain(data, size, "#cloud-config\n"));
    vmm_seed_bytes_wipe_free(iso);
    vmm_seed_bytes_wipe_free(NULL);
}

typedef struct {
    char *dir;
    char *path;
} IsoFixture;

static void
iso_setup(IsoFixture *fx, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    GBytes *iso = build_iso();

    fx->dir = g_dir_make_tmp("airlock-seed-XXXXXX", &err);
    g_assert_no_error(err);
    fx->path = g_build_filename(fx->dir, "seed.iso", NULL);
    g_assert_true(vmm_seed_write(fx->path, iso, &err));
    g_assert_no_error(err);
    vmm_seed_bytes_wipe_free(iso);
}

static void
iso_teardown(IsoFixture *fx, gconstpointer data)
{
    g_autoptr(GDir) d = g_dir_open(fx->dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(fx->dir, name, NULL);
        g_remove(p);
    }
    g_rmdir(fx->dir);
    g_free(fx->dir);
    g_free(fx->path);
}

static void
test_iso_write(IsoFixture *fx, gconstpointer data)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *link = g_build_filename(fx->dir, "link.iso", NULL);
    g_autofree char *target = g_build_filename(fx->dir, "target", NULL);
    GBytes *iso = build_iso();
    struct stat st;

    g_assert_cmpint(g_lstat(fx->path, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
    g_assert_cmpint(st.st_mode & 07777, ==, 0600);
    g_assert_cmpuint((gsize)st.st_size, ==, g_bytes_get_size(iso));

    /* O_EXCL: never overwrite, never follow a planted symlink. */
    g_assert_false(vmm_seed_write(fx->path, iso, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_EXISTS);
    g_clear_error(&err);
    g_assert_cmpint(symlink(target, link), ==, 0);
    g_assert_false(vmm_seed_write(link, iso, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_false(g_file_test(target, G_FILE_TEST_EXISTS));
    vmm_seed_bytes_wipe_free(iso);
}

static char *
find_tool(const char *name)
{
    char *p = g_find_program_in_path(name);
    const char *dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};

    for (size_t i = 0; !p && i < G_N_ELEMENTS(dirs); i++) {
        g_autofree char *c = g_build_filename(dirs[i], name, NULL);
        if (g_file_test(c, G_FILE_TEST_IS_EXECUTABLE))
            p = g_steal_pointer(&c);
    }
    return p;
}

static char *
run_tool(const char *const *argv)
{
    g_autoptr(GError) err = NULL;
    char *out = NULL;
    g_autofree char *errout = NULL;
    int status = 0;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out,
                               &errout, &status, &err));
    g_assert_no_error(err);
    if (!g_spawn_check_wait_status(status, NULL))
        g_test_message("%s failed: %s", argv[0], errout);
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    return out;
}

static void
test_iso_blkid(IsoFixture *fx, gconstpointer data)
{
    g_autofree char *blkid = find_tool("blkid");
    g_autofree char *label = NULL, *type = NULL;

    if (!blkid) {
        g_test_skip("blkid not installed (util-linux)");
        return;
    }
    {
        const char *argv[] = {blkid, "-p", "-o", "value", "-s", "LABEL", fx->path, NULL};
        label = run_tool(argv);
    }
    {
        const char *argv[] = {blkid, "-p", "-o", "value", "-s", "TYPE", fx->path, NULL};
        type = run_tool(argv);
    }
    g_assert_cmpstr(g_strstrip(label), ==, "cidata");
    g_assert_cmpstr(g_strstrip(type), ==, "iso9660");
}

static void
test_iso_files(IsoFixture *fx, gconstpointer data)
{
    g_autofree char *xorriso = find_tool("xorriso");
    g_autoptr(VmmSecrets) s = golden_secrets();
    VmmSeedConfig cfg = golden_config(s);
    const char *names[] = {"meta-data", "network-config", "user-data"};
    char *(*gen[])(const VmmSeedConfig *) = {vmm_seed_meta_data, vmm_seed_network_config,
                                             vmm_seed_user_data};
    g_autofree char *listing = NULL;

    if (!xorriso) {
        g_test_skip("xorriso not installed");
        return;
    }
    {
        const char *argv[] = {xorriso, "-indev", fx->path, "-ls", "/", NULL};
        listing = run_tool(argv);
    }
    g_test_message("%s", listing);
    /* Extract each file (Rock Ridge names) and compare with what was generated. */
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *quoted = g_strdup_printf("'%s'", names[i]);
        g_autofree char *in_iso = g_strconcat("/", names[i], NULL);
        g_autofree char *out = g_build_filename(fx->dir, names[i], NULL);
        g_autofree char *got = NULL, *want = gen[i](&cfg);
        g_autofree char *ignored = NULL;
        const char *argv[] = {xorriso,    "-osirrox", "on", "-indev", fx->path,
                              "-extract", in_iso,     out,  NULL};

        g_assert_nonnull(strstr(listing, quoted));
        ignored = run_tool(argv);
        g_assert_true(g_file_get_contents(out, &got, NULL, NULL));
        g_assert_cmpstr(got, ==, want);
        explicit_bzero(want, strlen(want));
        explicit_bzero(got, strlen(got));
    }
}

/* ---- extra cloud-init parts, secrets never from the environment ---- */

static GPtrArray *
golden_parts(void)
{
    GPtrArray *parts = g_ptr_array_new_with_free_func((GDestroyNotify)vmm_cloud_part_free);
    const char *texts[] = {"#cloud-config\npackages: [jq]\n",
                           "#cloud-config\nruncmd:\n  - [sh, -c, 'echo part-2']\n"};

    for (guint i = 0; i < G_N_ELEMENTS(texts); i++) {
        VmmCloudPart *p = g_new0(VmmCloudPart, 1);
        p->path = g_strdup_printf("part-%u.yaml", i + 1);
        p->text = g_strdup(texts[i]);
        p->sha256 = g_compute_checksum_for_string(G_CHECKSUM_SHA256, p->text, -1);
        g_ptr_array_add(parts, p);
    }
    return parts;
}

/* The body of MIME part @n (1-based) of @mp, base64-decoded. */
static char *
mime_part(const char *mp, guint n, char **headers)
{
    g_auto(GStrv) pieces = g_strsplit(mp, "--==airlock-cloud-config==", -1);
    const char *blank;
    gsize len = 0;
    guchar *raw;

    g_assert_cmpuint(g_strv_length(pieces), >, n);
    blank = strstr(pieces[n], "\n\n");
    g_assert_nonnull(blank);
    if (headers)
        *headers = g_strndup(pieces[n], (gsize)(blank - pieces[n]));
    {
        g_autofree char *body = g_strstrip(g_strdup(blank + 2));
        char *out;
        raw = g_base64_decode(body, &len);
        out = g_malloc(len + 1);
        memcpy(out, raw, len);
        out[len] = '\0';
        g_free(raw);
        return out;
    }
}

static void
test_user_data_parts(void)
{
    g_autoptr(VmmSecrets) secrets = golden_secrets();
    g_autoptr(GPtrArray) parts = golden_parts();
    VmmSeedConfig cfg = golden_config(secrets);
    g_autofree char *plain = vmm_seed_user_data(&cfg);
    g_autofree char *mp = NULL, *own = NULL, *p1 = NULL, *p2 = NULL, *h0 = NULL, *h1 = NULL;
    g_autofree char *h2 = NULL;
    g_auto(GStrv) pieces = NULL;

    cfg.parts = parts;
    mp = vmm_seed_user_data(&cfg);
    check_golden("user-data-parts", mp);
    g_assert_true(g_str_has_prefix(mp, "Content-Type: multipart/mixed; boundary="));
    g_assert_null(strstr(mp, SECRET_VALUE));
    pieces = g_strsplit(mp, "--==airlock-cloud-config==", -1);
    g_assert_cmpuint(g_strv_length(pieces), ==, 5); /* preamble, 3 parts, "--" epilogue */
    own = mime_part(mp, 1, &h0);
    g_assert_cmpstr(own, ==, plain); /* airlock's own document first, unchanged */
    g_assert_null(strstr(h0, "Merge-Type"));
    p1 = mime_part(mp, 2, &h1);
    p2 = mime_part(mp, 3, &h2);
    g_assert_cmpstr(p1, ==, ((VmmCloudPart *)g_ptr_array_index(parts, 0))->text);
    g_assert_cmpstr(p2, ==, ((VmmCloudPart *)g_ptr_array_index(parts, 1))->text);
    g_assert_nonnull(strstr(h1, "Content-Type: text/cloud-config"));
    g_assert_true(g_str_has_suffix(h2, "\nMerge-Type: " VMM_SEED_MERGE_TYPE));
    /* the user's file names never reach a header */
    g_assert_null(strstr(mp, "part-1.yaml"));
}

static void
test_parts_refused(void)
{
    g_autoptr(VmmSecrets) secrets = golden_secrets();
    g_autoptr(GPtrArray) parts = golden_parts();
    VmmSeedConfig cfg = golden_config(secrets);
    VmmCloudPart *p = g_ptr_array_index(parts, 1);
    g_autoptr(GError) err = NULL;
    GBytes *iso;

    cfg.parts = parts;
    g_free(p->text);
    p->text = g_strdup("#cloud-config\nbootcmd:\n  - echo " SECRET_VALUE "\n");
    iso = vmm_seed_build(&cfg, &err);
    g_assert_null(iso);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_nonnull(strstr(err->message, "part-2.yaml:3: holds the value of secret 'API_TOKEN'"));
    g_assert_null(strstr(err->message, SECRET_VALUE));
    g_assert_null(vmm_seed_user_data(&cfg));
    g_clear_error(&err);
    g_free(p->text);
    p->text = g_strdup("#cloud-config\nwrite_files:\n  - path: /run/airlock/secrets.env\n");
    g_assert_null(vmm_seed_build(&cfg, &err));
    g_assert_nonnull(strstr(err->message, "is reserved"));
}

/*
 * Secrets come only from the secrets file: a credential exported in airlock's own
 * environment never reaches the seed (no code path reads secrets from the environment).
 */
static void
test_env_not_read(void)
{
    const char *canary = "env-canary-5b1f0e9a7c";
    g_autoptr(VmmSecrets) secrets = golden_secrets();
    g_autoptr(GPtrArray) parts = golden_parts();
    VmmSeedConfig cfg = golden_config(secrets);
    g_autofree char *b64 = g_base64_encode((const guchar *)canary, strlen(canary));
    const char *names[] = {"API_KEY", "API_TOKEN", "AIRLOCK_SECRET_API_KEY", "OPENAI_API_KEY"};

    for (guint i = 0; i < G_N_ELEMENTS(names); i++)
        g_setenv(names[i], canary, TRUE);
    for (int with = 0; with < 2; with++) {
        g_autofree char *ud = NULL;
        GBytes *iso;
        gsize size = 0;
        const char *data;

        cfg.secrets = with ? secrets : NULL;
        cfg.parts = with ? parts : NULL;
        ud = vmm_seed_user_data(&cfg);
        g_assert_null(strstr(ud, canary));
        g_assert_null(strstr(ud, "API_KEY"));
        iso = vmm_seed_build(&cfg, NULL);
        g_assert_nonnull(iso);
        data = g_bytes_get_data(iso, &size);
        g_assert_false(bytes_contain(data, size, canary));
        g_assert_false(bytes_contain(data, size, b64));
        vmm_seed_bytes_wipe_free(iso);
    }
    for (guint i = 0; i < G_N_ELEMENTS(names); i++)
        g_unsetenv(names[i]);
}

int
main(int argc, char **argv)
{
    /* AM_TESTS_ENVIRONMENT does not export G_TEST_SRCDIR: fall back to configure's. */
    if (!g_getenv("G_TEST_SRCDIR"))
        g_setenv("G_TEST_SRCDIR", TEST_SRCDIR, TRUE);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/seed/golden/meta-data", test_golden_meta_data);
    g_test_add_func("/seed/golden/network-config", test_golden_network_config);
    g_test_add_func("/seed/golden/network-config-none", test_golden_network_none);
    g_test_add_func("/seed/golden/network-config-dns", test_golden_network_dns);
    g_test_add_func("/seed/golden/user-data", test_golden_user_data);
    g_test_add_func("/seed/user-data/secrets-only-base64", test_user_data_secrets);
    g_test_add_func("/seed/user-data/empty", test_user_data_empty);
    g_test_add_func("/seed/user-data/shell-roundtrip", test_shell_roundtrip);
    g_test_add_func("/seed/user-data/parts", test_user_data_parts);
    g_test_add_func("/seed/user-data/parts-refused", test_parts_refused);
    g_test_add_func("/seed/secrets-never-from-env", test_env_not_read);
    g_test_add_func("/seed/invalid", test_invalid);
    g_test_add_func("/seed/iso/bytes", test_iso_bytes);
#define ADD_ISO(path, fn) g_test_add(path, IsoFixture, NULL, iso_setup, fn, iso_teardown)
    ADD_ISO("/seed/iso/write", test_iso_write);
    ADD_ISO("/seed/iso/blkid", test_iso_blkid);
    ADD_ISO("/seed/iso/files", test_iso_files);
#undef ADD_ISO
    return g_test_run();
}
