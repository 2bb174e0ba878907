dist_man1_MANS = docs/airlock.1
EXTRA_DIST += docs
