# guest/airlock-fixup: the in-guest half of the clock and RNG fix (vmm/fixup.h), built
# freestanding (no libc: little code to translate cold under TCG) and embedded in airlock
# as vmm/fixup-helper.c (-n: no page alignment, 1.3 KB instead of 8.7). Elsewhere than
# x86_64 nothing is embedded and resets take the fallback through the agent.
GUEST_HELPER_FLAGS = -Os -static -nostdlib -ffreestanding -fno-stack-protector -fno-pie -no-pie \
	-fno-asynchronous-unwind-tables -fno-builtin -Wall -Wextra -Werror \
	-Wl,--build-id=none -Wl,-n -s

if GUEST_HELPER
guest/airlock-fixup: $(srcdir)/guest/airlock-fixup.c
	$(AM_V_CC)$(MKDIR_P) guest && $(CC) $(GUEST_HELPER_FLAGS) -o $@ $(srcdir)/guest/airlock-fixup.c

vmm/fixup-helper.c: guest/airlock-fixup
	$(AM_V_GEN)$(MKDIR_P) vmm && { \
		echo '/* Generated from guest/airlock-fixup.c by vmm/guest.mk. */'; \
		echo 'const unsigned char vmm_fixup_helper[] = {'; \
		od -An -v -tx1 guest/airlock-fixup | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
		echo '};'; \
		echo 'const unsigned long vmm_fixup_helper_len = sizeof(vmm_fixup_helper);'; \
	} > $@
else
vmm/fixup-helper.c:
	$(AM_V_GEN)$(MKDIR_P) vmm && { \
		echo 'const unsigned char vmm_fixup_helper[1] = {0};'; \
		echo 'const unsigned long vmm_fixup_helper_len = 0;'; \
	} > $@
endif

nodist_libvmm_a_SOURCES += vmm/fixup-helper.c
BUILT_SOURCES += vmm/fixup-helper.c
CLEANFILES += vmm/fixup-helper.c guest/airlock-fixup
EXTRA_DIST += guest/airlock-fixup.c

# guest/airlock-guest: airlock's agent in the guest (docs/guest-protocol.md), static glibc
# (no runtime dependency beyond the kernel). images/build bakes it into the image; for an
# image without it, airlock embeds it (vmm/guest-helper.c: .incbin, not a C array) and the
# seed carries it (seed.c).
GUEST_AGENT_FLAGS = -static -Os -s -ffunction-sections -fdata-sections -Wl,--gc-sections \
	-std=gnu11 -Wall -Wextra -Werror -Wl,--build-id=none
guest/airlock-guest: $(srcdir)/guest/airlock-guest.c $(srcdir)/guest/airlock-guest-files.c \
		$(srcdir)/guest/protocol.h
	$(AM_V_CC)$(MKDIR_P) guest && $(CC) $(GUEST_AGENT_FLAGS) -o $@ $(srcdir)/guest/airlock-guest.c

EXTRA_DIST += guest/airlock-guest.c guest/airlock-guest-files.c guest/protocol.h
noinst_DATA = guest/airlock-guest

libvmm_a_SOURCES += vmm/guest-proto.c vmm/guest-proto.h

check_PROGRAMS += tests/unit/test-guest-proto
tests_unit_test_guest_proto_SOURCES = tests/unit/test-guest-proto.c
tests_unit_test_guest_proto_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-guest-proto
