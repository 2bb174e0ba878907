#!/bin/bash
# test-cli: bad input to the airlock CLI gets one line, a documented exit code,
# and leaves nothing behind. Runs against test:///default with a fake image.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../integration/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=test:///default
export AIRLOCK_ACCEL=tcg
export AIRLOCK_STATE_DIR=$(mktemp -d /tmp/airlock-test-cli-XXXXXX)
trap 'rm -rf "$AIRLOCK_STATE_DIR"' EXIT

. "$HERE/fake-image.sh"

# expect DESC CODE -- ARGS...: exit code, exactly one line on stderr, nothing left behind.
expect() {
    local desc=$1 code=$2; shift 3
    local err rc lines
    err=$("$AIRLOCK" "$@" 2>&1 >/dev/null); rc=$?
    lines=$(printf '%s\n' "$err" | grep -c .)
    is "$desc: exit $code" "$rc" "$code"
    is "$desc: one line on stderr" "$lines" 1
    ok "$desc: nothing left behind" -- bash -c "[ -z \"\$(ls -A '$AIRLOCK_STATE_DIR/sandboxes' 2>/dev/null)\" ]"
    printf '%s\n' "$err" | sed 's/^/#   /'
}

long=$(printf 'a%.0s' $(seq 200))
expect "upper-case name" 2 -- create UPPER
expect "path name" 2 -- create ../x
expect "xml-injection name" 2 -- create "a'/><disk"
expect "200-character name" 2 -- create "$long"
expect "empty name" 2 -- create ""
expect "unknown image" 2 -- create ok-name --image nope
expect "missing secrets file" 2 -- create ok-name --secrets /nonexistent/secrets.env
s=$AIRLOCK_STATE_DIR/s.env
printf 'API_KEY=canary-cli-secret\n' > "$s"; chmod 644 "$s"
expect "world-readable secrets" 2 -- create ok-name --secrets "$s"
ok "the chmod that fixes it is named" -- bash -c "$AIRLOCK create ok-name --secrets $s 2>&1 | grep -q 'chmod 600'"
chmod 640 "$s"
expect "group-readable secrets" 2 -- create ok-name --secrets "$s"
printf 'API_KEY=canary-cli-secret\nthis line is canary-cli-secret broken\n' > "$s"; chmod 600 "$s"
expect "malformed secrets line" 2 -- create ok-name --secrets "$s"
ok "malformed line: no value in the error" -- bash -c "! $AIRLOCK create ok-name --secrets $s 2>&1 | grep -q canary-cli-secret"
expect "memory 0" 2 -- create ok-name --memory 0
expect "memory larger than the host" 2 -- create ok-name --memory 99999999
expect "unknown network mode" 2 -- create ok-name --network bogus
expect "bad ttl" 2 -- create ok-name --ttl soon
expect "libvirtd not running" 4 -- -c 'qemu+unix:///system?socket=/nonexistent/libvirt-sock' create ok-name
expect "unknown sandbox destroy" 2 -- destroy no-such
"$AIRLOCK" destroy --force no-such; is "destroy --force of unknown exits 0" "$?" 0
expect "unknown sandbox inspect" 2 -- inspect no-such
expect "unknown command" 2 -- frobnicate
expect "reset of unknown sandbox" 2 -- reset no-such
expect "bad snapshot tag" 2 -- snapshot no-such "Bad Tag"
expect "archive show of a hostile id" 2 -- archive show ../../etc
expect "archive rm of unknown id" 2 -- archive rm gone-20260101T000000Z
expect "unknown option" 2 -- create --frobnicate x

# ---- validation holes: a value given and out of range is an error, never "the default" ----
for a in "--memory -5" "--cpus -3" "--disk-size -1" "--timeout -1" "--cpus 0" "--disk-size 0" "--timeout 0"; do
    expect "create $a" 2 -- create ok-name $a
