/*
 * airlock-fixup: the in-guest half of the clock and RNG fix after a restore
 * (vmm/fixup.h). Freestanding x86_64 Linux, no libc: under TCG every page of
 * code a restored guest runs is translated cold, so the less code the
 * better (this is ~2 KB; the perl it replaces ran ~40 ms per request).
 *
 * Started by the launcher in vmm/fixup.c with: fd 0 the virtio-serial port
 * (O_ASYNC, owned by this process), fd 1 the launcher's readiness pipe, and
 * SIGIO blocked. A read on the port returns 0 while no host is connected;
 * then it waits for SIGIO (connect or data) with rt_sigtimedwait.
 *
 * Request (96 bytes): 16-byte id, seconds and nanoseconds (int64 little
 * endian), 64 random bytes. Answer: the id in hex, " ok" or what failed,
 * "\n".
 */
#define SYS_read 0
#define SYS_write 1
#define SYS_open 2
#define SYS_close 3
#define SYS_ioctl 16
#define SYS_rt_sigtimedwait 128
#define SYS_clock_settime 227
#define SYS_exit 60

#define O_RDWR 2
#define O_CLOEXEC 02000000
#define EINTR 4
#define SIGIO 29
#define RNDRESEEDCRNG 0x5207
#define REQUEST_LEN 96

typedef unsigned long u64;

static long
sys3(long n, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

static long
sys4(long n, long a, long b, long c, long d)
{
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

static void __attribute__((noreturn)) leave(int code)
{
    for (;;)
        sys3(SYS_exit, code, 0, 0);
}

/* Appends "NAME failed: -ERRNO" (decimal) to @p; returns the new end. */
static char *
failure(char *p, const char *name, long err)
{
    char digits[24];
    int n = 0;

    while (*name)
        *p++ = *name++;
    for (const char *s = " failed: errno "; *s; s++)
        *p++ = *s;
    err = -err;
    do {
        digits[n++] = (char)('0' + err % 10);
        err /= 10;
    } while (err && n < (int)sizeof(digits));
    while (n)
        *p++ = digits[--n];
    return p;
}

static void __attribute__((noreturn, used)) helper_main(void)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char req[REQUEST_LEN];
    char out[128];
    u64 sigio = 1UL << (SIGIO - 1);
    long got = 0, urandom;

    urandom = sys3(SYS_open, (long)"/dev/urandom", O_RDWR | O_CLOEXEC, 0);
    if (urandom < 0)
        leave(1);
    sys3(SYS_write, 1, (long)"ok\n", 3);
    sys3(SYS_close, 1, 0, 0);
    for (;;) {
        long n = sys3(SYS_read, 0, (long)(req + got), REQUEST_LEN - got);
        long ts[2], r;
        char *p = out;

        if (n == -EINTR)
            continue;
        if (n < 0)
            leave(1);
        if (n == 0) { /* no host connected: sleep until the port signals */
            got = 0;
            sys4(SYS_rt_sigtimedwait, (long)&sigio, 0, 0, sizeof(sigio));
            continue;
        }
        if ((got += n) < REQUEST_LEN)
            continue;
        got = 0;
        for (int i = 0; i < 16; i++) {
            *p++ = hex[req[i] >> 4];
            *p++ = hex[req[i] & 15];
        }
        *p++ = ' ';
        __builtin_memcpy(ts, req + 16, sizeof(ts));
        if ((r = sys3(SYS_clock_settime, 0, (long)ts, 0)) < 0)
            p = failure(p, "clock_settime", r);
        else if ((r = sys3(SYS_write, urandom, (long)(req + 32), 64)) != 64)
            p = failure(p, "writing /dev/urandom", r < 0 ? r : -5);
        else if ((r = sys3(SYS_ioctl, urandom, RNDRESEEDCRNG, 0)) < 0)
            p = failure(p, "RNDRESEEDCRNG", r);
        else {
            *p++ = 'o';
            *p++ = 'k';
        }
        *p++ = '\n';
        __builtin_memset(req, 0, sizeof(req));
        sys3(SYS_write, 0, (long)out, p - out);
    }
}

/* The kernel enters here with the stack aligned to 16 bytes; a call keeps the ABI. */
__asm__(".globl _start\n_start:\n\txor %rbp, %rbp\n\tcall helper_main\n\thlt\n");
