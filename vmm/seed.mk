# secrets.c + seed.c + cloud-init templates (owned by the seed work).
libvmm_a_SOURCES += \
	vmm/secrets.c vmm/secrets.h \
	vmm/seed.c vmm/seed.h

# The NoCloud templates in cloud-init/ are compiled into libvmm as a GResource.
SEED_TEMPLATES = \
	cloud-init/meta-data.in \
	cloud-init/network-config.in \
	cloud-init/user-data.in \
	cloud-init/with-env.sh \
	cloud-init/scrub-seed.sh \
	cloud-init/profile.sh \
	cloud-init/airlock-guest.service
SEED_RESOURCES = vmm/seed-resources.c vmm/seed-resources.h
GLIB_COMPILE_RESOURCES = $(shell $(PKG_CONFIG) --variable=glib_compile_resources gio-2.0)
SEED_GRESOURCE_FLAGS = --sourcedir=$(srcdir)/cloud-init --c-name airlock_seed --manual-register \
	--internal

nodist_libvmm_a_SOURCES = $(SEED_RESOURCES)
BUILT_SOURCES = $(SEED_RESOURCES)
CLEANFILES += $(SEED_RESOURCES)
EXTRA_DIST += cloud-init/airlock.gresource.xml $(SEED_TEMPLATES)

vmm/seed-resources.c: $(srcdir)/cloud-init/airlock.gresource.xml $(SEED_TEMPLATES)
	$(AM_V_GEN)$(MKDIR_P) vmm && \
	$(GLIB_COMPILE_RESOURCES) $(SEED_GRESOURCE_FLAGS) --generate-source --target=$@ \
		$(srcdir)/cloud-init/airlock.gresource.xml
vmm/seed-resources.h: $(srcdir)/cloud-init/airlock.gresource.xml $(SEED_TEMPLATES)
	$(AM_V_GEN)$(MKDIR_P) vmm && \
	$(GLIB_COMPILE_RESOURCES) $(SEED_GRESOURCE_FLAGS) --generate-header --target=$@ \
		$(srcdir)/cloud-init/airlock.gresource.xml

check_PROGRAMS += tests/unit/test-secrets tests/unit/test-seed
tests_unit_test_secrets_SOURCES = tests/unit/test-secrets.c
tests_unit_test_secrets_LDADD = $(TEST_LDADD)
tests_unit_test_seed_SOURCES = tests/unit/test-seed.c
tests_unit_test_seed_LDADD = $(TEST_LDADD)
tests_unit_test_seed_CPPFLAGS = $(AM_CPPFLAGS) -DTEST_SRCDIR=\"$(abs_top_srcdir)/tests\"
TESTS += tests/unit/test-secrets tests/unit/test-seed
