/*
 * protocol.h: the airlock-guest wire protocol (docs/guest-protocol.md), shared by the
 * guest program (guest/airlock-guest.c, no GLib) and the host (vmm/guest-proto.c).
 * Plain C: constants and little-endian helpers only.
 *
 * A frame: a 12-byte header (u32 payload length, u16 type, u16 flags = 0, u32 session
 * id; all little endian) and the payload. Every size is bounded by the constants here.
 */
#pragma once

#include <stdint.h>
#include <string.h>

#define AG_MAGIC "ALGUEST\0" /* 8 bytes, first in both HELLO payloads */
#define AG_MAGIC_LEN 8
#define AG_VERSION_MIN 1
#define AG_VERSION_MAX 1
#define AG_NONCE_LEN 16
#define AG_HEADER_LEN 12
#define AG_FRAME_MAX (1024u * 1024u)   /* payload bytes: a whole EXEC (argv, env) fits */
#define AG_DATA_MAX (64u * 1024u)      /* what a sender puts in one STDOUT/STDIN/DATA frame */
#define AG_STDIN_WINDOW (256u * 1024u) /* stdin bytes in flight per session (WINDOW credits) */
#define AG_TEXT_MAX 1024u              /* an ERROR message, a HELLO name */
#define AG_PATH_MAX 4096u              /* a path in PUT/GET/EXEC cwd, an ENTRY name or target */
#define AG_PING_MAX 64u
#define AG_PORTS 4 /* org.airlock.guest.0 .. .3 */
#define AG_PORT_PREFIX "org.airlock.guest."

/* Frame types. Host -> guest unless marked; "g>h" guest -> host; "both" either way. */
enum {
    AG_HELLO = 1,  /* both: handshake (host first; a new HELLO resets the port's sessions) */
    AG_ERROR = 2,  /* g>h: the session failed: u32 code, u32 errno, text */
    AG_CANCEL = 3, /* end the session now: SIGKILL its process group / abandon the transfer */
    AG_FIXUP = 4,  /* i64 seconds, i64 nanoseconds, 64 random bytes: clock + RNG reseed */
    AG_FIXED = 5,  /* g>h: the FIXUP was applied (empty) */
    AG_PING = 6,   /* at most AG_PING_MAX bytes, echoed in PONG: is the helper still there? */
    AG_PONG = 7,   /* g>h: the PING's payload */
    AG_IDENTITY =
        8, /* fields (AG_I_*): hostname, machine-id, env and secrets files (a warm start) */
    AG_IDENTIFIED = 9, /* g>h: the IDENTITY was applied (empty) */
    AG_EXEC = 16,      /* u32 flags, u32 timeout_ms, u16 rows, u16 cols, then fields (AG_F_*) */
    AG_STARTED = 17,   /* g>h: u32 pid */
    AG_STDIN = 18,     /* data; empty = end of input */
    AG_STDOUT = 19,    /* g>h: data (the pty's output in pty mode) */
    AG_STDERR = 20,    /* g>h: data */
    AG_SIGNAL = 21,    /* u32 signal number, sent to the process group */
    AG_RESIZE = 22,    /* u16 rows, u16 cols */
    AG_EXIT = 23,      /* g>h: i32 status (0-255, 128+N for signal N), u32 flags (AG_EXIT_*) */
    AG_WINDOW = 24,    /* g>h: u32 stdin bytes consumed (credit returned to the host) */
    AG_PUT = 32,       /* u32 flags (AG_PUT_*), path; then ENTRY/DATA... END */
    AG_GET = 33,       /* u32 flags (AG_GET_*), path; answered with ENTRY/DATA... END */
    AG_ENTRY = 34, /* both: u8 kind, 3 zero bytes, u32 mode, u64 size, u16 name len, name, target */
    AG_DATA = 35,  /* both: file content; empty = end of the current file */
    AG_END = 36,   /* both: end of the entry stream */
    AG_DONE = 37,  /* g>h: a PUT is complete: u64 bytes, u32 entries */
};