done
ok "the flag and its value are named" -- bash -c "$AIRLOCK create ok-name --cpus -3 2>&1 | grep -q -- '--cpus -3'"
expect "a URI no driver takes" 2 -- -c bogus:// list
ok "a bad URI does not say to start libvirtd" -- bash -c "! $AIRLOCK -c bogus:// list 2>&1 | grep -q 'start'"
ok "no error names a source-tree path" -- bash -c "! $AIRLOCK -c 'qemu+unix:///system?socket=/nonexistent/x' list 2>&1 | grep -q 'scripts/'"
expect "events of a sandbox that never was" 2 -- events nosuch
expect "cp of a directory without -r" 2 -- cp /etc ok-name:/tmp/
expect "cp of a missing file" 2 -- cp /nonexistent/file ok-name:/tmp/
d=$AIRLOCK_STATE_DIR/dups.conf
printf '[sandbox]\nmemory = 1024\nmemory = 512\n' > "$d"
expect "spec with a key twice" 2 -- spec check "$d"
ok "the duplicate's line is named" -- bash -c "$AIRLOCK spec check $d 2>&1 | grep -q 'dups.conf:3: \[sandbox\] memory: given twice'"
expect "create from a spec with a key twice" 2 -- create ok-name -f "$d"
p=$AIRLOCK_STATE_DIR/dups.plan
printf '[job a]\ncommand = true\n\n[job a]\ncommand = false\n' > "$p"
expect "plan with [job a] twice" 2 -- batch check "$p"
ok "the plan's line is named" -- bash -c "$AIRLOCK batch check $p 2>&1 | grep -q 'dups.plan:4: \[job a\] appears twice'"
printf '[job a]\ncommand = true\n\ntimeout = soon\n' > "$p"
ok "a plan error names its line" -- bash -c "$AIRLOCK batch check $p 2>&1 | grep -q 'dups.plan:4: \[job a\] timeout'"
printf '[job a]\ncommand = true\nfiles = missing.tar:/srv/x.tar\n' > "$p"
expect "files= naming a missing file" 2 -- batch check "$p"
ok "the missing file's line is named" -- bash -c "$AIRLOCK batch check $p 2>&1 | grep -q 'dups.plan:3: \[job a\] files: .*missing.tar. does not exist'"
# The documented examples are tested files: what docs/ shows, works when pasted.
docs=$HERE/../../docs
ex=$AIRLOCK_STATE_DIR/example
mkdir -p "$ex/fixtures"
awk '/^```ini/{f=1;next} /^```/{if(f)exit} f' "$docs/batch.md" > "$ex/plan.ini"
: > "$ex/app.tar"; echo '{}' > "$ex/fixtures/db.json"
printf 'API_KEY=x\n' > "$ex/secrets.env"; chmod 600 "$ex/secrets.env"
ok "docs/batch.md's plan example passes batch check" -- "$AIRLOCK" batch check "$ex/plan.ini"
is "docs/batch.md's example: 3 + 4 jobs" "$("$AIRLOCK" batch check --json "$ex/plan.ini" | grep -c '"name"')" 5
awk '/^## Example/{f=1;next} /^## /{if(f)exit} f && /^    /{sub(/^    /,""); print}' "$docs/spec.md" > "$ex/sandbox.conf"
printf '#cloud-config\n' > "$ex/extra.yaml"; printf '#cloud-config\n' > "$ex/more.yaml"
ok "docs/spec.md's example passes spec check" -- "$AIRLOCK" spec check "$ex/sandbox.conf"
is "docs/spec.md's example: what it says is read" "$("$AIRLOCK" spec check --json "$ex/sandbox.conf" 2>/dev/null | jq -c '[.valid, .image, .network, .secret_names, (.cloud_init_parts | length)]' 2>/dev/null)" '[true,"debian-12","allow",["API_KEY"],2]'
mkdir "$AIRLOCK_STATE_DIR/unreadable"
mkdir "$AIRLOCK_STATE_DIR/unreadable/events.jsonl"
AIRLOCK_STATE_DIR=$AIRLOCK_STATE_DIR/unreadable expect "events when the log cannot be read" 1 -- events
: > "$AIRLOCK_STATE_DIR/unreadable/archive"
AIRLOCK_STATE_DIR=$AIRLOCK_STATE_DIR/unreadable expect "archive list when the directory cannot be read" 1 -- archive list
rm -rf "$AIRLOCK_STATE_DIR/unreadable"
"$AIRLOCK" create rs-one >/dev/null 2>&1
"$AIRLOCK" destroy --force rs-one >/dev/null 2>&1
ok "destroy removes the sandbox's lock file" -- test ! -e "$AIRLOCK_STATE_DIR/locks/rs-one.lock"
mkdir -p "$AIRLOCK_STATE_DIR/locks"; : > "$AIRLOCK_STATE_DIR/locks/stale-one.lock"
"$AIRLOCK" gc >/dev/null 2>&1
ok "gc removes the lock file of a name nothing else is left of" -- test ! -e "$AIRLOCK_STATE_DIR/locks/stale-one.lock"
"$AIRLOCK" create gc-one >/dev/null 2>&1   # test:/// forgets the domain: gc sees an orphan
"$AIRLOCK" gc >/dev/null 2>&1
ok "the gc record in the global log names its sandbox" -- bash -c "grep '\"event\":\"gc\"' '$AIRLOCK_STATE_DIR/events.jsonl' | grep -q '\"sandbox\":\"gc-one\"'"
ok "gc removes the orphan's lock file" -- test ! -e "$AIRLOCK_STATE_DIR/locks/gc-one.lock"

