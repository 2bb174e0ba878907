# The model gateway (docs/gateway.md): its configuration, registry and protocol checks are in
# libvmm (create registers sandboxes; the tests drive all of it); airlock-gateway serves it.
libvmm_a_SOURCES += \
	vmm/gateway/gateway.h vmm/gateway/gateway-private.h \
	vmm/gateway/gateway-config.c vmm/gateway/gateway-proto.c \
	vmm/gateway/gateway.c vmm/gateway/gateway-record.c vmm/gateway/gateway-setup.c
AM_CPPFLAGS += -I$(top_srcdir)/vmm/gateway

sbin_PROGRAMS += airlock-gateway
airlock_gateway_SOURCES = vmm/gateway/main.c
airlock_gateway_LDADD = libvmm.a $(VMM_LIBS)

check_PROGRAMS += tests/unit/test-gateway
tests_unit_test_gateway_SOURCES = tests/unit/test-gateway.c
tests_unit_test_gateway_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-gateway
EXTRA_DIST += docs/gateway.md