/* HELLO feature mask (the guest's answer): what this guest does beyond version 1's frames */
#define AG_FEATURE_IDENTITY 1u
/* AG_IDENTITY fields, as AG_EXEC's (u8 tag, u32 length, bytes); each at most once */
enum { AG_I_HOSTNAME = 1, AG_I_MACHINE_ID = 2, AG_I_ENV = 3, AG_I_SECRETS = 4 };
#define AG_HOSTNAME_MAX 64u

/* AG_EXEC flags */
#define AG_EXEC_PTY 1u         /* a terminal (stdout carries both streams) */
#define AG_EXEC_STDIN 2u       /* the host streams stdin; else stdin is /dev/null */
#define AG_EXEC_SANDBOX_ENV 4u /* the sandbox's env and secrets files (below), then the fields */
/* Where the seed puts them (VMM_SEED_ENV_PATH, VMM_SEED_SECRETS_PATH in vmm/seed.h). */
#define AG_ENV_FILE "/run/airlock/env"
#define AG_SECRETS_FILE "/run/airlock/secrets.env"
/* AG_EXEC fields: u8 tag, u32 length, bytes (no NUL inside) */
enum { AG_F_ARG = 1, AG_F_ENV = 2, AG_F_CWD = 3, AG_F_USER = 4, AG_F_GROUP = 5 };
#define AG_EXEC_ARGS_MAX 131072u /* arguments in one EXEC (the guest's table) */
#define AG_EXEC_ENV_MAX 4096u    /* environment entries in one EXEC */
/* AG_EXIT flags */
#define AG_EXIT_TIMEOUT 1u
/* AG_PUT / AG_GET flags */
#define AG_PUT_TREE 1u   /* a directory tree; else one file */
#define AG_PUT_MKDIRS 2u /* create missing parents of the path */
#define AG_GET_TREE 1u
/* AG_ENTRY kinds */
enum { AG_KIND_FILE = 1, AG_KIND_DIR = 2, AG_KIND_SYMLINK = 3 };
#define AG_ENTRY_FIXED 18u /* bytes before the name */

/* AG_ERROR codes */
enum {
    AG_E_INTERNAL = 1,
    AG_E_PROTOCOL = 2, /* a malformed or unexpected frame */
    AG_E_NOTFOUND = 3,
    AG_E_PERMISSION = 4,
    AG_E_ISDIR = 5,
    AG_E_NOTDIR = 6,
    AG_E_EXISTS = 7,
    AG_E_INVALID = 8,
    AG_E_NOUSER = 9,
    AG_E_NOSPACE = 10,
    AG_E_IO = 11,
    AG_E_EXEC = 12, /* the program could not be started */
    AG_E_BUSY = 13, /* too many sessions */
    AG_E_LAST
};

#define AG_SESSIONS_MAX 64 /* per port */

static inline void
ag_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
ag_put32(uint8_t *p, uint32_t v)
{
    ag_put16(p, (uint16_t)v);
    ag_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void
ag_put64(uint8_t *p, uint64_t v)
{
    ag_put32(p, (uint32_t)v);
    ag_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t
ag_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
ag_get32(const uint8_t *p)
{
    return (uint32_t)ag_get16(p) | ((uint32_t)ag_get16(p + 2) << 16);
}

static inline uint64_t
ag_get64(const uint8_t *p)
{
    return (uint64_t)ag_get32(p) | ((uint64_t)ag_get32(p + 4) << 32);
}

/* Writes a frame header into @h (AG_HEADER_LEN bytes). */
static inline void
ag_header(uint8_t *h, uint16_t type, uint32_t sid, uint32_t len)
{
    ag_put32(h, len);
    ag_put16(h + 4, type);
    ag_put16(h + 6, 0);
    ag_put32(h + 8, sid);
}
