# Sandbox specs: `airlock spec check`, the spec unit test and its data, docs.
libvmm_a_SOURCES += vmm/keyfile-text.c vmm/keyfile-text.h vmm/json-text.c vmm/json-text.h
airlock_SOURCES += vmm/cli/spec.c

check_PROGRAMS += tests/unit/test-spec
tests_unit_test_spec_SOURCES = tests/unit/test-spec.c
tests_unit_test_spec_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-spec

dist_noinst_DATA += docs/spec.md
EXTRA_DIST += tests/fuzz/corpus/spec
