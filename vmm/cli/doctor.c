/* doctor.c: `airlock doctor`: can this host run sandboxes, and if not, what fixes it. */
#include <config.h>

#include "autoptr.h"
#include "cli.h"
#include "conn.h"
#include "error.h"
#include "image.h"
#include "nft.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define DOCTOR_MIN_FREE_GIB 4

typedef enum { CHECK_OK, CHECK_WARN, CHECK_FAIL } CheckStatus;

typedef struct {
    JsonBuilder *json;
    gboolean as_json;
    gboolean failed;
} Doctor;

static void
report(Doctor *d, const char *name, CheckStatus st, const char *detail, const char *fix)
{
    static const char *const label[] = {"ok", "warn", "FAIL"};

    if (st == CHECK_FAIL)
        d->failed = TRUE;
    if (d->as_json) {
        json_builder_begin_object(d->json);
        json_builder_set_member_name(d->json, "check");
        json_builder_add_string_value(d->json, name);
        json_builder_set_member_name(d->json, "status");
        json_builder_add_string_value(d->json, label[st]);
        json_builder_set_member_name(d->json, "detail");
        json_builder_add_string_value(d->json, detail);
        if (fix && st != CHECK_OK) {
            json_builder_set_member_name(d->json, "fix");
            json_builder_add_string_value(d->json, fix);
        }
        json_builder_end_object(d->json);
        return;
    }
    printf("%-5s %-13s %s\n", label[st], name, detail);
    if (fix && st != CHECK_OK)
        printf("      %-13s fix: %s\n", "", fix);
}

/* Every running sandbox with a network must have its firewall tables (a flush removes them). */
static void
check_fences(Doctor *d, VmmOps *ops)
{
    guint fenced = 0;
    g_auto(GStrv) bare = vmm_ops_unfenced(ops, &fenced);

    if (bare && *bare) {
        g_autofree char *list = g_strjoinv("', '", bare);
        g_autofree char *detail =
            g_strdup_printf("running without their firewall tables: '%s'", list);
        report(d, "fences", CHECK_FAIL, detail, "airlock gc (reinstalls them and records it)");
    } else {
        g_autofree char *detail = g_strdup_printf("%u running sandbox(es) fenced", fenced);
        report(d, "fences", CHECK_OK, detail, NULL);
    }
}

static void
check_kvm_device(Doctor *d, VmmAccel accel)
{
    struct stat st;
    struct group *gr;
    g_autofree char *detail = NULL;

    if (stat("/dev/kvm", &st) != 0) {
        report(d, "/dev/kvm", accel == VMM_ACCEL_KVM ? CHECK_FAIL : CHECK_WARN, "absent",
               "load kvm_intel or kvm_amd (modprobe kvm_intel)");
        return;
    }
    gr = getgrgid(st.st_gid);
    detail = g_strdup_printf("group %s, mode %04o", gr ? gr->gr_name : "?", st.st_mode & 07777);
    if (!gr || g_strcmp0(gr->gr_name, "kvm") != 0 || (st.st_mode & 0660) != 0660)
        report(d, "/dev/kvm", accel == VMM_ACCEL_KVM ? CHECK_FAIL : CHECK_WARN, detail,
               "chgrp kvm /dev/kvm && chmod 660 /dev/kvm");
    else
        report(d, "/dev/kvm", CHECK_OK, detail, NULL);
}

static void
check_state_dir(Doctor *d, const char *state_dir)
{
    g_autofree char *probe = g_build_filename(state_dir, ".doctor-probe-XXXXXX", NULL);
    g_autofree char *fix = g_strdup_printf("mkdir -p %s (or set AIRLOCK_STATE_DIR)", state_dir);
    struct statvfs vfs;
    int fd;

    if (g_mkdir_with_parents(state_dir, 0755) != 0 || (fd = g_mkstemp(probe)) < 0) {
        g_autofree char *detail = g_strdup_printf("%s: %s", state_dir, g_strerror(errno));
        report(d, "state dir", CHECK_FAIL, detail, fix);
        return;
    }
    close(fd);
    unlink(probe);
    report(d, "state dir", CHECK_OK, state_dir, NULL);

    if (statvfs(state_dir, &vfs) == 0) {
        guint64 free_gib = (guint64)vfs.f_bavail * vfs.f_frsize / (1024ull * 1024 * 1024);
        g_autofree char *detail =
            g_strdup_printf("%" G_GUINT64_FORMAT " GiB free in %s", free_gib, state_dir);
        report(d, "free disk", free_gib >= DOCTOR_MIN_FREE_GIB ? CHECK_OK : CHECK_FAIL, detail,
               "free some space or point AIRLOCK_STATE_DIR at a larger disk");
    }
}

