/* tar.h: directory trees over the API as ustar archives (files, directories, symlinks). */
#pragma once

#include <glib.h>

/*
 * Unpacks the ustar archive @data under the directory @dirfd (hostile input:
 * nothing outside @dirfd is created or followed, nothing overwritten; at most
 * @max_members members). INVALID with the member's name when it is refused.
 */
gboolean vmm_tar_unpack(const guint8 *data, gsize len, int dirfd, guint max_members,
                        GError **error);

/*
 * The tree under @dirfd as a ustar archive (sorted names, permission bits,
 * owner 0; fifos, sockets and devices left out), at most @max bytes. Caller frees.
 */
GBytes *vmm_tar_pack(int dirfd, gsize max, GError **error);
