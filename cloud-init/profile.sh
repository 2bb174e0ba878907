# airlock: export the sandbox's environment and test secrets in login shells.
# Written by cloud-init.
set -a
for _airlock_f in @ENV_PATH@ @SECRETS_PATH@; do
    [ -r "$_airlock_f" ] && . "$_airlock_f"
done
set +a
unset _airlock_f
