/*
 * test-command: the host-program runner, for real (/bin/sh).
 */
#include <config.h>

#include "command.h"
#include "error.h"

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

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/command/run-stdin", test_run_stdin);
    g_test_add_func("/command/run-failure", test_run_failure);
    g_test_add_func("/command/run-missing", test_run_missing);
    g_test_add_func("/command/run-bound", test_run_bound);
    g_test_add_func("/command/run-pass-fd", test_run_pass_fd);
    return g_test_run();
}
