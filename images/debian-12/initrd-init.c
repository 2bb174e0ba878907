/* initrd-init.c: /init of the image's initrd (images/build makes it when the recipe sets
 * INITRD_MODULES). The cloud kernel has ext4 built in but virtio_pci and virtio_blk as
 * modules, so a virtio root needs an initrd; initramfs-tools' (busybox, its scripts, udev)
 * spent ~1.7 s under TCG getting to the root. This one loads the modules listed in
 * /modules (dependencies first, images/build wrote them), mounts root= (ext4 unless
 * rootfstype=; "ro" unless "rw") and executes /sbin/init (or init=) on it with the
 * arguments the kernel gave. No fsck here: systemd-fsck-root runs it when the root is
 * mounted read-only. Any failure is printed to the console and ends in a kernel panic. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROOT_WAIT_MS 30000

static void
die(const char *what, const char *arg)
{
    dprintf(2, "airlock initrd: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
            strerror(errno));
    _exit(1); /* init exiting: the kernel panics, the console says why */
}

/* The value of KEY (e.g. "root=") on the kernel command line, into out; 0 when absent. */
static int
cmdline_value(const char *cmdline, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    const char *p = cmdline;

    while (*p) {
        while (*p == ' ' || *p == '\n')
            p++;
        const char *end = p + strcspn(p, " \n");
        if ((size_t)(end - p) >= klen && strncmp(p, key, klen) == 0) {
            size_t n = (size_t)(end - p) - klen;
            if (n >= size)
                n = size - 1;
            memcpy(out, p + klen, n);
            out[n] = '\0';
            return 1;
        }
        p = end;
    }
    return 0;
}

static int
cmdline_flag(const char *cmdline, const char *flag)
{
    size_t len = strlen(flag);
    const char *p = cmdline;

    while ((p = strstr(p, flag))) {
        int starts = p == cmdline || p[-1] == ' ';
        int ends = p[len] == '\0' || p[len] == ' ' || p[len] == '\n';
        if (starts && ends)
            return 1;
        p += len;
    }
    return 0;
}

static void
load_modules(void)
{
    char line[512];
    FILE *list = fopen("/modules", "r");

    if (!list)
        die("cannot open", "/modules");
    while (fgets(line, sizeof line, list)) {
        line[strcspn(line, "\n")] = '\0';
        if (!*line)
            continue;
        int fd = open(line, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die("cannot open", line);
        if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)
            die("cannot load", line);
        close(fd);
        unlink(line); /* the initrd's memory is not freed: keep it small */
    }
    fclose(list);
    unlink("/modules");
}

int
main(int argc, char **argv)
{
    static char cmdline[4096];
    char root[256] = "/dev/vda", fstype[32] = "ext4", init[256] = "/sbin/init";
    struct timespec tick = {0, 10 * 1000 * 1000};
    struct stat st;
    ssize_t n;
    int fd, waited;

    (void)argc;
    if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") != 0 && errno != EBUSY)
        die("cannot mount", "/dev");
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        die("cannot mount", "/proc");
    if ((fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC)) < 0 ||
        (n = read(fd, cmdline, sizeof cmdline - 1)) < 0)
        die("cannot read", "/proc/cmdline");
    cmdline[n] = '\0';
    close(fd);
    cmdline_value(cmdline, "root=", root, sizeof root);
    cmdline_value(cmdline, "rootfstype=", fstype, sizeof fstype);
    cmdline_value(cmdline, "init=", init, sizeof init);

    load_modules();
    for (waited = 0; stat(root, &st) != 0; waited += 10) {
        if (waited >= ROOT_WAIT_MS)
            die("no root device", root);
        nanosleep(&tick, NULL);
    }
    if (mount(root, "/root", fstype, cmdline_flag(cmdline, "rw") ? 0 : MS_RDONLY, NULL) != 0)
        die("cannot mount the root", root);
    if (umount("/proc") != 0)
        die("cannot unmount", "/proc");
    if (mount("/dev", "/root/dev", NULL, MS_MOVE, NULL) != 0)
        die("cannot move", "/dev");
    unlink("/init");
    if (chdir("/root") != 0 || mount(".", "/", NULL, MS_MOVE, NULL) != 0 || chroot(".") != 0 ||
        chdir("/") != 0)
        die("cannot switch to", root);
    argv[0] = init;
    execv(init, argv);
    die("cannot execute", init);
}
