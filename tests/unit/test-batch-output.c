/* test-batch-output: the output directory is written without following planted links, files
 * are 0640, and job logs are redacted as they are written, not at the end. */
#include <config.h>

#include "batch-output.h"
#include "error.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *
make_tmp(void)
{
    return g_dir_make_tmp("airlock-out-XXXXXX", NULL);
}

static void
rm_rf(const char *dir)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
    g_assert_cmpint(system(cmd), ==, 0);
}

static char *
read_file(const char *dir, const char *rel)
{
    g_autofree char *path = g_build_filename(dir, rel, NULL);
    char *data = NULL;

    g_assert_true(g_file_get_contents(path, &data, NULL, NULL));
    return data;
}

/* A link planted where a log or report goes is replaced, its target left alone; modes 0640. */
static void
test_planted_links(void)
{
    g_autofree char *tmp = make_tmp();
    g_autofree char *out = g_build_filename(tmp, "results", NULL);
    g_autofree char *logs = g_build_filename(out, "logs", NULL);
    g_autofree char *victim = g_build_filename(tmp, "victim", NULL);
    g_autofree char *planted = g_build_filename(logs, "job.stdout", NULL);
    g_autofree char *planted2 = g_build_filename(out, "results.json", NULL);
    g_autoptr(VmmBatchOutput) o = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *v = NULL, *r = NULL;
    mode_t old = umask(0);
    struct stat sb;
    int fd;

    g_assert_cmpint(g_mkdir_with_parents(logs, 0750), ==, 0);
    g_assert_true(g_file_set_contents(victim, "precious", -1, NULL));
    g_assert_cmpint(symlink(victim, planted), ==, 0);
    g_assert_cmpint(symlink(victim, planted2), ==, 0);

    o = vmm_batch_output_open(out, &err);
    g_assert_no_error(err);
    fd = vmm_batch_output_create_log(o, "job.stdout", &err);
    g_assert_no_error(err);
    g_assert_cmpint(write(fd, "log\n", 4), ==, 4);
    close(fd);
    g_assert_true(vmm_batch_output_write(o, "results.json", "{}\n", &err));
    g_assert_no_error(err);

    v = read_file(tmp, "victim");
    g_assert_cmpstr(v, ==, "precious");
    r = read_file(out, "logs/job.stdout");
    g_assert_cmpstr(r, ==, "log\n");
    g_assert_cmpint(lstat(planted, &sb), ==, 0);
    g_assert_true(S_ISREG(sb.st_mode));
    g_assert_cmpint(sb.st_mode & 07777, ==, 0640);
    g_assert_cmpint(lstat(planted2, &sb), ==, 0);
    g_assert_true(S_ISREG(sb.st_mode));
    g_assert_cmpint(sb.st_mode & 07777, ==, 0640);
    /* Directories it makes are 0750, whatever the umask. */
    g_assert_cmpint(lstat(out, &sb), ==, 0);
    g_assert_cmpint(sb.st_mode & 07777, ==, 0750);
    {
        g_autofree char *adir = g_build_filename(out, "artifacts", "job", NULL);
        int afd = vmm_batch_output_artifacts_dir(o, "job", &err);
        g_assert_no_error(err);
        g_assert_cmpint(afd, >=, 0);
        close(afd);
        g_assert_cmpint(lstat(adir, &sb), ==, 0);
        g_assert_cmpint(sb.st_mode & 07777, ==, 0750);
    }
    umask(old);
    rm_rf(tmp);
}

/* Directories another user could write to, or links to directories, are refused. */
static void
test_refused_dirs(void)
{
    g_autofree char *tmp = make_tmp();
    g_autofree char *open_dir = g_build_filename(tmp, "open", NULL);
    g_autofree char *link = g_build_filename(tmp, "link", NULL);
    g_autofree char *real = g_build_filename(tmp, "real", NULL);
    g_autofree char *logs_link = g_build_filename(real, "logs", NULL);
    g_autofree char *elsewhere = g_build_filename(tmp, "elsewhere", NULL);

    g_assert_cmpint(g_mkdir(open_dir, 0700), ==, 0);
    g_assert_cmpint(chmod(open_dir, 0777), ==, 0);
    g_assert_cmpint(g_mkdir(real, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(elsewhere, 0700), ==, 0);
    g_assert_cmpint(symlink(real, link), ==, 0);
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmBatchOutput) o = vmm_batch_output_open(open_dir, &err);
        g_assert_null(o);
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
        g_assert_nonnull(strstr(err->message, "writable by others"));
    }
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmBatchOutput) o = vmm_batch_output_open(link, &err);
        g_assert_null(o);
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    /* logs/ as a link to another directory: refused too. */
    g_assert_cmpint(symlink(elsewhere, logs_link), ==, 0);
    {
        g_autoptr(GError) err = NULL;
        g_autoptr(VmmBatchOutput) o = vmm_batch_output_open(real, &err);
        g_assert_null(o);
        g_assert_error(err, VMM_ERROR, VMM_ERROR_INVALID);
    }
    rm_rf(tmp);
}

