# Image recipes and their builder, installed so that an installed airlock can build images
# (`airlock image build NAME`) without the source tree. The layout under $(pkgdatadir)
# mirrors the tree's (images/build finds scripts/lib.sh and the guest agent's sources
# at ../), so a recipe hashes the same from both; a file keeps only its executable bit
# (the recipe hash ignores the rest of the mode).
imagesdir = $(pkgdatadir)/images
EXTRA_DIST += images
IMAGE_HELPERS = scripts/lib.sh guest/airlock-guest.c guest/airlock-guest-exec.c \
	guest/airlock-guest-files.c guest/protocol.h cloud-init/airlock-guest.service

install-data-local: install-images
uninstall-local: uninstall-images
install-images:
	@set -e; cd '$(srcdir)'; \
	for f in images/build images/derive $(IMAGE_HELPERS) \
		$$(find images -mindepth 2 -type f ! -path '*/example-*' ! -name '*.md' | LC_ALL=C sort); do \
		d='$(DESTDIR)$(pkgdatadir)'/$$(dirname "$$f"); $(MKDIR_P) "$$d"; \
		if test -x "$$f"; then m=755; else m=644; fi; \
		echo " $(INSTALL) -m $$m $$f $$d"; $(INSTALL) -m $$m "$$f" "$$d/"; \
	done
uninstall-images:
	rm -rf '$(DESTDIR)$(imagesdir)' '$(DESTDIR)$(pkgdatadir)/guest' \
		'$(DESTDIR)$(pkgdatadir)/scripts' '$(DESTDIR)$(pkgdatadir)/cloud-init'
.PHONY: install-images uninstall-images
