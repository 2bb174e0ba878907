/* test-spec: spec files (every key, FILE:LINE errors), pinned images, cloud-init parts, hash. */
#include <config.h>

#include "error.h"
#include "seed.h"
#include "spec.h"

#include <glib/gstdio.h>
#include <sys/wait.h>
#include <string.h>

static char *
data_path(const char *name)
{
    return g_test_build_filename(G_TEST_DIST, "data", "spec", name, NULL);
}

/* Writes @text as @name in a fresh temporary directory; returns the path (dir leaks in tmp). */
static char *
write_tmp(const char *name, const char *text)
{
    g_autofree char *dir = g_dir_make_tmp("airlock-test-spec-XXXXXX", NULL);
    char *path = g_build_filename(dir, name, NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    return path;
}

static void
test_full(void)
{
    g_autofree char *path = data_path("full.conf");
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(vmm_spec_load_file(spec, path, &err));
    g_assert_no_error(err);
    g_assert_true(vmm_spec_validate(spec, &err));
    g_assert_cmpstr(spec->image, ==, "debian-12");
    g_assert_cmpstr(spec->image_digest, ==,
                    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    g_assert_cmpuint(spec->cpus, ==, 2);
    g_assert_cmpuint(spec->memory_mib, ==, 1024);
    g_assert_cmpuint(spec->disk_gib, ==, 8);
    g_assert_cmpint(spec->ttl_s, ==, 7200);
    g_assert_cmpuint(spec->labels->len, ==, 2);
    g_assert_cmpint(spec->net_mode, ==, VMM_NET_MODE_ALLOW);
    g_assert_cmpuint(g_strv_length(spec->allow), ==, 2);
    g_assert_true(g_str_has_suffix(spec->secrets_file, "/data/spec/secrets.env"));
    /* verbatim: no key-file escapes; "\;" is a literal ';' */
    g_assert_cmpuint(g_strv_length(spec->deny), ==, 4);
    g_assert_cmpstr(spec->deny[2], ==, "semi;colon");
    g_assert_cmpstr(spec->deny[3], ==, "\\d{16}");
    g_assert_cmpuint(spec->env->len, ==, 1);
    g_assert_cmpuint(spec->parts->len, ==, 2);
    {
        VmmCloudPart *p = g_ptr_array_index(spec->parts, 0);
        g_assert_true(g_str_has_suffix(p->path, "extra.yaml"));
        g_assert_cmpuint(strlen(p->sha256), ==, 64);
        g_assert_true(g_str_has_prefix(p->text, "#cloud-config\n"));
    }
}

static void
test_deny_empty(void)
{
    g_autofree char *path = write_tmp("s.conf", "[secrets]\ndeny=\n");
    g_autoptr(VmmSpec) spec = vmm_spec_new();

    g_assert_null(spec->deny);
    g_assert_true(vmm_spec_load_file(spec, path, NULL));
    g_assert_nonnull(spec->deny);
    g_assert_cmpuint(g_strv_length(spec->deny), ==, 0);
}

/* Each bad spec fails with INVALID, FILE:LINE and the words given. */
static void
expect_bad(const char *text, const char *line, const char *words)
{
    g_autofree char *path = write_tmp("bad.conf", text);
    g_autofree char *prefix = g_strdup_printf("%s:%s: ", path, line);
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(GError) err = NULL;

    if (vmm_spec_load_file(spec, path, &err))
        vmm_spec_validate(spec, &err);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_test_message("%s", err->message);
    if (!g_str_has_prefix(err->message, prefix) || !strstr(err->message, words))
        g_error("'%s' does not start with '%s' and say '%s'", err->message, prefix, words);
    g_assert_null(strchr(err->message, '\n'));
}

static void
test_errors(void)
{
    expect_bad("[sandbox]\ncpus=2\n\nmem=3\n", "4",
               "unknown key 'mem' in [sandbox] (allowed: image");
    expect_bad("# c\n[sandbox]\ncpus=two\n", "3",
               "[sandbox] cpus: 'two' is not a whole number in 1-64");
    expect_bad("[sandbox]\ncpus=65\n", "2", "in 1-64");
    expect_bad("[sandbox]\nmemory=64\n", "2", "in 128-");
    expect_bad("[sandbox]\ndisk=-1\n", "2", "in 0-1024");
    expect_bad("[sandbox]\nttl=soon\n", "2", "[sandbox] ttl: duration 'soon' is invalid");
    expect_bad("[sandbox]\nimage=Debian\n", "2", "[sandbox] image: image name");
    expect_bad("[sandbox]\nimage=debian-12@sha256:abc\n", "2", "NAME@sha256:<64 hex>");
    expect_bad("[sandbox]\nimage=debian-12@md5:0123\n", "2", "NAME@sha256:<64 hex>");
    expect_bad("[sandbox]\nlabels=a=b;nokv\n", "2",
               "[sandbox] labels: label 'nokv' is not KEY=VALUE");
    expect_bad("[network]\nmode=open\n", "2", "use isolated, none or allow");
    expect_bad("[network]\nallow=example.com:80\n", "2", "[network] allow: allow entry");
    expect_bad("[sandbox]\ncpus=1\n[sshd]\nx=1\n", "3",
               "unknown group [sshd] (allowed: sandbox, network, secrets, env, cloud-init, "
               "model-gateway)");
    expect_bad("[secrets]\nfile=nope.env\n", "2", "secrets file");
    expect_bad("[secrets]\nfile=/x\nmode=1\n", "3",
               "unknown key 'mode' in [secrets] (allowed: file, deny)");
    expect_bad("[secrets]\n\ndeny=ok;(unclosed\n", "3",
               "deny pattern '(unclosed' is not a valid regular expression");
    expect_bad("[cloud-init]\nparts=missing.yaml\n", "2", "[cloud-init] parts: cloud-init part");
    expect_bad("[cloud-init]\nuser-data=x\n", "2", "(allowed: parts)");
    expect_bad("[env]\n1BAD=x\n", "2", "env key '1BAD' is invalid");
    expect_bad("[sandbox]\nthis is not a key file\n", "2", "");
    expect_bad("[sandbox]\nmax-copy-size=lots\n", "2", "[sandbox] max-copy-size: size 'lots'");
    expect_bad("[sandbox]\nmax-copy-size=0\n", "2", "max-copy-size");
    expect_bad("[sandbox]\nmax-copy-size=99999999999T\n", "2", "max-copy-size");
    /* GKeyFile keeps the last of two keys and merges two groups: both are errors here. */
    expect_bad("[sandbox]\nmemory=1024\ncpus=1\nmemory=512\n", "4",
               "[sandbox] memory: given twice (first on line 2");
    expect_bad("[sandbox]\ncpus=1\n[network]\nmode=none\n[sandbox]\nmemory=512\n", "5",
               "[sandbox] appears twice (first on line 1");
}

/* Sizes for the copy-out cap: bytes or K/M/G/T (binary), never 0 or an overflow. */
static void
test_size(void)
{
    static const struct {
        const char *in;
        guint64 out; /* 0: refused */
    } cases[] = {
        {"4096", 4096},  {"1K", 1024},  {"100M", 100 << 20}, {"1G", 1 << 30}, {"2GiB", 2ULL << 30},
        {"1g", 1 << 30}, {"512B", 512}, {"1T", 1ULL << 40},  {"0", 0},        {"", 0},
        {"-1", 0},       {"1.5G", 0},   {"1X", 0},           {"G", 0},        {"16777216T", 0},
        {"1 G", 0},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) err = NULL;
        guint64 v = 0;
        gboolean ok = vmm_spec_parse_size(cases[i].in, &v, &err);
        g_test_message("'%s'", cases[i].in);
        g_assert_cmpint(ok, ==, cases[i].out != 0);
        if (ok)
            g_assert_cmpuint(v, ==, cases[i].out);
        else
            g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    {
        g_autofree char *path = write_tmp("s.conf", "[sandbox]\nmax-copy-size = 300M\n");
        g_autoptr(VmmSpec) spec = vmm_spec_new();
        g_assert_cmpuint(spec->max_copy_bytes, ==, 0); /* the default, decided by the copy */
        g_assert_true(vmm_spec_load_file(spec, path, NULL));
        g_assert_cmpuint(spec->max_copy_bytes, ==, 300 << 20);
    }
}

static void
test_set_image(void)
{
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autofree char *pin = g_strdup_printf("debian-12@sha256:%064d", 7);

    g_assert_true(vmm_spec_set_image(spec, pin, NULL));
    g_assert_cmpstr(spec->image, ==, "debian-12");
    g_assert_true(g_str_has_prefix(spec->image_digest, "sha256:0000"));
    g_assert_true(vmm_spec_set_image(spec, "other", NULL));
    g_assert_null(spec->image_digest);
    g_assert_false(vmm_spec_set_image(spec, "debian-12@", NULL));
    g_assert_false(vmm_spec_set_image(spec, "@sha256:00", NULL));
}

/* ---- cloud-init parts ---- */

static void
part_ok(const char *text)
{
    g_autoptr(GError) err = NULL;

    if (!vmm_cloud_part_check("p.yaml", text, strlen(text), &err))
        g_error("refused: %s\n%s", err->message, text);
}

static void
part_bad(const char *text, const char *words)
{
    g_autoptr(GError) err = NULL;

    g_assert_false(vmm_cloud_part_check("p.yaml", text, strlen(text), &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_test_message("%s", err->message);
    if (!g_str_has_prefix(err->message, "p.yaml:") || !strstr(err->message, words))
        g_error("'%s' does not say '%s'", err->message, words);
}

static void
test_parts(void)
{
    part_ok("#cloud-config\n");
    part_ok("#cloud-config\npackages: [jq, curl]\n");
    part_ok(
        "#cloud-config\nwrite_files:\n- path: /etc/x\n  content: |\n    path: /etc/resolv.conf\n"
        "    &anchor *alias !tag\n  owner: root:root\n");
    part_ok("#cloud-config\nwrite_files:\n  - path: /run/airlocked/x\n    content: y\n");
    part_ok("#cloud-config\nruncmd:\n  - [sh, -c, 'cat /run/airlock/secrets.env | wc -l']\n");

    part_ok("#cloud-config\r\nx: 1\r\n"); /* CRLF line ends are fine */
    part_bad("", "#cloud-config");
    part_bad("#!/bin/sh\necho hi\n", "p.yaml:1: must start with the line #cloud-config");
    part_bad("## template: jinja\n#cloud-config\n", "#cloud-config");
    part_bad("#cloud-config\nfoo:\n\tbar: 1\n", "p.yaml:3: tab in indentation");
    part_bad("#cloud-config\n---\nx: 1\n", "p.yaml:2: expected a top-level 'key: value'");
    part_bad("#cloud-config\n- a\n", "p.yaml:2: expected a top-level");
    part_bad("#cloud-config\n{write_files: []}\n", "expected a top-level");
    part_bad("#cloud-config\nhostname: evil\n", "p.yaml:2: key 'hostname' is set by airlock");
    part_bad("#cloud-config\nmerge_how: list(replace)\n", "key 'merge_how' is set by airlock");
    part_bad("#cloud-config\nmanage_resolv_conf: true\n", "key 'manage_resolv_conf'");
    part_bad("#cloud-config\nwrite_files:\n  - path: /run/airlock/secrets.env\n",
             "p.yaml:3: path '/run/airlock/secrets.env' is reserved");
    part_bad("#cloud-config\nwrite_files:\n  - content: x\n    path: /etc/resolv.conf\n",
             "reserved");
    part_bad("#cloud-config\nwrite_files:\n  - content: |\n      x\n    path: /etc/resolv.conf\n",
             "p.yaml:5: path");
    part_bad("#cloud-config\nwrite_files:\n  - path: '/etc/profile.d/airlock.sh'\n", "reserved");
    part_bad("#cloud-config\nwrite_files:\n  - \"path\": \"/usr/local/sbin/airlock-with-env\"\n",
             "reserved");
    part_bad("#cloud-config\nwrite_files:\n  - path: /var/run/airlock/env\n",
             "path '/run/airlock/env'");
    part_bad("#cloud-config\nwrite_files:\n  - path: /etc/../run//./airlock/x\n",
             "path '/run/airlock/x'");
    part_bad("#cloud-config\nwrite_files:\n  - path: run/airlock\n", "reserved");
    part_bad("#cloud-config\nwrite_files:\n  - path: /run\n", "reserved");
    part_bad("#cloud-config\nwrite_files:\n  - path: /run/systemd/resolve/stub-resolv.conf\n",
             "reserved");
    part_bad("#cloud-config\nwrite_files: [{path: /etc/ok}, {path: /etc/resolv.conf}]\n",
             "reserved");
    part_bad("#cloud-config\nwrite_files:\n  - path: \"/run/\\x61irlock/x\"\n", "escapes");
    part_bad("#cloud-config\nwrite_files:\n  - path: \"/run/air\\\n      lock/x\"\n", "escapes");
    part_bad("#cloud-config\nwrite_files:\n  - path: '/run/air\n      lock/x'\n", "one line");
    part_bad("#cloud-config\nx: &p /run/airlock/x\nwrite_files:\n  - path: *p\n",
             "p.yaml:2: YAML anchors");
    part_bad("#cloud-config\nwrite_files:\n  - path: !!str /run/airlock/x\n",
             "YAML anchors, aliases, tags");
    part_bad("#cloud-config\nwrite_files:\n  - ? path\n    : /run/airlock/x\n", "'? ' keys");
    part_bad("#cloud-config\nwrite_files:\n  - \"\\x70ath\": /run/airlock/x\n", "escapes");
    {
        g_autofree char *big = g_strnfill(VMM_SPEC_PART_MAX + 1, 'a');
        memcpy(big, "#cloud-config\n", 14);
        part_bad(big, "larger than");
    }
    {
        g_autoptr(GError) err = NULL;
        g_assert_false(vmm_cloud_part_check("p.yaml", "#cloud-config\n\0x: 1\n", 20, &err));
        g_assert_nonnull(strstr(err->message, "NUL"));
        g_clear_error(&err);
        g_assert_false(vmm_cloud_part_check("p.yaml", "#cloud-config\nx: \xff\n", 18, &err));
        g_assert_nonnull(strstr(err->message, "UTF-8"));
    }
}

/* A part may not carry a secret's value (it would land in cloud-init's logs). */
static void
test_parts_secrets(void)
{
    g_autoptr(GPtrArray) parts =
        g_ptr_array_new_with_free_func((GDestroyNotify)vmm_cloud_part_free);
    g_autoptr(VmmSecrets) secrets = vmm_secrets_new();
    g_autoptr(GError) err = NULL;
    VmmCloudPart *p = g_new0(VmmCloudPart, 1);

    p->path = g_strdup("extra.yaml");
    p->text = g_strdup("#cloud-config\nbootcmd:\n  - echo s3cr3t-value >/dev/console\n");
    g_ptr_array_add(parts, p);
    g_assert_true(vmm_secrets_add(secrets, "TOKEN", "other", NULL));
    g_assert_true(vmm_seed_check_parts(parts, secrets, NULL));
    g_assert_true(vmm_secrets_add(secrets, "API_KEY", "s3cr3t-value", NULL));
    g_assert_false(vmm_seed_check_parts(parts, secrets, &err));
    g_assert_cmpstr(err->message, ==,
                    "extra.yaml:3: holds the value of secret 'API_KEY' (secrets reach the guest "
                    "only in /run/airlock/secrets.env: read them there)");
}

/* The hash covers the pin, the parts' content and the secret names, in a stable way. */
static void
test_hash(void)
{
    g_autofree char *path = data_path("full.conf");
    g_autoptr(VmmSpec) a = vmm_spec_new();
    g_autoptr(VmmSpec) b = vmm_spec_new();
    g_autoptr(VmmSpec) plain = vmm_spec_new();
    const char *names1[] = {"B", "A", NULL}, *names2[] = {"A", "B", NULL}, *names3[] = {"A", NULL};
    g_autofree char *ha = NULL, *hb = NULL, *h1 = NULL, *h2 = NULL, *h3 = NULL, *hp = NULL;
    g_autofree char *hp2 = NULL;
    VmmCloudPart *part;

    g_assert_true(vmm_spec_load_file(a, path, NULL));
    g_assert_true(vmm_spec_load_file(b, path, NULL));
    ha = vmm_spec_hash(a);
    hb = vmm_spec_hash(b);
    g_assert_cmpstr(ha, ==, hb);
    h1 = vmm_spec_hash_full(a, names1);
    h2 = vmm_spec_hash_full(a, names2);
    h3 = vmm_spec_hash_full(a, names3);
    g_assert_cmpstr(h1, ==, h2);
    g_assert_cmpstr(h1, !=, h3);
    g_assert_cmpstr(h1, !=, ha);

    /* another pin */
    g_free(b->image_digest);
    b->image_digest = g_strdup_printf("sha256:%064d", 0);
    g_clear_pointer(&hb, g_free);
    hb = vmm_spec_hash(b);
    g_assert_cmpstr(ha, !=, hb);
    /* another part content */
    part = g_ptr_array_index(a->parts, 1);
    g_free(part->sha256);
    part->sha256 = g_strdup_printf("%064d", 1);
    g_clear_pointer(&hb, g_free);
    hb = vmm_spec_hash(a);
    g_assert_cmpstr(ha, !=, hb);

    /* a spec without the new keys keeps the hash it had before they existed */
    hp = vmm_spec_hash(plain);
    hp2 = vmm_spec_hash_full(plain, NULL);
    g_assert_cmpstr(hp, ==, hp2);
    g_assert_cmpstr(hp, ==, "f6a92bd81b3ed48df0cb8a0c28357bde89b54f7b17a3f47b5829de832171e687");
}

/* `airlock spec check`: 0 valid, 2 invalid with one line on stderr; --json says which. */
static void
run_check(const char *file, gboolean json, int want_rc, const char *want)
{
    const char *airlock = g_getenv("AIRLOCK");
    const char *argv[] = {airlock, "spec", "check", file, json ? "--json" : NULL, NULL};
    g_autofree char *out = NULL, *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = -1;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                               &status, &error));
    g_assert_no_error(error);
    g_test_message("%s%s", out, err);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, want_rc);
    if (!json && want_rc) {
        g_auto(GStrv) lines = g_strsplit(g_strchomp(err), "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 1);
    }
    if (!strstr(json || !want_rc ? out : err, want))
        g_error("'%s%s' does not say '%s'", out, err, want);
}

static void
test_cli_check(void)
{
    g_autofree char *dir = g_dir_make_tmp("airlock-test-spec-XXXXXX", NULL);
    g_autofree char *conf = g_build_filename(dir, "s.conf", NULL);
    g_autofree char *bad = g_build_filename(dir, "bad.conf", NULL);
    g_autofree char *secrets = g_build_filename(dir, "secrets.env", NULL);
    g_autofree char *part = g_build_filename(dir, "extra.yaml", NULL);

    if (!g_getenv("AIRLOCK") || !g_file_test(g_getenv("AIRLOCK"), G_FILE_TEST_IS_EXECUTABLE)) {
        g_test_skip("AIRLOCK (the built airlock binary) is not set: run through make check");
        return;
    }
    g_setenv("AIRLOCK_STATE_DIR", dir, TRUE); /* no image installed: the pin is not checked */
    g_assert_true(g_file_set_contents(secrets, "API_KEY=test-value-1\n", -1, NULL));
    g_assert_cmpint(g_chmod(secrets, 0600), ==, 0);
    g_assert_true(g_file_set_contents(part, "#cloud-config\npackages: [jq]\n", -1, NULL));
    g_assert_true(
        g_file_set_contents(conf,
                            "[sandbox]\nimage=debian-12@sha256:"
                            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
                            "[secrets]\nfile=secrets.env\n[cloud-init]\nparts=extra.yaml\n",
                            -1, NULL));
    run_check(conf, FALSE, 0, ": valid (spec hash ");
    run_check(conf, TRUE, 0, "\"secret_names\" : [\n    \"API_KEY\"");
    g_assert_true(g_file_set_contents(bad, "[sandbox]\ncpus=1\nmemroy=512\n", -1, NULL));
    run_check(bad, FALSE, 2, "bad.conf:3: unknown key 'memroy' in [sandbox]");
    run_check(bad, TRUE, 2, "\"valid\" : false");
    /* a secrets file others can read is invalid too */
    g_assert_cmpint(g_chmod(secrets, 0644), ==, 0);
    run_check(conf, FALSE, 2, "chmod 600");
    g_assert_true(g_file_set_contents(secrets,
                                      "K="
                                      "AKIA"
                                      "ABCDEFGHIJKLMNOP\n",
                                      -1, NULL));
    g_assert_cmpint(g_chmod(secrets, 0600), ==, 0);
    run_check(conf, FALSE, 2, "secrets.env:1: secret 'K' looks like a real credential");
    run_check("/nonexistent/spec.conf", FALSE, 2, "No such file");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/spec/full", test_full);
    g_test_add_func("/spec/deny-empty", test_deny_empty);
    g_test_add_func("/spec/errors", test_errors);
    g_test_add_func("/spec/set-image", test_set_image);
    g_test_add_func("/spec/size", test_size);
    g_test_add_func("/spec/parts", test_parts);
    g_test_add_func("/spec/parts-secrets", test_parts_secrets);
    g_test_add_func("/spec/hash", test_hash);
    g_test_add_func("/spec/cli-check", test_cli_check);
    return g_test_run();
}
