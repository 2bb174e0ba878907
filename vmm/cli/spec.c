/* spec.c: `airlock spec check FILE`: validate a sandbox spec without creating anything. */
#include <config.h>

#include "cli.h"
#include "error.h"
#include "image.h"
#include "secrets.h"
#include "seed.h"
#include "spec.h"

#include <stdio.h>

/*
 * Everything create checks before it touches libvirt: the file (keys, values,
 * FILE:LINE), the ranges, the secrets file (mode, owner, deny list), the
 * cloud-init parts (shape, reserved paths, no secret values) and, when the image
 * is installed here, a pinned digest. Fills @secret_names (caller frees).
 */
static gboolean
check_spec(VmmCli *cli, const char *file, VmmSpec *spec, char ***secret_names, GError **error)
{
    g_autoptr(VmmSecrets) secrets = NULL;

    if (!vmm_spec_load_file(spec, file, error) || !vmm_spec_validate(spec, error))
        return FALSE;
    if (spec->secrets_file && !(secrets = vmm_secrets_load(spec->secrets_file, error)))
        return FALSE;
    if (!vmm_secrets_check_deny(secrets, (const char *const *)spec->deny, error) ||
        !vmm_seed_check_parts(spec->parts, secrets, error))
        return FALSE;
    *secret_names = secrets ? vmm_secrets_names(secrets) : NULL;
    if (spec->image_digest) {
        g_autoptr(VmmImage) image = vmm_image_load(cli->state_dir, spec->image, NULL);
        if (image && g_strcmp0(image->digest, spec->image_digest) != 0) {
            g_set_error(error, VMM_ERROR, VMM_ERROR_INVALID,
                        "image '%s' here is %.19s…, the spec pins %.19s…", image->name,
                        image->digest ? image->digest : "sha256:?", spec->image_digest);
            return FALSE;
        }
    }
    return TRUE;
}

int
vmm_cmd_spec_check(VmmCli *cli, int argc, char **argv)
{
    gboolean as_json = FALSE;
    GOptionEntry entries[] = {
        {"json", 0, 0, G_OPTION_ARG_NONE, &as_json, "Print the result as JSON", NULL}, {NULL}};
    g_autoptr(GOptionContext) ctx =
        g_option_context_new("FILE - validate a sandbox spec without creating anything");
    g_autoptr(GError) err = NULL;
    g_autoptr(VmmSpec) spec = vmm_spec_new();
    g_auto(GStrv) secret_names = NULL;
    g_autofree char *hash = NULL;
    gboolean ok;
    int rc;

    g_option_context_set_description(ctx, "Exit status: 0 valid, 2 invalid (the message says "
                                          "FILE:LINE and what is allowed). See docs/spec.md.");
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!vmm_cli_parse(ctx, &argc, &argv, &rc))
        return rc;
    if (argc != 2)
        return vmm_cli_usage(argv[0], "expects one spec FILE (see --help)");

    ok = check_spec(cli, argv[1], spec, &secret_names, &err);
    if (ok)
        hash = vmm_spec_hash_full(spec, (const char *const *)secret_names);
    if (as_json) {
        g_autoptr(JsonBuilder) b = json_builder_new();
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "file");
        json_builder_add_string_value(b, argv[1]);
        json_builder_set_member_name(b, "valid");
        json_builder_add_boolean_value(b, ok);
        if (!ok) {
            json_builder_set_member_name(b, "error");
            json_builder_add_string_value(b, err->message);
        } else {
            json_builder_set_member_name(b, "spec_hash");
            json_builder_add_string_value(b, hash);
            json_builder_set_member_name(b, "image");
            json_builder_add_string_value(b, spec->image);
            json_builder_set_member_name(b, "image_digest");
            if (spec->image_digest)
                json_builder_add_string_value(b, spec->image_digest);
            else
                json_builder_add_null_value(b);
            json_builder_set_member_name(b, "network");
            json_builder_add_string_value(b, vmm_net_mode_to_string(spec->net_mode));
            json_builder_set_member_name(b, "secret_names");
            json_builder_begin_array(b);
            for (char **n = secret_names; n && *n; n++)
                json_builder_add_string_value(b, *n);
            json_builder_end_array(b);
            json_builder_set_member_name(b, "cloud_init_parts");
            json_builder_begin_array(b);
            for (guint i = 0; i < spec->parts->len; i++) {
                const VmmCloudPart *p = g_ptr_array_index(spec->parts, i);
                json_builder_begin_object(b);
                json_builder_set_member_name(b, "path");
                json_builder_add_string_value(b, p->path);
                json_builder_set_member_name(b, "sha256");
                json_builder_add_string_value(b, p->sha256);
                json_builder_end_object(b);
            }
            json_builder_end_array(b);
        }
        json_builder_end_object(b);
        vmm_cli_print_json(json_builder_get_root(b));
        return ok ? AIRLOCK_EXIT_OK : AIRLOCK_EXIT_USAGE;
    }
    if (!ok) {
        fprintf(stderr, "airlock: %s\n", err->message);
        return AIRLOCK_EXIT_USAGE; /* invalid, whatever the kind of error */
    }
    printf("%s: valid (spec hash %s)\n", argv[1], hash);
    return AIRLOCK_EXIT_OK;
}
