# secrets.c + seed.c + cloud-init templates (owned by the seed work).
