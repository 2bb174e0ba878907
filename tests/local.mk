# Unit tests (pure modules) and test:///default lifecycle tests: fast, no root.
TEST_LDADD = libvmm.a $(VMM_LIBS)
AM_CPPFLAGS += -I$(top_srcdir)/tests

check_PROGRAMS += tests/unit/test-names tests/unit/test-conn tests/unit/test-xml \
	tests/unit/test-lifecycle tests/unit/test-events tests/unit/test-gc tests/unit/test-fixup
tests_unit_test_names_SOURCES = tests/unit/test-names.c
tests_unit_test_names_LDADD = $(TEST_LDADD)
tests_unit_test_conn_SOURCES = tests/unit/test-conn.c
tests_unit_test_conn_LDADD = $(TEST_LDADD)

tests_unit_test_xml_SOURCES = tests/unit/test-xml.c tests/unit/golden.h
tests_unit_test_xml_LDADD = $(TEST_LDADD)
tests_unit_test_lifecycle_SOURCES = tests/unit/test-lifecycle.c tests/unit/fake-image.h
tests_unit_test_lifecycle_LDADD = $(TEST_LDADD)
tests_unit_test_events_SOURCES = tests/unit/test-events.c
tests_unit_test_events_LDADD = $(TEST_LDADD)
tests_unit_test_gc_SOURCES = tests/unit/test-gc.c tests/unit/fake-image.h
tests_unit_test_gc_LDADD = $(TEST_LDADD)
tests_unit_test_fixup_SOURCES = tests/unit/test-fixup.c
tests_unit_test_fixup_LDADD = $(TEST_LDADD)

TESTS += tests/unit/test-names tests/unit/test-conn tests/unit/test-xml tests/unit/test-lifecycle \
	tests/unit/test-events tests/unit/test-gc tests/unit/test-fixup tests/unit/test-cli.sh
EXTRA_DIST += tests/unit/test-cli.sh

EXTRA_DIST += tests/data tests/integration tests/bench

# libFuzzer harnesses (clang, ASan+UBSan; not part of check): make fuzz [FUZZ_SECONDS=30]
FUZZ_SECONDS = 30
fuzz:
	$(top_srcdir)/tests/fuzz/run $(FUZZ_SECONDS)
.PHONY: fuzz
EXTRA_DIST += tests/fuzz/run tests/fuzz/fuzz-spec.c tests/fuzz/fuzz-xml.c tests/fuzz/fuzz-secrets.c \
	tests/fuzz/fuzz-nft.c tests/fuzz/fuzz-plan.c tests/fuzz/corpus/nft tests/fuzz/corpus/plan
