/* test-secrets: loading, refusing, redacting and wiping test secrets. */
#include <config.h>

#include "error.h"
#include "secrets.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Appears only in values: an error message that contains it leaked a value. */
#define CANARY "CANARY-9f3a1c"

typedef struct {
    char *dir;
} Fixture;

static void
fixture_setup(Fixture *fx, gconstpointer data)
{
    g_autoptr(GError) err = NULL;

    fx->dir = g_dir_make_tmp("airlock-secrets-XXXXXX", &err);
    g_assert_no_error(err);
}

static void
fixture_teardown(Fixture *fx, gconstpointer data)
{
    g_autoptr(GDir) d = g_dir_open(fx->dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(fx->dir, name, NULL);
        g_remove(p);
    }
    g_rmdir(fx->dir);
    g_free(fx->dir);
}

/* Writes @content to @name in the fixture's directory with @mode; returns the path. */
static char *
write_file(Fixture *fx, const char *name, const char *content, mode_t mode)
{
    g_autoptr(GError) err = NULL;
    char *path = g_build_filename(fx->dir, name, NULL);

    g_assert_true(
        g_file_set_contents_full(path, content, -1, G_FILE_SET_CONTENTS_NONE, mode, &err));
    g_assert_no_error(err);
    g_assert_cmpint(chmod(path, mode), ==, 0);
    return path;
}

/* Loads @path expecting an INVALID error whose message holds @needle and no value. */
static void
expect_refused(const char *path, const char *needle)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSecrets) s = vmm_secrets_load(path, &err);

    g_assert_null(s);
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_test_message("error: %s", err->message);
    if (needle)
        g_assert_nonnull(strstr(err->message, needle));
    g_assert_null(strstr(err->message, CANARY));
    g_assert_null(strstr(err->message, "9f3a1c"));
    g_assert_null(strchr(err->message, '\n'));
}

static void
test_load_good(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = write_file(fx, "good.env",
                                       "# test secrets\n"
                                       "\n"
                                       "   \n"
                                       "  # indented comment\n"
                                       "OPENAI_API_KEY=sk-test-123\n"
                                       "b_2=va=lue with spaces and 'quotes' $X\n"
                                       "EMPTY=\n"
                                       "_X=1",
                                       0600);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSecrets) s = vmm_secrets_load(path, &err);
    g_auto(GStrv) names = NULL;

    g_assert_no_error(err);
    g_assert_nonnull(s);
    g_assert_cmpuint(vmm_secrets_count(s), ==, 4);
    g_assert_cmpstr(vmm_secrets_key(s, 0), ==, "OPENAI_API_KEY");
    g_assert_cmpstr(vmm_secrets_value(s, 0), ==, "sk-test-123");
    g_assert_cmpstr(vmm_secrets_key(s, 1), ==, "b_2");
    g_assert_cmpstr(vmm_secrets_value(s, 1), ==, "va=lue with spaces and 'quotes' $X");
    g_assert_cmpstr(vmm_secrets_value(s, 2), ==, "");
    g_assert_cmpstr(vmm_secrets_key(s, 3), ==, "_X");
    g_assert_cmpstr(vmm_secrets_value(s, 3), ==, "1");

    names = vmm_secrets_names(s);
    g_assert_cmpuint(g_strv_length(names), ==, 4);
    g_assert_cmpstr(names[0], ==, "EMPTY");
    g_assert_cmpstr(names[1], ==, "OPENAI_API_KEY");
    g_assert_cmpstr(names[2], ==, "_X");
    g_assert_cmpstr(names[3], ==, "b_2");
}

static void
test_load_empty(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = write_file(fx, "empty.env", "", 0600);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSecrets) s = vmm_secrets_load(path, &err);
    g_auto(GStrv) names = NULL;

    g_assert_no_error(err);
    g_assert_cmpuint(vmm_secrets_count(s), ==, 0);
    names = vmm_secrets_names(s);
    g_assert_cmpuint(g_strv_length(names), ==, 0);
}

static void
test_missing(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = g_build_filename(fx->dir, "nope.env", NULL);

    expect_refused(path, "not found (create it with KEY=VALUE lines, mode 0600)");
}

static void
test_mode(Fixture *fx, gconstpointer data)
{
    const mode_t modes[] = {0644, 0640, 0604, 0660, 0601};

    for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
        g_autofree char *path = write_file(fx, "open.env", "K=" CANARY "\n", modes[i]);
        g_autofree char *fix = g_strdup_printf("(chmod 600 %s)", path);

        expect_refused(path, "is readable by group or others");
        expect_refused(path, fix);
    }
}