# A working create through the CLI, then the image corrupted: exit 5.
"$AIRLOCK" create ok-name >/dev/null 2>&1; is "create on test driver" "$?" 0
"$AIRLOCK" image verify debian-12 >/dev/null; is "image verify passes" "$?" 0
rm -rf "$AIRLOCK_STATE_DIR/sandboxes" "$AIRLOCK_STATE_DIR/locks"
printf '\x42' | dd of="$img/disk.qcow2" bs=1 seek=4096 conv=notrunc 2>/dev/null
expect "image verify of a flipped byte" 5 -- image verify debian-12
expect "create on a corrupt image" 5 -- create ok-name
ok "doctor fails on a corrupt image" -- bash -c "! $AIRLOCK doctor >/dev/null 2>&1"
ok "--version" -- bash -c "$AIRLOCK --version | grep -q '^airlock '"
for c in create destroy list inspect console exec cp reset snapshot snapshots doctor "image list" "image verify" "archive list" "archive show" "archive rm"; do
    ok "$c --help" -- bash -c "$AIRLOCK $c --help | grep -qi usage"
done


# ---- audit trail: a keyed chain; heads and sandbox logs where only root writes ----
A=$AIRLOCK_STATE_DIR
fake_manifest
rm -rf "$A/sandboxes" "$A/locks"
"$AIRLOCK" create au-one >/dev/null 2>&1; is "audit: create writes a sandbox log" "$?" 0
ok "audit: verify of the global log" -- "$AIRLOCK" audit verify
ok "audit: verify of the sandbox's log" -- "$AIRLOCK" audit verify au-one
ok "audit: logs --events shows the sandbox's records" -- bash -c "'$AIRLOCK' logs au-one --events | grep -q '\"event\":\"create\".*\"result\":\"ok\"'"
"$AIRLOCK" snapshot au-one t1 >/dev/null 2>&1; "$AIRLOCK" snapshot au-one --delete t1 >/dev/null 2>&1
is "events --type create: only the create records" "$("$AIRLOCK" events au-one --type create --json | jq -r .event | sort -u | tr '\n' ' ')" "create "
is "events --type snapshot: the family (snapshot, snapshot-delete)" "$("$AIRLOCK" events au-one --type snapshot --json | jq -r .event | sort -u | tr '\n' ' ')" "snapshot snapshot-delete "
is "events --summary --json counts per event and the failed ones" \
    "$("$AIRLOCK" events au-one --summary --json | jq -c '[.by_event.create, .records, .failed]')" \
    "$("$AIRLOCK" events au-one --json | jq -s -c '[(map(select(.event=="create")) | length), length, (map(select(.result != "ok")) | length)]')"
