# The Python SDK: installed into python3's site directory for $(prefix) (on Debian
# /usr/local/lib/python3.X/dist-packages), with a dist-info whose entry_points.txt
# registers the Inspect provider (what pip would write; there is no pip here).
PYTHON3 ?= /usr/bin/python3
SDK_FILES = sdk/python/airlock/__init__.py sdk/python/airlock/aio.py \
	sdk/python/airlock/client.py sdk/python/airlock/errors.py sdk/python/airlock/models.py \
	sdk/python/airlock/inspect_config.py sdk/python/airlock/inspect_provider.py
SDK_VERSION = 0.1.0
SDK_DISTINFO = airlock_sdk-$(SDK_VERSION).dist-info
# The directory of $(prefix) that python3 reads (dist-packages on Debian), else site-packages.
sdk_sitedir = $$($(PYTHON3) -c 'import sys; v = "%s/lib/python%d.%d/" % (("$(prefix)",) + sys.version_info[:2]); print(next((v + d for d in ("dist-packages", "site-packages") if v + d in sys.path), v + "site-packages"))')
SDK_ALIAS = sdk/python/airlock_inspect/__init__.py
EXTRA_DIST += $(SDK_FILES) $(SDK_ALIAS) sdk/python/pyproject.toml sdk/python/tests

install-data-local: install-sdk
uninstall-local: uninstall-sdk
install-sdk:
	@d="$(DESTDIR)$(sdk_sitedir)"; \
	$(MKDIR_P) "$$d/airlock" "$$d/airlock_inspect" "$$d/$(SDK_DISTINFO)" && \
	for f in $(SDK_FILES); do $(INSTALL_DATA) "$(srcdir)/$$f" "$$d/airlock/" || exit 1; done && \
	$(INSTALL_DATA) "$(srcdir)/$(SDK_ALIAS)" "$$d/airlock_inspect/" && \
	printf 'Metadata-Version: 2.1\nName: airlock-sdk\nVersion: $(SDK_VERSION)\n' > "$$d/$(SDK_DISTINFO)/METADATA" && \
	printf '[inspect_ai]\nairlock = airlock.inspect_provider\n' > "$$d/$(SDK_DISTINFO)/entry_points.txt" && \
	printf 'airlock\nairlock_inspect\n' > "$$d/$(SDK_DISTINFO)/top_level.txt" && \
	echo "installed the Python SDK in $$d/airlock"
uninstall-sdk:
	d="$(DESTDIR)$(sdk_sitedir)"; rm -rf "$$d/airlock" "$$d/airlock_inspect" "$$d/$(SDK_DISTINFO)"
.PHONY: install-sdk uninstall-sdk