static void
test_symlink(Fixture *fx, gconstpointer data)
{
    g_autofree char *target = write_file(fx, "real.env", "K=" CANARY "\n", 0600);
    g_autofree char *link = g_build_filename(fx->dir, "link.env", NULL);

    g_assert_cmpint(symlink(target, link), ==, 0);
    expect_refused(link, "symlink");
}

static void
test_not_regular(Fixture *fx, gconstpointer data)
{
    g_autofree char *sub = g_build_filename(fx->dir, "subdir", NULL);
    g_autofree char *fifo = g_build_filename(fx->dir, "fifo", NULL);

    g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
    expect_refused(sub, "not a regular file");
    /* A FIFO must be refused, not block the load. */
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    expect_refused(fifo, "not a regular file");
}

static void
test_owner(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = write_file(fx, "other.env", "K=" CANARY "\n", 0600);

    if (geteuid() != 0) {
        g_test_skip("needs root to give a file to another user");
        return;
    }
    g_assert_cmpint(chown(path, 65534, 65534), ==, 0);
    expect_refused(path, "owned by uid 65534");
    {
        g_autoptr(GError) err = NULL;
        g_autofree char *fix = g_strdup_printf("(chown %u %s)", (unsigned)geteuid(), path);
        g_assert_null(vmm_secrets_load(path, &err));
        g_assert_nonnull(strstr(err->message, fix));
    }
}

static void
test_malformed(Fixture *fx, gconstpointer data)
{
    const char *bad[] = {
        "GOOD=1\n" CANARY "\n",            /* no '=' at all: maybe a pasted value */
        "GOOD=1\n1BAD=" CANARY "\n",       /* key starts with a digit */
        "GOOD=1\nBAD KEY=" CANARY "\n",    /* space in the key */
        "GOOD=1\nBAD-KEY=" CANARY "\n",    /* dash in the key */
        "GOOD=1\n=" CANARY "\n",           /* empty key */
        "GOOD=1\n export K=" CANARY "\n",  /* shell syntax is not accepted */
        "GOOD=1\nK\xc3\xa9Y=" CANARY "\n", /* non-ASCII key */
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *path = write_file(fx, "bad.env", bad[i], 0600);
        g_autofree char *where =
            g_strdup_printf("%s:2: expected KEY=VALUE with KEY of A-Z, a-z, 0-9, _", path);

        expect_refused(path, where);
    }
}

static void
test_long_key(Fixture *fx, gconstpointer data)
{
    g_autofree char *key64 = g_strnfill(64, 'K');
    g_autofree char *key65 = g_strnfill(65, 'K');
    g_autofree char *ok = g_strconcat(key64, "=v\n", NULL);
    g_autofree char *bad = g_strconcat(key65, "=" CANARY "\n", NULL);
    g_autofree char *p1 = write_file(fx, "k64.env", ok, 0600);
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSecrets) s = vmm_secrets_load(p1, &err);
    g_autofree char *p2 = NULL;

    g_assert_no_error(err);
    g_assert_cmpuint(vmm_secrets_count(s), ==, 1);
    p2 = write_file(fx, "k65.env", bad, 0600);
    expect_refused(p2, ":1: expected KEY=VALUE");
}

static void
test_duplicate(Fixture *fx, gconstpointer data)
{
    g_autofree char *path =
        write_file(fx, "dup.env", "API_KEY=first-" CANARY "\n# c\nAPI_KEY=" CANARY "\n", 0600);
    g_autofree char *where = g_strdup_printf("%s:3:", path);

    expect_refused(path, where);
    expect_refused(path, "'API_KEY'");
    expect_refused(path, "line 1");
}

static void
test_nul(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = g_build_filename(fx->dir, "nul.env", NULL);
    const char content[] = "K=" CANARY "\0" CANARY "\n";
    g_autoptr(GError) err = NULL;

    g_assert_true(g_file_set_contents_full(path, content, sizeof(content) - 1,
                                           G_FILE_SET_CONTENTS_NONE, 0600, &err));
    expect_refused(path, ":1: contains a NUL byte");
}