"$AIRLOCK" events --type 'Bad;' au-one >/dev/null 2>&1; is "events --type with a bad name: exit 2" "$?" 2
ok "audit: nothing of the trail in the sandbox directory (the qemu user writes there)" -- \
    bash -c "! ls -A '$A/sandboxes/au-one' | grep -qE 'events|head'"
ok "audit: the sandbox's log and head under STATE/audit" -- \
    test -s "$A/audit/sandboxes/au-one.jsonl" -a -s "$A/audit/sandboxes/au-one.head"
is "audit: STATE/audit is 0700" "$(stat -c %a "$A/audit" 2>/dev/null)" 700
is "audit: the key is 0600, 32 bytes" "$(stat -c %a:%s "$A/audit/key" 2>/dev/null)" 600:32
"$AIRLOCK" destroy au-one >/dev/null 2>&1; is "audit: destroy" "$?" 0
ok "audit: destroy removes the sandbox's log and head" -- \
    test ! -e "$A/audit/sandboxes/au-one.jsonl" -a ! -e "$A/audit/sandboxes/au-one.head"
ok "audit: verify after destroy" -- "$AIRLOCK" audit verify
expect "audit verify of a sandbox without a log" 2 -- audit verify au-one
mkdir "$A/no-audit-yet"
AIRLOCK_STATE_DIR=$A/no-audit-yet expect "audit verify before any record (no key yet)" 2 -- audit verify

# Each case breaks the global log (heads removed from where this and older versions keep them)
# and expects `audit verify` to fail with one line; the saved state is put back in between.
saved=$A/audit-saved
mkdir "$saved" && (cd "$A" && cp -a $(ls -d events.jsonl events.jsonl.head audit 2>/dev/null) "$saved/")
restore_audit() { rm -rf "$A/audit" "$A/events.jsonl" "$A/events.jsonl.head"; cp -a "$saved/." "$A/"; }
no_head() { rm -f events.jsonl.head audit/events.head; }
drop_last_no_head() { sed -i '$d' events.jsonl; no_head; }
empty_log() { : > events.jsonl; }
empty_log_no_head() { : > events.jsonl; no_head; }
drop_last_then_append() { sed -i '$d' events.jsonl; "$AIRLOCK" destroy --force au-gone >/dev/null 2>&1; }
# Anyone who can write the log and the heads but not read the key: edit, then recompute the chain.
rewrite_without_key() {
    local prev=0000000000000000000000000000000000000000000000000000000000000000 line
    sed -i '1s/"uid":[0-9]*/"uid":4242/' events.jsonl
    while IFS= read -r line; do
        line=$(printf '%s' "$line" | sed -E "s/\"prev\":\"[0-9a-f]{64}\"/\"prev\":\"$prev\"/")
        printf '%s\n' "$line"
        prev=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
    done < events.jsonl > events.new
    mv events.new events.jsonl
    printf '%s' "$prev" > events.jsonl.head
    if [ -d audit ]; then printf '%s\n' "$prev" > audit/events.head; fi
}
for t in no_head drop_last_no_head empty_log empty_log_no_head drop_last_then_append rewrite_without_key; do
    restore_audit
    (cd "$A" && $t)
    expect "audit verify after $t" 1 -- audit verify
done
restore_audit
ok "audit: verify passes again once restored" -- "$AIRLOCK" audit verify

# ---- no core dumps: airlock holds secret values in memory ----
"$AIRLOCK" events --follow >/dev/null 2>&1 &
follower=$!
sleep 1
is "a running airlock has no core limit (no core file can hold a secret)" \
    "$(prlimit --core --pid "$follower" --output SOFT,HARD --noheadings 2>/dev/null | tr -s ' ' | sed 's/^ //')" "0 0"
kill "$follower" 2>/dev/null; wait "$follower" 2>/dev/null

