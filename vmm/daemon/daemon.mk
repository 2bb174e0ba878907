# airlockd: the HTTP API and web page over the operations layer (libsoup-3.0).
# The pure parts (routes, request parsing, access, tokens) are in libvmm: the CLI's
# `airlock token` and the unit tests use them too.
libvmm_a_SOURCES += \
	vmm/daemon/api.c vmm/daemon/api.h \
	vmm/daemon/access.c vmm/daemon/access.h \
	vmm/daemon/tokens.c vmm/daemon/tokens.h \
	vmm/daemon/tar.c vmm/daemon/tar.h
AM_CPPFLAGS += -I$(top_srcdir)/vmm/daemon

sbin_PROGRAMS = airlockd
airlockd_SOURCES = \
	vmm/daemon/daemon.h \
	vmm/daemon/main.c \
	vmm/daemon/server.c \
	vmm/daemon/handlers.c \
	vmm/daemon/stream.c \
	vmm/daemon/ws-exec.c
airlockd_CFLAGS = $(AM_CFLAGS) $(LIBSOUP_CFLAGS)
airlockd_LDADD = libvmm.a $(VMM_LIBS) $(LIBSOUP_LIBS)

airlock_SOURCES += vmm/cli/token.c

# The web page and the API's description, served by airlockd.
webdir = $(pkgdatadir)/web
dist_web_DATA = web/index.html web/app.js web/style.css web/openapi.json

check_PROGRAMS += tests/unit/test-daemon
tests_unit_test_daemon_SOURCES = tests/unit/test-daemon.c
tests_unit_test_daemon_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-daemon

dist_noinst_DATA += docs/api.md docs/systemd/airlockd.service
dist_noinst_SCRIPTS += scripts/start-airlockd
EXTRA_DIST += tests/browser/package.json tests/browser/ui.js

# The CLI's client side (vmm/ops-remote.c) against airlockd's own parsers and serialisers.
check_PROGRAMS += tests/unit/test-remote
tests_unit_test_remote_SOURCES = tests/unit/test-remote.c
tests_unit_test_remote_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-remote

check_PROGRAMS += tests/unit/test-tar
tests_unit_test_tar_SOURCES = tests/unit/test-tar.c
tests_unit_test_tar_LDADD = $(TEST_LDADD)
TESTS += tests/unit/test-tar
