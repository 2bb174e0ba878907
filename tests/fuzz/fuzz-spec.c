/* fuzz-spec: the spec file parser and validator never crash, leak or accept garbage silently. */
#include <config.h>

#include "spec.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *path = NULL;
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_autoptr(GError) err = NULL;
    int fd = g_file_open_tmp("airlock-fuzz-spec-XXXXXX", &path, NULL);

    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    if (vmm_spec_load_file(spec, path, &err) && vmm_spec_validate(spec, &err)) {
        g_autofree char *hash = vmm_spec_hash(spec);
        if (!hash || strlen(hash) != 64)
            abort();
    } else if (!err || !err->message || strchr(err->message, '\n')) {
        abort(); /* every refusal is one line */
    }
    unlink(path);
    return 0;
}