# ---- configuration: the environment is read once, and a bad value is one clear line ----
AIRLOCK_ARCHIVE_KEEP=lots expect "AIRLOCK_ARCHIVE_KEEP=lots" 2 -- list
AIRLOCK_ARCHIVE_MAX_AGE=soon expect "AIRLOCK_ARCHIVE_MAX_AGE=soon" 2 -- list
AIRLOCK_RESERVE_MIB=-1 expect "AIRLOCK_RESERVE_MIB=-1" 2 -- list
ok "a bad value names its variable" -- bash -c "AIRLOCK_ARCHIVE_KEEP=lots '$AIRLOCK' list 2>&1 | grep -q \"AIRLOCK_ARCHIVE_KEEP='lots'\""

# ---- help and discovery ----
ok "airlock help lists the commands" -- bash -c "$AIRLOCK help | grep -q '^  destroy '"
ok "airlock help COMMAND is COMMAND --help" -- bash -c "diff <($AIRLOCK help create) <($AIRLOCK create --help)"
ok "airlock help GROUP SUB" -- bash -c "$AIRLOCK help image verify | grep -q 'image verify'"
ok "airlock image --help lists its subcommands" -- bash -c "$AIRLOCK image --help | grep -q '^  verify '"
ok "airlock help image lists its subcommands" -- bash -c "$AIRLOCK help image | grep -q '^  list '"
expect "a group without a subcommand" 2 -- image
expect "a mistyped command" 2 -- destory x
ok "a mistyped command gets a suggestion" -- bash -c "$AIRLOCK destory x 2>&1 | grep -q \"did you mean 'destroy'\""
ok "a swapped pair of letters too" -- bash -c "$AIRLOCK lsit 2>&1 | grep -q \"did you mean 'list'\""
expect "help of an unknown command" 2 -- help frobnicate
# -f is --follow everywhere --help shows it; create -f and destroy -f still work (hidden).
for c in console events logs; do
    ok "$c: -f is --follow" -- bash -c "$AIRLOCK $c --help | grep -q -- '-f, --follow'"
done
for c in create destroy; do
    ok "$c --help shows no -f" -- bash -c "! $AIRLOCK $c --help | grep -qE -- '(^| )-f,'"
done
"$AIRLOCK" destroy -f no-such; is "destroy -f still means --force" "$?" 0
expect "create -f still reads a spec file" 2 -- create ok-name -f "$d"

# ---- --json where a command reports something; numbers as people write them ----
ok "destroy --json" -- bash -c "$AIRLOCK destroy --force --json no-such | grep -q '\"result\" : \"destroyed\"'"
ok "image verify --json" -- bash -c "$AIRLOCK image verify --json debian-12 | grep -q '\"valid\" : true'"
ok "batch check --json" -- bash -c "$AIRLOCK batch check --json $ex/plan.ini | grep -q '\"valid\" : true'"
ok "audit verify --json" -- bash -c "$AIRLOCK audit verify --json | grep -q '\"intact\" : true'"
ok "snapshot --help has --json" -- bash -c "$AIRLOCK snapshot --help | grep -q -- --json"
"$AIRLOCK" create js-one >/dev/null 2>&1
ok "logs --json" -- bash -c "$AIRLOCK logs --json --events js-one | grep -q '\"log\" : \"events\"'"
ok "create --json: timings with at most 6 decimals" -- bash -c "$AIRLOCK create --json js-two | grep -E '\"total\" : [0-9]+\.[0-9]{1,6},?\$'"
ok "the audit log's numbers too" -- bash -c "! grep -qE '[0-9]\.[0-9]{7,}' '$AIRLOCK_STATE_DIR/events.jsonl'"
"$AIRLOCK" destroy --force js-one js-two >/dev/null 2>&1


# ---- the state directory: qemu must reach images/ and sandboxes/ ----
chmod 700 "$AIRLOCK_STATE_DIR/images"
ok "doctor fails when the qemu user cannot reach the images" -- bash -c "! $AIRLOCK doctor >/dev/null 2>&1"
ok "doctor names the chmod that fixes it" -- bash -c "$AIRLOCK doctor 2>&1 | grep -q 'fix: chmod o+x $AIRLOCK_STATE_DIR/images'"
chmod 755 "$AIRLOCK_STATE_DIR/images"
ok "doctor: qemu access ok again" -- bash -c "$AIRLOCK doctor 2>&1 | grep -q '^ok .*qemu access'"

done_testing