static void
test_add(void)
{
    g_autoptr(VmmSecrets) s = vmm_secrets_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(vmm_secrets_add(s, "A", "one", &err));
    g_assert_true(vmm_secrets_add(s, "B", "two", &err));
    g_assert_true(vmm_secrets_add(s, "A", "uno", &err));
    g_assert_no_error(err);
    g_assert_cmpuint(vmm_secrets_count(s), ==, 2);
    g_assert_cmpstr(vmm_secrets_value(s, 0), ==, "uno");
    g_assert_false(vmm_secrets_add(s, "NOT VALID", CANARY, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    g_assert_null(strstr(err->message, CANARY));
    g_assert_cmpuint(vmm_secrets_count(s), ==, 2);
}

static void
test_valid_key(void)
{
    g_autofree char *k64 = g_strnfill(64, 'a');
    g_autofree char *k65 = g_strnfill(65, 'a');
    const char *ok[] = {"A", "_", "a1", "OPENAI_API_KEY", "_9", k64};
    const char *bad[] = {"", "1A", "A-B", "A B", "A=B", "\xc3\xa9", "A\n", k65};

    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++)
        g_assert_true(vmm_secrets_valid_key(ok[i]));
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_false(vmm_secrets_valid_key(bad[i]));
    g_assert_false(vmm_secrets_valid_key(NULL));
}

static void
test_redact(void)
{
    g_autoptr(VmmSecrets) s = vmm_secrets_new();
    g_autofree char *r1 = NULL, *r2 = NULL, *r3 = NULL, *r4 = NULL;

    g_assert_true(vmm_secrets_add(s, "TOKEN", "sk-abc", NULL));
    g_assert_true(vmm_secrets_add(s, "LONG", "sk-abc-and-more", NULL));
    g_assert_true(vmm_secrets_add(s, "SHORT", "abc", NULL));
    g_assert_true(vmm_secrets_add(s, "EMPTY", "", NULL));

    r1 = vmm_secrets_redact(s, "key=sk-abc and sk-abc, long=sk-abc-and-more; abc stays");
    g_assert_cmpstr(r1, ==, "key=*** and ***, long=***; abc stays");
    r2 = vmm_secrets_redact(s, "");
    g_assert_cmpstr(r2, ==, "");
    r3 = vmm_secrets_redact(NULL, "sk-abc");
    g_assert_cmpstr(r3, ==, "sk-abc");
    r4 = vmm_secrets_redact(s, "no secret here");
    g_assert_cmpstr(r4, ==, "no secret here");
    g_assert_null(vmm_secrets_redact(s, NULL));
}

static void
test_free(void)
{
    VmmSecrets *s = vmm_secrets_new();
    g_auto(GStrv) names = NULL;

    vmm_secrets_free(NULL);
    g_assert_cmpuint(vmm_secrets_count(NULL), ==, 0);
    names = vmm_secrets_names(NULL);
    g_assert_cmpuint(g_strv_length(names), ==, 0);
    g_assert_true(vmm_secrets_add(s, "ZED", "z-value", NULL));
    g_assert_true(vmm_secrets_add(s, "ALPHA", "a-value", NULL));
    g_assert_true(vmm_secrets_add(s, "MID", "m-value", NULL));
    g_strfreev(names);
    names = vmm_secrets_names(s);
    g_assert_cmpstr(names[0], ==, "ALPHA");
    g_assert_cmpstr(names[1], ==, "MID");
    g_assert_cmpstr(names[2], ==, "ZED");
    g_assert_null(names[3]);
    /* The wipe itself is checked under valgrind/ASan; here: free is clean. */
    vmm_secrets_free(s);
}

/* ---- deny list ---- */

/* Values shaped like real credentials (assembled so that no scanner flags this file). */
static char *
fake(const char *prefix, char c, guint n)
{
    g_autofree char *tail = g_strnfill(n, c);
    return g_strconcat(prefix, tail, NULL);
}

static void
test_deny_defaults(Fixture *fx, gconstpointer data)
{
    struct {
        const char *key;
        char *value;
    } real[] = {
        {"AWS_ACCESS_KEY_ID", fake("AKIA", 'Q', 16)},
        {"AWS_SESSION", fake("ASIA", '7', 16)},
        {"GH_TOKEN", fake("ghp_", 'a', 36)},
        {"GH_PAT", fake("github_pat_", 'b', 30)},
        {"SLACK", fake("xoxb-", '1', 20)},
        {"OPENAI_API_KEY", fake("sk-", 'c', 40)},
        {"PROJECT_KEY", fake("sk-proj-", 'd', 40)},
        {"GOOGLE", fake("AIza", 'e', 35)},
        {"GITLAB", fake("glpat-", 'f', 20)},
        {"PEM", g_strdup("-----BEGIN OPENSSH PRIVATE KEY-----")},
    };

    for (guint i = 0; i < G_N_ELEMENTS(real); i++) {
        g_autofree char *content =
            g_strdup_printf("# test\nOK=fine-value\n%s=%s\n", real[i].key, real[i].value);
        g_autofree char *path = write_file(fx, "deny.env", content, 0600);
        g_autoptr(VmmSecrets) s = vmm_secrets_load(path, NULL);
        g_autoptr(GError) err = NULL;
        g_autofree char *want =
            g_strdup_printf("%s:3: secret '%s' looks like a real credential", path, real[i].key);
        const char *none[] = {NULL};

        g_assert_nonnull(s);
        g_assert_false(vmm_secrets_check_deny(s, NULL, &err));
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        if (!g_str_has_prefix(err->message, want))
            g_error("'%s' does not start with '%s'", err->message, want);
        g_assert_null(strstr(err->message, real[i].value));
        /* `deny=` (empty) disables the defaults */
        g_assert_true(vmm_secrets_check_deny(s, none, NULL));
        g_remove(path);
        g_free(real[i].value);
    }
}

static void
test_deny_custom(Fixture *fx, gconstpointer data)
{
    g_autofree char *path = write_file(fx, "c.env", "A=test-" CANARY "\nB=prod-" CANARY "\n", 0600);
    g_autoptr(VmmSecrets) s = vmm_secrets_load(path, NULL);
    g_autoptr(GError) err = NULL;
    const char *custom[] = {"^prod-", NULL};
    const char *bad[] = {"(", NULL};
    g_autofree char *short_sk = fake("sk-", 'x', 10);

    /* test-looking values pass the defaults */
    g_assert_true(vmm_secrets_check_deny(s, NULL, NULL));
    g_assert_false(vmm_secrets_check_deny(s, custom, &err));
    g_assert_nonnull(strstr(err->message, ":2: secret 'B' looks like"));
    g_assert_null(strstr(err->message, CANARY));
    g_clear_error(&err);
    g_assert_false(vmm_secrets_check_deny(s, bad, &err));
    g_assert_nonnull(strstr(err->message, "not a valid regular expression"));
    g_assert_true(vmm_secrets_deny_valid("AKIA[0-9A-Z]{16}", NULL));
    g_assert_false(vmm_secrets_deny_valid("[", NULL));
    /* every default compiles */
    for (const char *const *d = vmm_secrets_default_deny(); *d; d++)
        g_assert_true(vmm_secrets_deny_valid(*d, NULL));
    /* short look-alikes and code-added secrets (no file:line) */
    {
        g_autoptr(VmmSecrets) t = vmm_secrets_new();
        g_autofree char *ak = fake("AKIA", 'Z', 16);
        g_assert_true(vmm_secrets_add(t, "SHORT", short_sk, NULL));
        g_assert_true(vmm_secrets_check_deny(t, NULL, NULL));
        g_assert_true(vmm_secrets_add(t, "K", ak, NULL));
        g_clear_error(&err);
        g_assert_false(vmm_secrets_check_deny(t, NULL, &err));
        g_assert_true(g_str_has_prefix(err->message, "secret 'K' looks like"));
    }
    g_assert_true(vmm_secrets_check_deny(NULL, NULL, NULL));
}

static void
test_check_absent(void)
{
    g_autoptr(VmmSecrets) s = vmm_secrets_new();
    g_autoptr(GError) err = NULL;

    g_assert_true(vmm_secrets_add(s, "TINY", "abc", NULL)); /* < 4 bytes: not searched */
    g_assert_true(vmm_secrets_add(s, "TOKEN", CANARY, NULL));
    g_assert_true(vmm_secrets_check_absent(s, "abc abc\nnothing here\n", "p.yaml", NULL));
    g_assert_false(vmm_secrets_check_absent(s, "one\ntwo\nx" CANARY "y\n", "p.yaml", &err));
    g_assert_cmpstr(err->message, ==,
                    "p.yaml:3: holds the value of secret 'TOKEN' (secrets reach the guest only in "
                    "/run/airlock/secrets.env: read them there)");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD_FX(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD_FX("/secrets/load/good", test_load_good);
    ADD_FX("/secrets/load/empty", test_load_empty);
    ADD_FX("/secrets/refuse/missing", test_missing);
    ADD_FX("/secrets/refuse/mode", test_mode);
    ADD_FX("/secrets/refuse/symlink", test_symlink);
    ADD_FX("/secrets/refuse/not-regular", test_not_regular);
    ADD_FX("/secrets/refuse/owner", test_owner);
    ADD_FX("/secrets/refuse/malformed", test_malformed);
    ADD_FX("/secrets/refuse/long-key", test_long_key);
    ADD_FX("/secrets/refuse/duplicate", test_duplicate);
    ADD_FX("/secrets/refuse/nul", test_nul);
    ADD_FX("/secrets/deny/defaults", test_deny_defaults);
    ADD_FX("/secrets/deny/custom", test_deny_custom);
#undef ADD_FX
    g_test_add_func("/secrets/add", test_add);
    g_test_add_func("/secrets/valid-key", test_valid_key);
    g_test_add_func("/secrets/redact", test_redact);
    g_test_add_func("/secrets/free", test_free);
    g_test_add_func("/secrets/check-absent", test_check_absent);
    return g_test_run();
}
