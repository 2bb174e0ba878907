/* token.c: `airlock token create|list|revoke`: bearer tokens for airlockd's TCP listener. */
#include <config.h>

#include "cli.h"
#include "error.h"
#include "fsutil.h"
#include "spec.h"
#include "tokens.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
vmm_cmd_token_create(VmmCli *cli, int argc, char **argv)
{
    g_autofree char *user = NULL, *ttl = NULL, *note = NULL;
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"user", 'u', 0, G_OPTION_ARG_STRING, &user,
         "The user the token acts as (default: you); its groups decide what it may do", "USER"},
        {"ttl", 0, 0, G_OPTION_ARG_STRING, &ttl,
         "Valid for, e.g. 8h or 30d (default 30d; 0: no expiry)", "DURATION"},
        {"note", 0, 0, G_OPTION_ARG_STRING, &note, "What the token is for", "TEXT"},
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
        {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- make a bearer token for airlockd's TCP listener (shown once)");
    g_autoptr(GError) err = NULL;
    g_autofree char *token = NULL, *id = NULL;
    g_autoptr(VmmCaller) who = NULL;
    gint64 ttl_s = 30 * 24 * 3600;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 1)
        return vmm_cli_usage(argv[0], "unexpected argument '%s'", argv[1]);
    if (ttl && g_strcmp0(ttl, "0") != 0 && !vmm_spec_parse_duration(ttl, &ttl_s, &err))
        return vmm_cli_fail(err);
    if (g_strcmp0(ttl, "0") == 0)
        ttl_s = 0;
    if (note && (strlen(note) > 200 || !g_utf8_validate(note, -1, NULL)))
        return vmm_cli_usage(argv[0], "--note must be UTF-8 text of at most 200 bytes");
    if (user) {
        struct passwd *pw = getpwnam(user);
        if (!pw) {
            g_set_error(&err, VMM_ERROR, VMM_ERROR_NOT_FOUND,
                        "user '%s' not found (getent passwd lists them)", user);
            return vmm_cli_fail(err);
        }
        who = vmm_caller_new(pw->pw_uid, "cli");
    } else {
        who = vmm_caller_new(getuid(), "cli");
    }
    token = vmm_tokens_create(cli->state_dir, who->uid, who->user, ttl_s, note, &id, &err);
    if (!token)
        return vmm_cli_fail(err);
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, id);
        json_builder_set_member_name(b, "user");
        json_builder_add_string_value(b, who->user);
        json_builder_set_member_name(b, "token");
        json_builder_add_string_value(b, token);
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
    } else {
        printf("%s\n", token);
        if (isatty(STDOUT_FILENO))
            fprintf(stderr, "token %s for '%s': shown only now; airlock token revoke %s ends it\n",
                    id, who->user, id);
    }
    explicit_bzero(token, strlen(token));
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_token_list(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {{"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print as JSON", NULL},
                              {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("- list airlockd's tokens (never the secrets)");
    g_autoptr(GError) err = NULL;
    g_autoptr(GPtrArray) tokens = NULL;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc > 1)
        return vmm_cli_usage(argv[0], "unexpected argument '%s'", argv[1]);
    if (!(tokens = vmm_tokens_load(cli->state_dir, &err)))
        return vmm_cli_fail(err);
    if (as_json) {
        JsonArray *a = json_array_new();
        JsonNode *root = json_node_new(JSON_NODE_ARRAY);
        for (guint i = 0; i < tokens->len; i++)
            json_array_add_element(a, vmm_token_to_json(g_ptr_array_index(tokens, i)));
        json_node_take_array(root, a);
        vmm_cli_print_json(root);
        return AIRLOCK_EXIT_OK;
    }
    printf("%-9s %-16s %-21s %-21s %s\n", "ID", "USER", "CREATED", "EXPIRES", "NOTE");
    for (guint i = 0; i < tokens->len; i++) {
        const VmmToken *t = g_ptr_array_index(tokens, i);
        printf("%-9s %-16s %-21s %-21s %s\n", t->id, t->user, t->created ? t->created : "-",
               t->expires ? t->expires : "never", t->note ? t->note : "");
    }
    return AIRLOCK_EXIT_OK;
}

int
vmm_cmd_token_revoke(VmmCli *cli, int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new("ID... - revoke tokens at once");
    g_autoptr(GError) err = NULL;
    int rc;

    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc < 2)
        return vmm_cli_usage(argv[0], "expects token IDs (airlock token list shows them)");
    for (int i = 1; i < argc; i++)
        if (!vmm_tokens_revoke(cli->state_dir, argv[i], &err))
            return vmm_cli_fail(err);
    return AIRLOCK_EXIT_OK;
}
