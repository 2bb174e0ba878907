/* guest-channel-private.h: what guest-channel.c and guest-files.c share (not an API). */
#pragma once

#include "guest-channel.h"
#include "guest-proto.h"

struct _VmmGuestConn {
    int fd, lock_fd, port;
    GByteArray *in; /* at most AG_HEADER_LEN + AG_FRAME_MAX unparsed bytes */
    gsize consumed; /* bytes at the start of @in that the last frame returned took */
    guint8 nonce[AG_NONCE_LEN];
    guint32 next_sid, fixup_sid;
    guint version;
    guint32 features; /* the HELLO's AG_FEATURE_* mask */
    char *peer;
};

/* Sends @out whole (emptied on success). */
gboolean vmm_guest_send(VmmGuestConn *conn, GByteArray *out, GError **error);
gboolean vmm_guest_send_frame(VmmGuestConn *conn, guint16 type, guint32 sid, const void *data,
                              gsize len, GError **error);

/* A frame already read: 1 (*@f valid until the next call), 0 none, -1 garbage (@error). */
int vmm_guest_buffered(VmmGuestConn *conn, VmmGuestFrame *f, GError **error);

/* Reads what the socket has (bounded); FALSE when it closed. */
gboolean vmm_guest_fill(VmmGuestConn *conn, GError **error);

/* The next frame, waiting until @deadline (monotonic µs; 0: no limit). */
gboolean vmm_guest_next(VmmGuestConn *conn, VmmGuestFrame *f, gint64 deadline, GError **error);

/* Turns an ERROR frame into @error (FALSE, always). */
gboolean vmm_guest_failed(const VmmGuestFrame *f, GError **error);
