# libvmm: the internal library. Pure modules first, then those that talk to libvirt.
noinst_LIBRARIES += libvmm.a
libvmm_a_SOURCES = \
	vmm/error.c vmm/error.h \
	vmm/settings.c vmm/settings.h \
	vmm/autoptr.h \
	vmm/names.c vmm/names.h \
	vmm/fsutil.c vmm/fsutil.h \
	vmm/conn.c vmm/conn.h \
	vmm/image.c vmm/image.h \
	vmm/image-build.c vmm/image-build.h vmm/image-store.c vmm/image-store.h \
	vmm/command.c vmm/command.h

bin_PROGRAMS += airlock
airlock_SOURCES = \
	vmm/cli/cli.h \
	vmm/cli/main.c \
	vmm/cli/common.c \
	vmm/cli/table.c vmm/cli/table.h \
	vmm/cli/doctor.c \
	vmm/cli/image.c \
	vmm/cli/sandbox.c \
	vmm/cli/snapshot.c \
	vmm/cli/pause.c \
	vmm/cli/archive.c \
	vmm/cli/audit.c \
	vmm/cli/gc.c \
	vmm/cli/pool.c
airlock_LDADD = libvmm.a $(VMM_LIBS)
libvmm_a_SOURCES += \
	vmm/xml.c vmm/xml.h vmm/json-builder.h \
	vmm/metadata.c vmm/metadata.h \
	vmm/domain-xml.c vmm/domain-xml.h \
	vmm/network-xml.c vmm/network-xml.h \
	vmm/network.c vmm/network.h \
	vmm/spec.c vmm/spec.h \
	vmm/spec-parts.c \
	vmm/sandbox.c vmm/sandbox.h \
	vmm/lookup.c vmm/lookup.h \
	vmm/create.c vmm/create-warm.c vmm/create-private.h \
	vmm/pool.c vmm/pool.h vmm/save-image.c vmm/save-image.h \
	vmm/snapshot.c vmm/snapshot.h \
	vmm/pause.c vmm/pause.h \
	vmm/ttl.c vmm/ttl.h \
	vmm/fixup.c vmm/fixup.h \
	vmm/archive.c vmm/archive.h \
	vmm/events.c vmm/events-record.c vmm/events.h \
	vmm/journal.c vmm/journal.h \
	vmm/gc.c vmm/gc.h \
	vmm/space.c vmm/space.h \
	vmm/host.c vmm/host.h \
	vmm/ops.c vmm/ops.h \
	vmm/ops-host.c vmm/ops-json.c \
	vmm/ops-remote.c vmm/ops-remote-api.c vmm/ops-remote.h

# vmm/ops-remote.c speaks airlockd's API with libsoup: every program on libvmm may link it.
AM_CFLAGS += $(LIBSOUP_CFLAGS)
VMM_LIBS += $(LIBSOUP_LIBS)
