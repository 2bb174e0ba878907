#!/bin/bash
# test-completion: contrib/airlock.bash registers itself and completes commands, subcommands,
# options, option values, sandbox names (test:///FILE with two sandboxes), images and files.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../integration/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export AIRLOCK_ACCEL=tcg
export AIRLOCK_STATE_DIR=$(mktemp -d /tmp/airlock-test-completion-XXXXXX)
trap 'rm -rf "$AIRLOCK_STATE_DIR"' EXIT
S=$AIRLOCK_STATE_DIR

. "$HERE/fake-image.sh"
# A host with two sandboxes of this state directory (test:///FILE keeps them for every call).
sandbox() {
    cat <<XML
  <domain type='test'><name>airlock-$1</name><memory>524288</memory><os><type>hvm</type></os>
    <metadata><airlock:sandbox xmlns:airlock="urn:airlock:sandbox:1">
      <airlock:name>$1</airlock:name><airlock:owner>$2</airlock:owner>
      <airlock:created>2026-11-26T18:00:00Z</airlock:created>
      <airlock:image name="debian-12" digest="sha256:0123"/>
      <airlock:state-dir>$S</airlock:state-dir>$3
    </airlock:sandbox></metadata></domain>
XML
}
{
    echo '<node>'
    sandbox alpha ci '<airlock:label key="team">red</airlock:label>'
    sandbox beta bob ''
    echo '</node>'
} > "$S/host.xml"
export LIBVIRT_DEFAULT_URI=test://$S/host.xml

. "$HERE/../../contrib/airlock.bash"
ok "complete -p airlock names the function" -- bash -c "$(printf '. %q; complete -p airlock' "$HERE/../../contrib/airlock.bash") | grep -q -- '-F _airlock airlock'"

# complete WORD...: the completions for the words (the last one being completed).
complete_words() {
    COMP_WORDS=("$AIRLOCK" "$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _airlock
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

is "a command" "$(complete_words des)" "destroy"
is "commands starting with s" "$(complete_words s)" "shell snapshot snapshots spec stats"
is "help's argument" "$(complete_words help ima)" "image"
is "a group's subcommands" "$(complete_words image '')" "build import list rm verify"
is "image rm: an image" "$(complete_words image rm '')" "debian-12"
is "--from: an image" "$(complete_words image build x --from '')" "debian-12"
is "batch subcommands" "$(complete_words batch '')" "check collect run status"
is "an option of create" "$(complete_words create x --net)" "--network"
is "an option of a subcommand" "$(complete_words image list --j)" "--json"
is "list's filters" "$(complete_words list --)" "$(printf '%s\n' --format --help --json --label --owner --state | tr '\n' ' ' | sed 's/ $//')"
is "--network's values" "$(complete_words create x --network '')" "allow isolated none"
is "--image's values: the images here" "$(complete_words create x --image '')" "debian-12"
is "image verify: an image" "$(complete_words image verify '')" "debian-12"
is "pool set: an image (or a spec file)" "$(complete_words pool set deb)" "debian-12"
is "destroy: sandbox names" "$(complete_words destroy '')" "alpha beta"
is "exec: a sandbox name first" "$(complete_words exec a)" "alpha"
is "exec: nothing after the name" "$(complete_words exec alpha '')" ""
is "-c is passed on to the calls" "$(COMP_WORDS=x; complete_words -c "test://$S/host.xml" inspect b)" "beta"
is "global options" "$(complete_words --acc)" "--accel"
is "cp: NAME: for a sandbox" "$(complete_words cp al)" "alpha:"
touch "$S/plan-one.ini"
is "batch check: a file" "$(complete_words batch check "$S/plan-o")" "$S/plan-one.ini"

# ---- list's filters and formats, on the same host ----
is "list --format names" "$("$AIRLOCK" list --format names | tr '\n' ' ')" "alpha beta "
is "list --label team=red" "$("$AIRLOCK" list --format names --label team=red)" "alpha"
is "list --owner bob" "$("$AIRLOCK" list --format names --owner bob)" "beta"
is "list --state shut-off: none" "$("$AIRLOCK" list --format names --state 'shut off')" ""
is "list --format json is --json" "$("$AIRLOCK" list --format json)" "$("$AIRLOCK" list --json)"
ok "list: a 32-character name keeps its column" -- bash -c "'$AIRLOCK' list | head -1 | grep -qE '^NAME {29}STATE'"

done_testing
