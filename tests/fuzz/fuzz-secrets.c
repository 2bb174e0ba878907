/* fuzz-secrets: the secrets parser never crashes, leaks, or echoes a value in an error. */
#include <config.h>

#include "secrets.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *path = NULL;
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSecrets) s = NULL;
    int fd = g_file_open_tmp("airlock-fuzz-secrets-XXXXXX", &path, NULL);

    if (fd < 0)
        return 0;
    fchmod(fd, 0600);
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    s = vmm_secrets_load(path, &err);
    if (!s) {
        /* The error never quotes the file's content: no line of 6+ bytes appears in it. */
        g_autofree char *text = g_strndup((const char *)data, size);
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        if (!err || strchr(err->message, '\n'))
            abort();
        for (char **l = lines; *l; l++) {
            const char *eq = strchr(*l, '=');
            if (eq && strlen(eq + 1) >= 6 && strstr(err->message, eq + 1))
                abort();
        }
    } else {
        for (guint i = 0; i < vmm_secrets_count(s); i++) {
            g_autofree char *red = vmm_secrets_redact(s, vmm_secrets_value(s, i));
            if (strlen(vmm_secrets_value(s, i)) >= 4 && strstr(red, vmm_secrets_value(s, i)))
                abort();
        }
    }
    unlink(path);
    return 0;
}
