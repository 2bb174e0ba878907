/* common.c: helpers shared by the command files. */
#include <config.h>

#include "json-text.h"
#include "cli.h"
#include "conn.h"
#include "error.h"

#include <stdio.h>
#include <unistd.h>

const char *
vmm_cli_socket_path(void)
{
    const char *path = g_getenv("AIRLOCK_SOCKET");

    return path && *path ? path : VMM_CLI_DEFAULT_SOCKET;
}

VmmOps *
vmm_cli_ops(VmmCli *cli, GError **error)
{
    g_autoptr(GError) remote_err = NULL;

    if (cli->ops)
        return cli->ops;
    /*
     * Root acts on this host itself; any other user goes through airlockd when it
     * answers (which checks who may do what and audits it), else the direct path
     * fails as it always did (libvirt and the state directory are root's).
     */
    if (getuid() != 0 && !cli->uri) {
        cli->ops = vmm_ops_open_remote(vmm_cli_socket_path(), vmm_caller_new(getuid(), "cli"),
                                       &remote_err);
        if (cli->ops)
            return cli->ops;
        g_debug("direct path: %s", remote_err->message);
    }
    return vmm_cli_ops_direct(cli, error);
}

VmmOps *
vmm_cli_ops_direct(VmmCli *cli, GError **error)
{
    if (!cli->ops)
        cli->ops = vmm_ops_open(cli->uri, cli->state_dir, cli->accel,
                                vmm_caller_new(getuid(), "cli"), &cli->accel_reason, error);
    return cli->ops;
}

int
vmm_cli_exit_code(const GError *error)
{
    if (!error || error->domain != VMM_ERROR)
        return AIRLOCK_EXIT_FAILED;
    switch ((VmmErrorCode)error->code) {
    case VMM_ERROR_INVALID:
    case VMM_ERROR_NOT_FOUND:
        return AIRLOCK_EXIT_USAGE;
    case VMM_ERROR_EXISTS:
        return AIRLOCK_EXIT_EXISTS;
    case VMM_ERROR_CONNECT:
        return AIRLOCK_EXIT_CONNECT;
    case VMM_ERROR_IMAGE:
        return AIRLOCK_EXIT_IMAGE;
    case VMM_ERROR_TIMEOUT:
        return AIRLOCK_EXIT_TIMEOUT;
    case VMM_ERROR_HOST:
        return AIRLOCK_EXIT_HOST;
    case VMM_ERROR_AGENT:
    case VMM_ERROR_LIBVIRT:
    case VMM_ERROR_FAILED:
    case VMM_ERROR_LAST:
        break;
    }
    return AIRLOCK_EXIT_FAILED;
}

int
vmm_cli_fail(const GError *error)
{
    fprintf(stderr, "airlock: %s\n", error ? error->message : "unknown error");
    return vmm_cli_exit_code(error);
}

gboolean
vmm_cli_parse(GOptionContext *ctx, int *argc, char ***argv, int *exit_code)
{
    g_autoptr(GError) err = NULL;

    if (!g_option_context_parse(ctx, argc, argv, &err)) {
        fprintf(stderr, "%s: %s (--help lists the options)\n", (*argv)[0], err->message);
        *exit_code = AIRLOCK_EXIT_USAGE;
        return FALSE;
    }
    return TRUE;
}

int
vmm_cli_usage(const char *cmd, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", cmd, msg);
    return AIRLOCK_EXIT_USAGE;
}

void
vmm_cli_shape_clear(VmmCliShape *shape)
{
    g_clear_pointer(&shape->network, g_free);
}

int
vmm_cli_shape_check(const char *cmd, const VmmCliShape *shape)
{
    const struct {
        const char *flag;
        gint value;
    } counts[] = {
        {"--cpus", shape->cpus}, {"--memory", shape->memory}, {"--disk-size", shape->disk}};

    for (gsize i = 0; i < G_N_ELEMENTS(counts); i++)
        if (counts[i].value != G_MININT && counts[i].value < 1)
            return vmm_cli_usage(cmd, "%s %d: expects a whole number of at least 1", counts[i].flag,
                                 counts[i].value);
    return 0;
}

gboolean
vmm_cli_shape_apply(const VmmCliShape *shape, VmmSpec *spec, GError **error)
{
    if (shape->cpus != G_MININT)
        spec->cpus = shape->cpus;
    if (shape->memory != G_MININT)
        spec->memory_mib = shape->memory;
    if (shape->disk != G_MININT)
        spec->disk_gib = shape->disk;
    return !shape->network || vmm_net_mode_from_string(shape->network, &spec->net_mode, error);
}

void
vmm_cli_print_json(JsonNode *node)
{
    g_autofree char *text = vmm_json_text(node, TRUE, NULL);

    printf("%s\n", text);
    json_node_unref(node);
}

void
vmm_cli_print_fields(JsonNode *object)
{
    JsonObject *o = json_node_get_object(object);
    g_autoptr(GList) members = json_object_get_members(o);

    for (GList *l = members; l; l = l->next) {
        JsonNode *n = json_object_get_member(o, l->data);
        if (JSON_NODE_HOLDS_VALUE(n)) {
            if (json_node_get_value_type(n) == G_TYPE_STRING)
                printf("%-13s %s\n", (char *)l->data, json_node_get_string(n));
            else
                printf("%-13s %" G_GINT64_FORMAT "\n", (char *)l->data, json_node_get_int(n));
        } else if (!JSON_NODE_HOLDS_NULL(n)) {
            g_autofree char *text = json_to_string(n, FALSE);
            printf("%-13s %s\n", (char *)l->data, text);
        }
    }
}
