# Network isolation: the sandbox's nftables tables, `airlock port`, their tests.
libvmm_a_SOURCES += vmm/nft.c vmm/nft.h
airlock_SOURCES += vmm/cli/port.c vmm/cli/port.h

check_PROGRAMS += tests/unit/test-network
tests_unit_test_network_SOURCES = tests/unit/test-network.c tests/unit/golden.h
tests_unit_test_network_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-network

dist_noinst_DATA += docs/security.md
