#!/bin/bash
# test-manpage: every command airlock's help lists, and every option each command's --help
# shows, is named in docs/airlock.1 (so the man page cannot fall behind the code).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../integration/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
MAN=$HERE/../../docs/airlock.1
# The man page as text: \- is -, font escapes and quotes gone, one space between words.
text=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/"//g' -e 's/^\.[A-Z]* //' "$MAN" | tr -s ' \t' '  ')
# The entry of command $1 in COMMANDS: the .TP items whose first line starts with it.
entry() {
    awk -v c="$1" '
        /^\.TP/ { head = 1; keep = 0; next }
        /^\.TQ/ { head = 1; next }
        /^\.SH/ { keep = 0; next }
        head { head = 0; if ($0 == c || index($0, c " ") == 1) keep = 1 }
        keep { print }
    ' <<<"$text"
}

commands=$("$AIRLOCK" help | awk '/^Commands:/ {f = 1; next} /^$/ {f = 0} f {print $1 ($1 ~ /^(archive|batch|audit|token|image|spec|pool)$/ ? " " $2 : "")}')
[ -n "$commands" ] || bail "airlock help listed no commands"
while IFS= read -r c; do
    e=$(entry "$c")
    ok "the man page has an entry for '$c'" -- test -n "$e"
    for o in $("$AIRLOCK" $c --help 2>/dev/null | grep -oE -- '(^|[ ,])--[a-z][a-z-]*' | sed 's/^[ ,]*//' | sort -u); do
        [ "$o" = --help ] && continue
        ok "the man page's '$c' names $o" -- grep -qF -- "$o" <<<"$e"
    done
done <<<"$commands"
for o in --connect --accel --version; do
    ok "the man page names the global option $o" -- grep -qF -- "$o" <<<"$text"
done
done_testing
