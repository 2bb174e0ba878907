# Batches: plan parsing and reports (pure), the runner, `airlock batch`, tests.
libvmm_a_SOURCES += vmm/batch.c vmm/batch.h vmm/batch-report.c vmm/batch-run.c vmm/batch-run.h \
	vmm/batch-libvirt.c vmm/batch-output.c vmm/batch-output.h
libvmm_a_SOURCES += vmm/batch-slurm.c vmm/batch-slurm.h vmm/batch-slurm-merge.c \
	vmm/batch-slurm-run.c
airlock_SOURCES += vmm/cli/batch.c
airlock_SOURCES += vmm/cli/slurm.c vmm/cli/slurm.h

check_PROGRAMS += tests/unit/test-batch
tests_unit_test_batch_SOURCES = tests/unit/test-batch.c tests/unit/golden.h
tests_unit_test_batch_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-batch

dist_noinst_DATA += docs/batch.md

check_PROGRAMS += tests/unit/test-batch-output
tests_unit_test_batch_output_SOURCES = tests/unit/test-batch-output.c
tests_unit_test_batch_output_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-batch-output

check_PROGRAMS += tests/unit/test-batch-slurm
tests_unit_test_batch_slurm_SOURCES = tests/unit/test-batch-slurm.c
tests_unit_test_batch_slurm_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-batch-slurm