/* A secret split over two writes never reaches the file, at any moment; nor the tail. */
static void
test_redact_streaming(void)
{
    g_autofree char *tmp = make_tmp();
    g_autoptr(VmmBatchOutput) o = NULL;
    g_autoptr(VmmSecrets) secrets = vmm_secrets_new();
    g_autoptr(GError) err = NULL;
    const char *chunks[] = {"token: hunt", "er2-sec", "ret; short: hunter2-", "x; ",
                            "pw=abc\0d hunter2-secret!\n"};
    gsize lens[] = {11, 7, 20, 3, 25};
    VmmBatchTail tail;
    VmmBatchLog *log;
    g_autofree char *final = NULL, *text = NULL;
    gsize len = 0;
    int fd;

    g_assert_true(vmm_secrets_add(secrets, "TOKEN", "hunter2-secret", &err));
    g_assert_true(vmm_secrets_add(secrets, "PW", "abc\1", &err));  /* not matched: \0 in output */
    g_assert_true(vmm_secrets_add(secrets, "SHORT", "abc", &err)); /* < 4 bytes: left alone */
    o = vmm_batch_output_open(tmp, &err);
    g_assert_no_error(err);
    fd = vmm_batch_output_create_log(o, "j.stdout", &err);
    g_assert_cmpint(fd, >=, 0);
    vmm_batch_tail_init(&tail, 4096);
    log = vmm_batch_log_new(fd, secrets, &tail);
    for (gsize i = 0; i < G_N_ELEMENTS(chunks); i++) {
        g_autofree char *now = NULL;
        g_autofree char *path = g_build_filename(tmp, "logs", "j.stdout", NULL);
        vmm_batch_log_write(log, chunks[i], lens[i]);
        /* While the job runs, the file is readable: it must already be clean. */
        g_assert_true(g_file_get_contents(path, &now, NULL, NULL));
        g_assert_null(strstr(now, "hunter2-secret"));
        g_assert_null(strstr(now, "er2-secret"));
    }
    vmm_batch_log_close(log);
    {
        g_autofree char *path = g_build_filename(tmp, "logs", "j.stdout", NULL);
        g_assert_true(g_file_get_contents(path, &final, &len, NULL));
    }
    g_assert_cmpmem(final, len, "token: ***; short: hunter2-x; pw=abc\0d ***!\n", 44);
    g_assert_cmpmem(tail.buf->str, tail.buf->len, final, len);
    text = vmm_batch_tail_text(&tail);
    g_assert_null(strstr(text, "hunter2-secret"));
    vmm_batch_tail_clear(&tail);
    rm_rf(tmp);
}

/* At the end of the stream, held-back bytes that turned out not to be a secret come out. */
static void
test_redact_flush(void)
{
    g_autoptr(VmmSecrets) secrets = vmm_secrets_new();
    g_autoptr(GError) err = NULL;
    VmmBatchTail tail;
    VmmBatchLog *log;

    g_assert_true(vmm_secrets_add(secrets, "K", "s3cr3t-value", &err));
    vmm_batch_tail_init(&tail, 4096);
    log = vmm_batch_log_new(-1, secrets, &tail);
    vmm_batch_log_write(log, "ends with s3cr3t-va", 19);
    g_assert_cmpstr(tail.buf->str, ==, "ends with ");
    vmm_batch_log_close(log);
    g_assert_cmpstr(tail.buf->str, ==, "ends with s3cr3t-va");
    vmm_batch_tail_clear(&tail);

    /* No secrets: bytes pass straight through. */
    vmm_batch_tail_init(&tail, 4096);
    log = vmm_batch_log_new(-1, NULL, &tail);
    vmm_batch_log_write(log, "plain", 5);
    g_assert_cmpstr(tail.buf->str, ==, "plain");
    vmm_batch_log_close(log);
    vmm_batch_tail_clear(&tail);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/batch-output/planted-links", test_planted_links);
    g_test_add_func("/batch-output/refused-dirs", test_refused_dirs);
    g_test_add_func("/batch-output/redact-streaming", test_redact_streaming);
    g_test_add_func("/batch-output/redact-flush", test_redact_flush);
    return g_test_run();
}
