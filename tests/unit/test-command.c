/*
 * test-command: the host-program runner, for real (/bin/sh), and every nft and qemu-img run
 * of the library through its dry-run hook, argv and stdin against golden files.
 */
#include <config.h>

#include "command.h"
#include "error.h"
#include "image.h"
#include "nft.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit/golden.h"

/* ---- VmmCommand itself, running /bin/sh ---- */

static VmmCommand *
sh(const char *script)
{
    VmmCommand *cmd = vmm_command_new("/bin/sh");
    const char *args[] = {"-c", script, NULL};

    vmm_command_add_argv(cmd, args);
    return cmd;
}

static void
test_run_stdin(void)
{
    g_autoptr(VmmCommand) cmd = sh("cat; echo to-stderr >&2");
    g_autoptr(VmmCommand) big = sh("cat");
    g_autoptr(GError) err = NULL;
    g_autoptr(GString) input = g_string_new(NULL);
    g_autofree char *out = NULL;
    int status = -1;

    vmm_command_set_stdin(cmd, "one\ntwo\n");
    g_assert_true(vmm_command_run(cmd, &status, &err));
    g_assert_no_error(err);
    g_assert_cmpint(status, ==, 0);
    g_assert_cmpstr(vmm_command_get_stdout(cmd), ==, "one\ntwo\n");
    g_assert_cmpstr(vmm_command_get_stderr(cmd), ==, "to-stderr\n");
    out = vmm_command_steal_stdout(cmd);
    g_assert_cmpstr(out, ==, "one\ntwo\n");
    g_assert_cmpstr(vmm_command_get_stdout(cmd), ==, "");

    /* More than a pipe holds, both ways at once: written and read without a deadlock. */
    while (input->len < (1u << 20))
        g_string_append(input, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n");
    vmm_command_set_stdin(big, input->str);
    g_assert_true(vmm_command_run(big, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(vmm_command_get_stdout(big), ==, input->str);
}

static void
test_run_failure(void)
{
    g_autoptr(VmmCommand) fail = sh("echo 'first line' >&2; echo second >&2; exit 3");
    g_autoptr(VmmCommand) status_only = sh("echo 'first line' >&2; exit 3");
    g_autoptr(VmmCommand) quiet = sh("exit 4");
    g_autoptr(VmmCommand) hostile =
        sh("printf '  bad\\033[31m\\tred\\342\\200\\256x\\nnext\\n' >&2; "
           "exit 1");
    g_autoptr(VmmCommand) killed = sh("kill -9 $$");
    g_autoptr(VmmCommand) unread = sh("exit 0");
    g_autoptr(GError) err = NULL;
    g_autofree char *lots = g_strnfill(1u << 20, 'x');
    int status = -1;

    g_assert_false(vmm_command_run(fail, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_assert_cmpstr(err->message, ==, "/bin/sh failed: first line");
    g_clear_error(&err);

    /* Asked for the status, an exit is not an error: the caller decides. */
    g_assert_true(vmm_command_run(status_only, &status, &err));
    g_assert_no_error(err);
    g_assert_cmpint(status, ==, 3);
    g_assert_cmpstr(vmm_command_get_stderr(status_only), ==, "first line\n");

    g_assert_false(vmm_command_run(quiet, NULL, &err));
    g_assert_cmpstr(err->message, ==, "/bin/sh failed with exit status 4");
    g_clear_error(&err);

    /* Only the first line, and escaped: no escape sequence or bidi override reaches a terminal. */
    g_assert_false(vmm_command_run(hostile, NULL, &err));
    g_assert_cmpstr(err->message, ==, "/bin/sh failed: bad\\x1b[31m\\tred\\xe2\\x80\\xaex");
    g_clear_error(&err);

    g_assert_false(vmm_command_run(killed, &status, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_assert_cmpstr(err->message, ==, "/bin/sh was killed by signal 9");
    g_clear_error(&err);

    /* A program that never reads its stdin: the write fails, SIGPIPE does not kill the test. */
    vmm_command_set_stdin(unread, lots);
    g_assert_true(vmm_command_run(unread, NULL, &err));
    g_assert_no_error(err);
}

static void
test_run_missing(void)
{
    g_autoptr(VmmCommand) odd = vmm_command_new("/nonexistent/airlock-no-such-program");
    g_autoptr(VmmCommand) nft = vmm_command_new("nft");
    g_autoptr(VmmCommand) qemu_img = vmm_command_new("qemu-img");
    g_autoptr(GError) err = NULL;
    g_autofree char *path = g_strdup(g_getenv("PATH"));
    g_autofree char *empty = g_dir_make_tmp("airlock-test-XXXXXX", NULL);

    g_assert_false(vmm_command_run(odd, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_assert_cmpstr(err->message, ==,
                    "cannot run /nonexistent/airlock-no-such-program: not installed");
    g_clear_error(&err);

    /* A PATH without them: what to install is named. */
    g_setenv("PATH", empty, TRUE);
    g_assert_false(vmm_command_run(nft, NULL, &err));
    g_assert_cmpstr(err->message, ==, "cannot run nft (install the Debian package nftables)");
    g_clear_error(&err);
    g_assert_false(vmm_command_run(qemu_img, NULL, &err));
    g_assert_cmpstr(err->message, ==,
                    "cannot run qemu-img (install the Debian package qemu-utils)");
    g_setenv("PATH", path, TRUE);
    g_rmdir(empty);
}

static void
test_run_bound(void)
{
    g_autoptr(VmmCommand) flood = sh("yes | head -c 100000");
    g_autoptr(VmmCommand) noisy = sh("yes no | head -c 100000 >&2; echo done");
    g_autoptr(GError) err = NULL;

    /* A cut listing is never read as a whole one: too much stdout fails the run. */
    vmm_command_set_output_max(flood, 1000);
    g_assert_false(vmm_command_run(flood, NULL, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_assert_cmpstr(err->message, ==, "/bin/sh printed more than 1000 bytes: stopped");
    g_assert_cmpuint(strlen(vmm_command_get_stdout(flood)), ==, 1000);
    g_clear_error(&err);

    /* Too much stderr is only cut. */
    vmm_command_set_output_max(noisy, 1000);
    g_assert_true(vmm_command_run(noisy, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(strlen(vmm_command_get_stderr(noisy)), ==, 1000);
    g_assert_cmpstr(vmm_command_get_stdout(noisy), ==, "done\n");
}

static void
test_run_pass_fd(void)
{
    g_autoptr(VmmCommand) cmd = sh("cat <&3; ls /proc/self/fd >&2");
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = NULL;
    g_auto(GStrv) fds = NULL;
    int fd = g_file_open_tmp("airlock-test-XXXXXX", &tmp, NULL);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, "through fd 3\n", 13), ==, 13);
    g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
    vmm_command_pass_fd(cmd, fd, 3);
    g_assert_true(vmm_command_run(cmd, NULL, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(vmm_command_get_stdout(cmd), ==, "through fd 3\n");
    /* The program has 0, 1, 2, 3 and the directory ls reads: none of the runner's own fds. */
    fds = g_strsplit(g_strstrip((char *)vmm_command_get_stderr(cmd)), "\n", -1);
    g_assert_cmpuint(g_strv_length(fds), ==, 5);
    /* The caller's fd is still the caller's. */
    g_assert_cmpint(fcntl(fd, F_GETFD), >=, 0);
    close(fd);
    unlink(tmp);
}

/* ---- every run of the library, through the dry-run hook ---- */

typedef struct {
    GString *log;    /* each call, as a shell line with its stdin as a here-document */
    const char *tmp; /* written $TMP in the log */
    int status;      /* what each call returns */
    const char *out;
    const char *err;
} Recorder;

static int
record(const VmmCommandCall *call, char **out, char **err, gpointer data)
{
    Recorder *r = data;
    g_autoptr(GString) line = g_string_new("$");
    g_autofree char *text = NULL;

    for (const char *const *a = call->argv; *a; a++) {
        gboolean plain = **a && strspn(*a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789_@%+=:,./-") == strlen(*a);
        g_autofree char *quoted = plain ? g_strdup(*a) : g_shell_quote(*a);
        g_string_append_printf(line, " %s", quoted);
    }
    for (guint i = 0; i < call->n_fds; i++)
        g_string_append_printf(line, " %d<&(passed)", call->fds[i]);
    if (call->input)
        g_string_append(line, " <<'EOF'");
    g_string_append_c(line, '\n');
    if (call->input)
        g_string_append_printf(line, "%s%sEOF\n", call->input,
                               g_str_has_suffix(call->input, "\n") ? "" : "\n");
    if (r->tmp)
        g_string_replace(line, r->tmp, "$TMP", 0);
    g_string_append(r->log, line->str);
    *out = g_strdup(r->out);
    *err = g_strdup(r->err);
    return r->status;
}

static Recorder *
recorder_start(void)
{
    Recorder *r = g_new0(Recorder, 1);

    r->log = g_string_new(NULL);
    vmm_command_set_dry_run(record, r);
    return r;
}

/* Stops recording: programs run again. */
static void
recorder_stop(Recorder *r)
{
    vmm_command_set_dry_run(NULL, NULL);
    g_string_free(r->log, TRUE);
    g_free(r);
}

/* Compares the calls recorded with tests/data/command/@file, and stops recording. */
static void
recorder_check(Recorder *r, const char *file)
{
    golden_check(r->log->str, "command", file);
    recorder_stop(r);
}

static const VmmNftConfig nft_base = {.name = "eval-3",
                                      .bridge = "al12345678",
                                      .tap = "at12345678",
                                      .mac = "52:54:00:aa:bb:cc",
                                      .guest_ip = "10.213.7.2/24",
                                      .host_ip = "10.213.7.1",
                                      .dns = TRUE};

static void
test_nft_apply(void)
{
    const char *allow[] = {"host:8080", "192.168.1.10:443", NULL};
    VmmNftConfig with_allow = nft_base;
    g_autoptr(GError) err = NULL;
    g_autofree char *isolated = vmm_nft_ruleset_build(&nft_base, &err);
    g_autofree char *allowed = NULL;
    Recorder *r;

    with_allow.allow = allow;
    allowed = vmm_nft_ruleset_build(&with_allow, &err);
    g_assert_no_error(err);
    r = recorder_start();
    g_assert_true(vmm_nft_apply(isolated, &err));
    g_assert_no_error(err);
    recorder_check(r, "nft-apply-isolated.txt");
    r = recorder_start();
    g_assert_true(vmm_nft_apply(allowed, &err));
    g_assert_no_error(err);
    recorder_check(r, "nft-apply-allow.txt");

    /* nft's complaint, first line only, is the error. */
    r = recorder_start();
    r->status = 1;
    r->err = "Error: Could not process rule: No such file or directory\nadd table netdev x\n";
    g_assert_false(vmm_nft_apply(isolated, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_assert_cmpstr(err->message, ==,
                    "nft failed: Error: Could not process rule: No such file or directory");
    g_clear_error(&err);
    r->status = -1;
    g_assert_false(vmm_nft_apply(isolated, &err));
    g_assert_cmpstr(err->message, ==, "cannot run nft (install the Debian package nftables)");
    recorder_stop(r);
}

static void
test_nft_remove(void)
{
    g_autoptr(GError) err = NULL;
    gboolean existed = FALSE;
    Recorder *r = recorder_start();

    g_assert_true(vmm_nft_remove("eval-3", &existed, &err));
    g_assert_no_error(err);
    g_assert_true(existed);
    recorder_check(r, "nft-remove.txt");

    /* The listing fails when there is no table: not an error, and nothing existed. */
    r = recorder_start();
    r->status = 1;
    r->err = "Error: No such file or directory\n";
    g_assert_false(vmm_nft_remove("eval-3", &existed, &err));
    g_assert_false(existed);
    g_clear_error(&err);
    recorder_stop(r);
}

static void
test_nft_read(void)
{
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) allow = NULL;
    g_auto(GStrv) tables = NULL;
    gint64 ip = -1, l2 = -1;
    Recorder *r = recorder_start();

    r->out =
        "table netdev airlock_eval_3 {\n\tcounter dropped_l2 {\n\t\tpackets 2 bytes 120\n\t}\n}\n"
        "table bridge airlock_eval_3 {\n\tcounter dropped_l2 {\n\t\tpackets 3 bytes 180\n\t}\n}\n"
        "table inet airlock_eval_3 {\n\tcounter dropped {\n\t\tpackets 7 bytes 420\n\t}\n}\n";
    g_assert_true(vmm_nft_drops("eval-3", &ip, &l2, &err));
    g_assert_no_error(err);
    g_assert_cmpint(ip, ==, 7);
    g_assert_cmpint(l2, ==, 5);
    recorder_check(r, "nft-drops.txt");

    r = recorder_start();
    r->out = "table inet airlock_eval_3 {\n\tchain input {\n"
             "\t\tip daddr 10.213.7.1 tcp dport 8080 ct state new accept comment \"allow\"\n"
             "\t\tcounter name \"dropped\" drop\n\t}\n}\n";
    allow = vmm_nft_allow_list("eval-3", &err);
    g_assert_no_error(err);
    g_assert_cmpstr(allow[0], ==, "10.213.7.1:8080");
    g_assert_null(allow[1]);
    recorder_check(r, "nft-allow-list.txt");

    r = recorder_start();
    r->out = "table inet filter\ntable netdev airlock_eval_3\ntable bridge airlock_eval_3\n"
             "table inet airlock_eval_3\ntable inet airlock_web_1\ntable inet airlock_Bad_\n";
    tables = vmm_nft_list_tables(&err);
    g_assert_no_error(err);
    g_assert_cmpuint(g_strv_length(tables), ==, 2);
    g_assert_cmpstr(tables[0], ==, "eval-3");
    g_assert_cmpstr(tables[1], ==, "web-1");
    recorder_check(r, "nft-list-tables.txt");
}

static void
test_qemu_img(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *tmp = g_dir_make_tmp("airlock-test-XXXXXX", NULL);
    g_autofree char *overlay = g_build_filename(tmp, "overlay.qcow2", NULL);
    g_autoptr(GPtrArray) chain = g_ptr_array_new();
    const char *base = "/var/lib/airlock/images/debian-12/disk.qcow2";
    struct stat st;
    Recorder *r;
    int fd;

    /* The fake qemu-img writes nothing: the file is there before, and made 0600 after. */
    r = recorder_start();
    r->tmp = tmp;
    g_assert_true(g_file_set_contents(overlay, "", 0, NULL));
    g_assert_true(vmm_image_create_overlay(base, overlay, 0, &err));
    g_assert_no_error(err);
    g_assert_cmpint(stat(overlay, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    recorder_check(r, "qemu-img-create.txt");

    r = recorder_start();
    r->tmp = tmp;
    g_assert_true(vmm_image_create_overlay(base, overlay, 20, &err));
    g_assert_no_error(err);
    recorder_check(r, "qemu-img-create-size.txt");

    /* A failed create leaves no overlay behind. */
    r = recorder_start();
    r->status = 1;
    r->err = "qemu-img: overlay.qcow2: Could not open backing file\n";
    g_assert_false(vmm_image_create_overlay(base, overlay, 0, &err));
    g_assert_error(err, VMM_ERROR, VMM_ERROR_HOST);
    g_assert_true(g_str_has_suffix(
        err->message, "overlay.qcow2: qemu-img failed: qemu-img: overlay.qcow2: Could not open "
                      "backing file"));
    g_assert_false(g_file_test(overlay, G_FILE_TEST_EXISTS));
    g_clear_error(&err);
    recorder_stop(r);

    /* The evidence export reads the overlay through fd 3, its chain spelled out. */
    g_ptr_array_add(chain, (gpointer) "/var/lib/airlock/sandboxes/eval-3/snapshots/s1.qcow2");
    g_ptr_array_add(chain, (gpointer)base);
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    r = recorder_start();
    g_assert_true(vmm_image_export_overlay(fd, chain, base,
                                           "/var/lib/airlock/archive/eval-3-20261126T180000Z/"
                                           "disk.qcow2",
                                           &err));
    g_assert_no_error(err);
    recorder_check(r, "qemu-img-convert.txt");
    close(fd);
    g_rmdir(tmp);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/command/run-stdin", test_run_stdin);
    g_test_add_func("/command/run-failure", test_run_failure);
    g_test_add_func("/command/run-missing", test_run_missing);
    g_test_add_func("/command/run-bound", test_run_bound);
    g_test_add_func("/command/run-pass-fd", test_run_pass_fd);
    g_test_add_func("/command/nft-apply", test_nft_apply);
    g_test_add_func("/command/nft-remove", test_nft_remove);
    g_test_add_func("/command/nft-read", test_nft_read);
    g_test_add_func("/command/qemu-img", test_qemu_img);
    return g_test_run();
}
