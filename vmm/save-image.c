/* save-image.c: a libvirt save image's name and UUID rewritten in its header (save-image.h). */
#include <config.h>

#include "save-image.h"
#include "error.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* libvirt's virQEMUSaveHeader (src/qemu/qemu_saveimage.h), host byte order. */
typedef struct {
    char magic[16];
    guint32 version;
    guint32 data_len;
    guint32 was_running;
    guint32 compressed;
    guint32 cookie_offset;
    guint32 unused[14];
} SaveHeader;

G_STATIC_ASSERT(sizeof(SaveHeader) == 92);

#define DATA_MAX (16u << 20) /* a domain XML and cookie are a few KiB; libvirt pads 64 KiB */

static gboolean
unsupported(GError **error, const char *why)
{
    g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "save image not in the expected format: %s",
                why);
    return FALSE;
}

static gboolean
read_full(int fd, void *buf, gsize len, off_t off)
{
    gsize done = 0;

    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        done += (gsize)n;
    }
    return TRUE;
}

static gboolean
write_full(int fd, const void *buf, gsize len, off_t off)
{
    gsize done = 0;

    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return FALSE;
        done += (gsize)n;
    }
    return TRUE;
}

/*
 * The element <@tag>…</@tag> that is a direct child of <domain>: the first
 * one after the domain's start tag, before any <devices> or <metadata>
 * (libvirt writes name and uuid first). Sets *@start/@end around its text.
 */
static gboolean
find_element(const char *xml, const char *tag, gsize *start, gsize *end)
{
    g_autofree char *open = g_strdup_printf("<%s>", tag);
    g_autofree char *close = g_strdup_printf("</%s>", tag);
    const char *dom = strstr(xml, "<domain");
    const char *o, *c, *first_child_block;

    if (!dom)
        return FALSE;
    o = strstr(dom, open);
    first_child_block = strstr(dom, "<metadata");
    if (!first_child_block ||
        (strstr(dom, "<devices") && strstr(dom, "<devices") < first_child_block))
        first_child_block = strstr(dom, "<devices");
    if (!o || (first_child_block && o > first_child_block))
        return FALSE;
    o += strlen(open);
    c = strstr(o, close);
    if (!c || memchr(o, '<', c - o))
        return FALSE;
    *start = o - xml;
    *end = c - xml;
    return TRUE;
}

gboolean
vmm_save_image_libvirt_known(unsigned long version)
{
    unsigned long major = version / 1000000;

    return major >= 7 && major <= 11;
}

gboolean
vmm_save_image_rename(int fd, const char *name, const char *uuid, GError **error)
{
    SaveHeader h;
    g_autofree char *data = NULL, *out = NULL;
    gsize xml_len, cookie_len = 0, ns, ne, us, ue, pos = 0, new_xml_len;

    /* Only characters that need no XML escaping reach the text. */
    if (!*name || strlen(name) > 64 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(name)) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "not a domain name airlock makes: %s",
                    name);
        return FALSE;
    }
    if (strlen(uuid) != 36 || strspn(uuid, "0123456789abcdef-") != 36) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID, "not a UUID: %s", uuid);
        return FALSE;
    }
    if (!read_full(fd, &h, sizeof(h), 0))
        return unsupported(error, "shorter than its header");
    if (memcmp(h.magic, VMM_SAVE_IMAGE_MAGIC, sizeof(h.magic)) != 0)
        return unsupported(error, "wrong magic (a partial or foreign file)");
    if (h.version != VMM_SAVE_IMAGE_VERSION)
        return unsupported(error, "header version is not 2");
    if (h.compressed != 0)
        return unsupported(error, "compressed");
    if (h.data_len == 0 || h.data_len > DATA_MAX)
        return unsupported(error, "XML area of an unexpected size");
    data = g_malloc(h.data_len + 1);
    if (!read_full(fd, data, h.data_len, sizeof(h)))
        return unsupported(error, "XML area cut short");
    data[h.data_len] = '\0';
    xml_len = strlen(data);
    if (xml_len == h.data_len)
        return unsupported(error, "XML not terminated");
    if (h.cookie_offset) {
        if (h.cookie_offset != xml_len + 1)
            return unsupported(error, "cookie not right after the XML");
        cookie_len = strlen(data + h.cookie_offset);
        if (h.cookie_offset + cookie_len >= h.data_len)
            return unsupported(error, "cookie not terminated");
    }
    if (!find_element(data, "name", &ns, &ne) || !find_element(data, "uuid", &us, &ue))
        return unsupported(error, "no domain name or uuid");

    /* The XML with both texts replaced, then the cookie, then zeros to data_len. */
    new_xml_len = xml_len - (ne - ns) - (ue - us) + strlen(name) + strlen(uuid);
    if (new_xml_len + 1 + (h.cookie_offset ? cookie_len + 1 : 0) > h.data_len)
        return unsupported(error, "no room for the new name");
    out = g_malloc0(h.data_len);
    {
        struct {
            gsize s, e;
            const char *text;
        } r[2] = {{ns, ne, name}, {us, ue, uuid}};
        gsize at = 0;
        if (us < ns) {
            r[0] = (typeof(r[0])){us, ue, uuid};
            r[1] = (typeof(r[1])){ns, ne, name};
        }
        for (int i = 0; i < 2; i++) {
            memcpy(out + pos, data + at, r[i].s - at);
            pos += r[i].s - at;
            memcpy(out + pos, r[i].text, strlen(r[i].text));
            pos += strlen(r[i].text);
            at = r[i].e;
        }
        memcpy(out + pos, data + at, xml_len - at);
        pos += xml_len - at;
    }
    g_assert(pos == new_xml_len);
    pos++; /* NUL */
    if (h.cookie_offset) {
        memcpy(out + pos, data + h.cookie_offset, cookie_len);
        h.cookie_offset = (guint32)pos;
    }
    if (!write_full(fd, out, h.data_len, sizeof(h)) || !write_full(fd, &h, sizeof(h), 0) ||
        fdatasync(fd) != 0) {
        g_set_error(error, VMM_ERROR, VMM_ERROR_FAILED, "cannot rewrite the save image: %s",
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}