/*
 * qemu runs as its own user: it must be able to search every directory down
 * to the images and to its sandbox's directory. A state directory made under
 * umask 077 (or chmod'ed) fails every create with "Permission denied" from
 * qemu, so say it here, with the chmod that fixes it.
 */
static void
check_qemu_reach(Doctor *d, const char *state_dir)
{
    const char *below[] = {"images", "sandboxes"};
    g_autofree char *abs = g_canonicalize_filename(state_dir, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(below); i++) {
        g_autofree char *target = g_build_filename(abs, below[i], NULL);
        g_autofree char *p = g_strdup(target);
        struct stat st;

        /* From the target up to /: each directory that exists must let others search it. */
        for (;;) {
            if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH)) {
                g_autofree char *detail =
                    g_strdup_printf("%s is mode %04o: the qemu user cannot reach %s", p,
                                    (unsigned)(st.st_mode & 07777), target);
                g_autofree char *fix = g_strdup_printf("chmod o+x %s", p);
                report(d, "qemu access", CHECK_FAIL, detail, fix);
                return;
            }
            if (strcmp(p, "/") == 0)
                break;
            {
                char *up = g_path_get_dirname(p);
                g_free(p);
                p = up;
            }
        }
    }
    report(d, "qemu access", CHECK_OK, "the qemu user can reach images/ and sandboxes/", NULL);
}

static void
check_image(Doctor *d, const char *state_dir, const char *name)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmImage) img = vmm_image_load(state_dir, name, &err);
    g_autofree char *fix = g_strdup_printf("airlock image build %s", name);
    g_autofree char *detail = NULL;

    if (!img || !vmm_image_verify(img, FALSE, &err)) {
        report(d, "base image", CHECK_FAIL, err->message, fix);
        return;
    }
    detail = g_strdup_printf("%s matches its manifest (%s)", name, img->digest);
    report(d, "base image", CHECK_OK, detail, NULL);
}

/*
 * airlockd answers GET /v1/whoami on its socket ($AIRLOCK_SOCKET overrides the
 * path), and which path this user's commands take (vmm_cli_ops).
 */
static void
check_daemon(Doctor *d, VmmOps *ops)
{
    const char *path = vmm_cli_socket_path();
    const char *req = "GET /v1/whoami HTTP/1.0\r\nHost: airlockd\r\n\r\n";
    g_autoptr(GSocket) sock = NULL;
    g_autoptr(GSocketAddress) addr = NULL;
    g_autoptr(GError) err = NULL;
    g_autofree char *detail = NULL;
    char buf[512];
    gssize n = -1;

    if (ops && ops->backend) {
        g_autofree char *via = vmm_ops_describe_connection(ops);
        detail = g_strdup_printf("this user's commands go %s", via);
        report(d, "daemon", CHECK_OK, detail, NULL);
        return;
    }
    addr = g_unix_socket_address_new(path);
    sock =
        g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, &err);
    if (sock) {
        g_socket_set_timeout(sock, 3);
        if (g_socket_connect(sock, addr, NULL, &err) &&
            g_socket_send(sock, req, strlen(req), NULL, &err) == (gssize)strlen(req))
            n = g_socket_receive(sock, buf, sizeof buf - 1, NULL, &err);
    }
    if (n > 0) {
        buf[n] = 0;
        if (g_str_has_prefix(buf, "HTTP/1.") && strstr(buf, " 200 ")) {
            detail = g_strdup_printf("airlockd answers on %s; %s commands take the direct path",
                                     path, getuid() == 0 ? "root's" : "this user's");
            report(d, "daemon", CHECK_OK, detail, NULL);
            return;
        }
        detail = g_strdup_printf("airlockd on %s refused us: %.40s", path, buf);
    } else {
        detail = g_strdup_printf("airlockd not answering on %s: %s", path,
                                 err ? err->message : "no reply");
    }
    if (getuid() != 0) {
        char *more = g_strconcat(detail, " (this user's commands take the direct path)", NULL);
        g_free(detail);
        detail = more;
    }
    report(d, "daemon", CHECK_WARN, detail,
           "systemctl start airlockd (or run airlockd as root); only needed for the API and other "
           "users");
}

