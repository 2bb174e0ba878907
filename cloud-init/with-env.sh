#!/bin/sh
# airlock-with-env: runs its arguments with airlock's environment and test
# secrets exported (airlock exec runs commands through it). Written by cloud-init.
set -a
for f in @ENV_PATH@ @SECRETS_PATH@; do
    [ -r "$f" ] && . "$f"
done
set +a
exec "$@"
