# Shell completion, installed as .../bash-completion/completions/airlock (where bash-completion
# looks for the airlock command on demand).
bashcompletiondir = $(datadir)/bash-completion/completions
EXTRA_DIST += contrib/airlock.bash

install-data-local: install-bash-completion
uninstall-local: uninstall-bash-completion
install-bash-completion:
	$(MKDIR_P) '$(DESTDIR)$(bashcompletiondir)'
	$(INSTALL_DATA) '$(srcdir)/contrib/airlock.bash' '$(DESTDIR)$(bashcompletiondir)/airlock'
uninstall-bash-completion:
	rm -f '$(DESTDIR)$(bashcompletiondir)/airlock'
.PHONY: install-bash-completion uninstall-bash-completion
