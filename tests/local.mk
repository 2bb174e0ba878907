# Unit tests (pure modules) and test:///default lifecycle tests: fast, no root.
TEST_LDADD = libvmm.a $(VMM_LIBS)
AM_CPPFLAGS += -I$(top_srcdir)/tests

check_PROGRAMS += tests/unit/test-names tests/unit/test-conn tests/unit/test-xml \
	tests/unit/test-lifecycle tests/unit/test-events tests/unit/test-escape tests/unit/test-fsutil \
	tests/unit/test-gc tests/unit/test-fixup
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
check_PROGRAMS += tests/unit/test-space tests/unit/test-ops
tests_unit_test_ops_SOURCES = tests/unit/test-ops.c tests/unit/ops-fixture.h tests/unit/fake-image.h
tests_unit_test_ops_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-ops
check_PROGRAMS += tests/unit/test-pause
tests_unit_test_pause_SOURCES = tests/unit/test-pause.c tests/unit/ops-fixture.h tests/unit/fake-image.h
tests_unit_test_pause_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-pause
check_PROGRAMS += tests/unit/test-threads
tests_unit_test_threads_SOURCES = tests/unit/test-threads.c
tests_unit_test_threads_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-threads
tests_unit_test_space_SOURCES = tests/unit/test-space.c
tests_unit_test_space_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-space
tests_unit_test_escape_SOURCES = tests/unit/test-escape.c
tests_unit_test_escape_LDADD = $(TEST_LDADD)
tests_unit_test_fsutil_SOURCES = tests/unit/test-fsutil.c
tests_unit_test_fsutil_LDADD = $(TEST_LDADD)
tests_unit_test_gc_SOURCES = tests/unit/test-gc.c tests/unit/fake-image.h
tests_unit_test_gc_LDADD = $(TEST_LDADD)
tests_unit_test_fixup_SOURCES = tests/unit/test-fixup.c
tests_unit_test_fixup_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-recipe-hash.sh
EXTRA_DIST += tests/unit/test-recipe-hash.sh
check_PROGRAMS += tests/unit/test-image-store
tests_unit_test_image_store_SOURCES = tests/unit/test-image-store.c tests/unit/fake-image.h
tests_unit_test_image_store_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-image-store tests/unit/test-image-cli.sh
EXTRA_DIST += tests/unit/test-image-cli.sh
check_PROGRAMS += tests/unit/test-command
tests_unit_test_command_SOURCES = tests/unit/test-command.c tests/unit/golden.h
tests_unit_test_command_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-command

TESTS += tests/unit/test-names tests/unit/test-conn tests/unit/test-xml tests/unit/test-lifecycle \
	tests/unit/test-events tests/unit/test-escape tests/unit/test-fsutil tests/unit/test-gc \
	tests/unit/test-fixup tests/unit/test-cli.sh
EXTRA_DIST += tests/unit/test-cli.sh
TESTS += tests/unit/test-completion.sh tests/unit/test-manpage.sh
EXTRA_DIST += tests/unit/test-completion.sh tests/unit/test-manpage.sh tests/unit/fake-image.sh

# The accounting of scripts/test, fed fake TAP streams and fake scripts.
TESTS += tests/harness/test-harness.sh
EXTRA_DIST += tests/harness

EXTRA_DIST += tests/data tests/integration tests/bench

# make coverage: make check on a --coverage build of a copy of this tree (make distdir into
# airlock-coverage/, so this build is left alone), then the line coverage of each file of
# vmm/ as a table (lcov --list; HTML in airlock-coverage/html). Exits with make check's status.
COVERAGE_DIR = $(abs_top_builddir)/airlock-coverage
coverage:
	@command -v lcov >/dev/null || { echo "make coverage: lcov is not installed (apt-get install lcov)" >&2; exit 1; }
	rm -rf $(COVERAGE_DIR)
	$(MAKE) $(AM_MAKEFLAGS) distdir distdir=$(COVERAGE_DIR)
	cd $(COVERAGE_DIR) && ./configure --quiet CFLAGS='-O0 -g --coverage' LDFLAGS='--coverage' \
		VIRT_XML_VALIDATE='$(VIRT_XML_VALIDATE)'
	cd $(COVERAGE_DIR) && { $(MAKE) $(AM_MAKEFLAGS) check; echo $$? > check-status; } \
		> check.log 2>&1; grep -E '^# (TOTAL|PASS|SKIP|FAIL|ERROR):|^(FAIL|ERROR|SKIP):' \
		$(COVERAGE_DIR)/check.log || tail -30 $(COVERAGE_DIR)/check.log
	lcov --quiet --capture --directory $(COVERAGE_DIR) --output-file $(COVERAGE_DIR)/all.info \
		2> $(COVERAGE_DIR)/lcov.err || { cat $(COVERAGE_DIR)/lcov.err >&2; exit 1; }
	lcov --quiet --extract $(COVERAGE_DIR)/all.info '$(COVERAGE_DIR)/vmm/*' \
		--output-file $(COVERAGE_DIR)/vmm-all.info
	lcov --quiet --remove $(COVERAGE_DIR)/vmm-all.info '*/vmm/seed-resources.c' \
		'*/vmm/fixup-helper.c' --output-file $(COVERAGE_DIR)/vmm.info
	genhtml --quiet --output-directory $(COVERAGE_DIR)/html $(COVERAGE_DIR)/vmm.info
	@echo "line coverage of vmm/ in make check (HTML: $(COVERAGE_DIR)/html/index.html):"
	@lcov --list $(COVERAGE_DIR)/vmm.info
	@exit $$(cat $(COVERAGE_DIR)/check-status)
clean-local: clean-coverage
clean-coverage:
	rm -rf $(COVERAGE_DIR)
.PHONY: coverage clean-coverage

# libFuzzer harnesses (clang, ASan+UBSan; not part of check): make fuzz [FUZZ_SECONDS=30]
FUZZ_SECONDS = 30
fuzz:
	$(top_srcdir)/tests/fuzz/run $(FUZZ_SECONDS)
.PHONY: fuzz
EXTRA_DIST += tests/fuzz/run tests/fuzz/fuzz-spec.c tests/fuzz/fuzz-xml.c tests/fuzz/fuzz-secrets.c \
	tests/fuzz/fuzz-nft.c tests/fuzz/fuzz-plan.c tests/fuzz/fuzz-agent.c tests/fuzz/fuzz-guest.c \
	tests/fuzz/fuzz-gateway.c \
	tests/fuzz/corpus

# The Python SDK (sdk/python) against airlockd on test:///default.
TESTS += tests/unit/test-sdk.sh
EXTRA_DIST += tests/unit/test-sdk.sh
check_PROGRAMS += tests/unit/test-save-image
tests_unit_test_save_image_SOURCES = tests/unit/test-save-image.c
tests_unit_test_save_image_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-save-image
check_PROGRAMS += tests/unit/test-pool
tests_unit_test_pool_SOURCES = tests/unit/test-pool.c tests/unit/ops-fixture.h tests/unit/fake-image.h
tests_unit_test_pool_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-pool