int
vmm_cmd_doctor(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    g_autofree char *image = NULL;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the checks as JSON", NULL},
        {"image", 0, 0, G_OPTION_ARG_STRING, &image, "Base image to check (default debian-12)",
         "NAME"},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- check that this host can run sandboxes");
    g_autoptr(GError) err = NULL;
    g_autofree char *reason = NULL;
    g_autofree char *qemu = NULL;
    Doctor d = {0};
    VmmAccel accel;
    VmmOps *ops;
    gboolean remote;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 1)
        return vmm_cli_usage(argv[0], "unexpected argument '%s'", argv[1]);
    d.as_json = as_json;
    if (as_json) {
        d.json = json_builder_new();
        json_builder_begin_object(d.json);
        json_builder_set_member_name(d.json, "checks");
        json_builder_begin_array(d.json);
    }

    ops = vmm_cli_ops(cli, &err);
    remote = ops && ops->backend;
    if (ops) {
        g_autofree char *detail = vmm_ops_describe_connection(ops);
        report(&d, "libvirt", CHECK_OK, detail, NULL);
    } else {
        report(&d, "libvirt", CHECK_FAIL, err->message,
               "start libvirtd (e.g. systemctl start libvirtd), or pass -c URI");
        g_clear_error(&err);
    }

    qemu = g_find_program_in_path("qemu-system-x86_64");
    report(&d, "qemu", qemu ? CHECK_OK : CHECK_FAIL, qemu ? qemu : "qemu-system-x86_64 not found",
           "apt-get install qemu-system-x86");

    if (vmm_accel_choose(cli->accel, "/", &accel, &reason, &err)) {
        g_autofree char *detail = g_strdup_printf("%s: %s", vmm_accel_to_string(accel), reason);
        report(&d, "accelerator", accel == VMM_ACCEL_KVM ? CHECK_OK : CHECK_WARN, detail,
               accel == VMM_ACCEL_TCG ? "none needed: sandboxes run, only slower" : NULL);
        check_kvm_device(&d, accel);
    } else {
        report(&d, "accelerator", CHECK_FAIL, err->message, "use --accel kvm or --accel tcg");
        g_clear_error(&err);
    }

    /* Through airlockd, the firewall, state directory and images are root's: its doctor's. */
    if (!remote) {
        /* Sandbox networks are fenced by nftables tables (docs/security.md). */
        g_autofree char *nft = g_find_program_in_path("nft");
        g_auto(GStrv) tables = NULL;
        if (!nft) {
            report(&d, "firewall", CHECK_FAIL, "nft not found: sandbox networks cannot be fenced",
                   "apt-get install nftables");
        } else if (!(tables = vmm_nft_list_tables(&err))) {
            g_autofree char *detail =
                g_strdup_printf("nft cannot read the ruleset (%s)", err->message);
            g_clear_error(&err);
            report(&d, "firewall", CHECK_FAIL, detail,
                   "run airlock as root on a kernel with nf_tables (modprobe nf_tables)");
        } else {
            g_autofree char *detail = g_strdup_printf("nftables usable (%s)", nft);
            report(&d, "firewall", CHECK_OK, detail, NULL);
        }
    }

    if (ops && !remote)
        check_fences(&d, ops);
    if (!remote) {
        check_state_dir(&d, cli->state_dir);
        check_qemu_reach(&d, cli->state_dir);
        check_image(&d, cli->state_dir, image ? image : "debian-12");
    }
    check_daemon(&d, ops);

    if (as_json) {
        json_builder_end_array(d.json);
        json_builder_set_member_name(d.json, "ready");
        json_builder_add_boolean_value(d.json, !d.failed);
        json_builder_end_object(d.json);
        vmm_cli_print_json(json_builder_get_root(d.json));
        g_object_unref(d.json);
    } else {
        printf("%s\n", d.failed ? "this host cannot run sandboxes yet: fix the FAIL lines above"
                       : remote ? "your commands go through airlockd (sudo airlock doctor checks "
                                  "the host itself)"
                                : "this host can run sandboxes");
    }
    return d.failed ? AIRLOCK_EXIT_HOST : AIRLOCK_EXIT_OK;
}
