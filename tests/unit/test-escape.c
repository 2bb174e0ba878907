/* test-escape: guest bytes become one safe, bounded line. */
#include <config.h>

#include "escape.h"
#include "sandbox.h"

#include <glib/gstdio.h>

#include <string.h>

/* No byte a terminal acts on: no C0, no DEL, no C1 (raw or UTF-8 encoded), valid UTF-8. */
static void
assert_safe(const char *s)
{
    g_assert_true(g_utf8_validate(s, -1, NULL));
    for (const char *p = s; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        g_assert_true(c >= 0x20 && c != 0x7f && !(c >= 0x80 && c <= 0x9f));
        g_assert_true(c != 0x2028 && c != 0x2029 && !(c >= 0x202a && c <= 0x202e));
    }
}

static void
test_cases(void)
{
    static const struct {
        const char *in;
        gssize len;
        const char *out;
    } cases[] = {
        {"plain text: 'a' \"b\" 42%", -1, "plain text: 'a' \"b\" 42%"},
        {"no such file\nairlock: fake line", -1, "no such file\\nairlock: fake line"},
        {"\x1b[2J\x1b]0;title\x07", -1, "\\x1b[2J\\x1b]0;title\\x07"},
        {"tab\there\r", -1, "tab\\there\\r"},
        {"back\\slash", -1, "back\\\\slash"},
        {"del\x7f", -1, "del\\x7f"},
        {"nul\0byte", 8, "nul\\x00byte"},
        {"caf\xc3\xa9 \xe2\x80\x99ok\xe2\x80\x99", -1, "caf\xc3\xa9 \xe2\x80\x99ok\xe2\x80\x99"},
        {"bad \xff\xfe utf8 \xc3", -1, "bad \\xff\\xfe utf8 \\xc3"},
        {"overlong \xc0\xaf", -1, "overlong \\xc0\\xaf"},
        {"8-bit csi \x9b"
         "31m",
         -1, "8-bit csi \\x9b31m"},
        {"c1 \xc2\x9b"
         "31m",
         -1, "c1 \\xc2\\x9b31m"},
        {"bidi \xe2\x80\xae"
         "txt",
         -1, "bidi \\xe2\\x80\\xaetxt"},
        {"line\xe2\x80\xa8sep", -1, "line\\xe2\\x80\\xa8sep"},
        {"", -1, ""},
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *got = vmm_escape(cases[i].in, cases[i].len, 4096);
        g_test_message("case %zu: %s", i, got);
        g_assert_cmpstr(got, ==, cases[i].out);
        assert_safe(got);
    }
    {
        g_autofree char *null = vmm_escape(NULL, -1, 100);
        g_assert_cmpstr(null, ==, "");
    }
}

static void
test_bounded(void)
{
    g_autofree char *big = g_strnfill(100000, '\x1b');
    g_autofree char *got = vmm_escape(big, -1, 300);
    g_autofree char *cut = NULL;

    g_assert_cmpuint(strlen(got), <=, 300 + strlen("…"));
    g_assert_true(g_str_has_suffix(got, "…"));
    /* Whole escapes only: never a cut "\x1" at the end. */
    g_assert_true(g_str_has_suffix(got, "\\x1b…"));
    assert_safe(got);
    /* A multi-byte character is kept whole or dropped whole. */
    cut = vmm_escape("abcdefghijklmno\xc3\xa9xyz", -1, 16);
    g_assert_cmpstr(cut, ==, "abcdefghijklmno…");
    assert_safe(cut);
}

/* Every byte value, alone and in pairs: the result is always safe. */
static void
test_all_bytes(void)
{
    for (int a = 0; a < 256; a++)
        for (int b = 0; b < 256; b += 7) {
            char in[3] = {(char)a, (char)b, (char)0xa9};
            g_autofree char *got = vmm_escape(in, 3, 64);
            assert_safe(got);
        }
}

/* The console tail quoted in a create error is the guest's text: no escape sequence, no fake line.
 */
static void
test_console_tail(void)
{
    g_autofree char *dir = g_dir_make_tmp("airlock-tail-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "console.log", NULL);
    const char log[] = "boot ok\n\x1b]0;owned\x07\x1b[2J\x9b31m\xe2\x80\xaeevil\r\n"
                       "line\0two\nairlock: sandbox ready\r\n";
    g_autofree char *tail = NULL;

    g_assert_true(g_file_set_contents(path, log, sizeof log - 1, NULL));
    tail = vmm_sandbox_console_tail(path, 4);
    for (const char *p = tail; *p; p++)
        g_assert_cmpint((guchar)*p, >=, 0x20);
    g_assert_null(strstr(tail, "\xe2\x80\xae")); /* right-to-left override */
    g_assert_nonnull(strstr(tail, "\\x1b"));
    g_assert_nonnull(strstr(tail, "boot ok | "));
    g_assert_nonnull(strstr(tail, " | airlock: sandbox ready"));
    g_unlink(path);
    g_rmdir(dir);
}

/* Text of many lines (the API's console and DNS tails): lines kept, every control gone. */
static void
test_text(void)
{
    const char in[] = "boot ok\r\nline\ttab\x1b[2J\x07\r\x7f\xc2\x9b"
                      "31m\xe2\x80\xae"
                      "evil\xe2\x80\xa8"
                      "\0bad\xff\xc3\xa9t\xc3\xa9\n";
    g_autofree char *out = vmm_escape_text(in, sizeof in - 1);

    g_assert_true(g_utf8_validate(out, -1, NULL));
    g_assert_cmpstr(out, ==,
                    "boot ok\nline\ttab?[2J????31m?evil?\xef\xbf\xbd"
                    "bad\xef\xbf\xbd\xc3\xa9t\xc3\xa9\n");
    for (guint b = 0; b < 0x100; b++) {
        char one[2] = {(char)b, 0};
        g_autofree char *o = vmm_escape_text(one, 1);
        for (const char *p = o; *p; p++)
            g_assert_true((guchar)*p >= 0x20 || *p == '\n' || *p == '\t');
    }
    g_free(vmm_escape_text(NULL, 0));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/escape/console-tail", test_console_tail);
    g_test_add_func("/escape/cases", test_cases);
    g_test_add_func("/escape/bounded", test_bounded);
    g_test_add_func("/escape/all-bytes", test_all_bytes);
    g_test_add_func("/escape/text", test_text);
    return g_test_run();
}
