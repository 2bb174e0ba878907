#!/bin/bash
# Integration: airlockd. First on test:///default (fast: roles, 404 for another's
# sandbox, quotas, tokens, bounds, events, drain), then ONE real sandbox on
# qemu:///system that a non-root member of group airlock creates, execs in, copies
# files to and from, resets and destroys through the API (curl --unix-socket), while
# the web page (headless Chromium, tests/browser/ui.js) watches it appear and resets it.
# The member uses the airlock CLI itself too (AIRLOCK_SOCKET): not root, so its commands
# go through airlockd, with the same output and exit codes.
# Creates the users and groups it needs and removes them at the end.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

TOP=$(cd "$HERE/../.." && pwd)
AIRLOCK=${AIRLOCK:-$TOP/airlock}
AIRLOCKD=${AIRLOCKD:-$(dirname "$AIRLOCK")/airlockd}
WEB=$TOP/web
REAL_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
[ "$REAL_URI" = test:///default ] && REAL_URI=qemu:///system
REAL_STATE=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
U1=airlock-test-u1   # in group airlock
U2=airlock-test-u2   # in no group
SOCKDIR=/run/airlock-test-daemon
FAKE=/var/tmp/airlock-test-daemon-fake
WORK=$(mktemp -d /tmp/airlock-test-XXXXXX)
PORT=$((18000 + $$ % 1000))
REALNAME=airlock-test-api
DPID=
made_group=0

[ "$(id -u)" = 0 ] || bail "integration tests need root"
[ -x "$AIRLOCKD" ] || bail "airlockd not built ($AIRLOCKD)"

cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    AIRLOCK_STATE_DIR=$REAL_STATE LIBVIRT_DEFAULT_URI=$REAL_URI "$AIRLOCK" destroy --force --no-evidence "$REALNAME" "$REALNAME-2" >/dev/null 2>&1
    AIRLOCK_STATE_DIR=$FAKE LIBVIRT_DEFAULT_URI=test:///default "$AIRLOCK" destroy --force --no-evidence airlock-test-root >/dev/null 2>&1
    for u in "$U1" "$U2"; do id "$u" >/dev/null 2>&1 && userdel "$u" 2>/dev/null; done
    [ $made_group = 1 ] && groupdel airlock 2>/dev/null
    rm -rf "$WORK" "$FAKE" "$SOCKDIR"
}
trap cleanup EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM

# ---- users, groups, helpers ----------------------------------------------------------------
getent group airlock >/dev/null || { groupadd --system airlock && made_group=1; }
for u in "$U1" "$U2"; do id "$u" >/dev/null 2>&1 || useradd -M -N -s /usr/sbin/nologin "$u"; done
usermod -a -G airlock "$U1"
U1_UID=$(id -u "$U1")
mkdir -p "$SOCKDIR" && chmod 755 "$SOCKDIR"

# api USER SOCKET METHOD PATH [BODY]: prints the body, then the status on the last line.
api() {
    local who=$1 sock=$2 method=$3 path=$4; shift 4
    local args=(-s --max-time 900 --unix-socket "$sock" -X "$method" -w '\n%{http_code}')
    [ $# -gt 0 ] && args+=(-H 'Content-Type: application/json' --data-binary "$1")
    if [ "$who" = root ]; then curl "${args[@]}" "http://airlockd$path"
    else runuser -u "$who" -- curl "${args[@]}" "http://airlockd$path"; fi
}
# cli USER SOCKET ARGS...: the airlock CLI as USER, pointed at SOCKET.
cli() { local who=$1 sock=$2; shift 2; runuser -u "$who" -- env AIRLOCK_SOCKET="$sock" "$AIRLOCK" "$@"; }
status() { tail -n 1 <<<"$1"; }
body() { sed '$d' <<<"$1"; }
code() { body "$1" | jq -r '.error.code // empty'; }
guest_sleeps() { # how many `sleep` processes run in the guest (root's direct path)
    AIRLOCK_STATE_DIR=$REAL_STATE LIBVIRT_DEFAULT_URI=$REAL_URI "$AIRLOCK" exec "$REALNAME" -- \
        sh -c 'cat /proc/[0-9]*/comm 2>/dev/null | grep -cx sleep' 2>/dev/null
}

# start_daemon URI STATE SOCKET [ARGS...]: runs airlockd until it answers.
start_daemon() {
    local uri=$1 state=$2 sock=$3; shift 3
    LIBVIRT_DEFAULT_URI=$uri AIRLOCK_STATE_DIR=$state AIRLOCK_ACCEL=${AIRLOCK_ACCEL:-} \
        "$AIRLOCKD" --socket "$sock" --web "$WEB" "$@" >>"$WORK/airlockd.log" 2>&1 &
    DPID=$!
    for _ in $(seq 50); do curl -sf --unix-socket "$sock" http://x/v1/whoami >/dev/null && return 0; sleep 0.1; done
    cat "$WORK/airlockd.log" >&2
    return 1
}

fake_image() { # a tiny image whose files match their manifest (as tests/unit/fake-image.h)
    local d=$1/images/test-img
    mkdir -p "$d" && qemu-img create -q -f qcow2 "$d/disk.qcow2" 64M && echo kernel >"$d/vmlinuz" && echo initrd >"$d/initrd.img"
    printf '{"name":"test-img","created":"2026-11-26T00:00:00Z","recipe_sha256":"x","kernel_cmdline":"console=ttyS0","files":{"disk.qcow2":{"sha256":"%s"},"vmlinuz":{"sha256":"%s"},"initrd.img":{"sha256":"%s"}},"packages":[]}' \
        "$(sha256sum <"$d/disk.qcow2" | cut -c1-64)" "$(sha256sum <"$d/vmlinuz" | cut -c1-64)" "$(sha256sum <"$d/initrd.img" | cut -c1-64)" >"$d/manifest.json"
}

# ==== part 1: test:///default ================================================================
rm -rf "$FAKE"; mkdir -p "$FAKE"; chmod 755 "$FAKE"; fake_image "$FAKE"
printf '[quota]\nsandboxes=1\nmemory=1024\ncpus=2\n' >"$FAKE/airlockd.conf"
S=$SOCKDIR/fake.sock
start_daemon test:///default "$FAKE" "$S" --listen "127.0.0.1:$PORT" --pool-interval 1 --pool-max-load 1000 || bail "airlockd did not start on test:///default"
ok "socket is 0660 root:airlock" -- test "$(stat -c '%a %U %G' "$S")" = "660 root airlock"

r=$(api root "$S" GET /v1/whoami); is "root is an admin" "$(body "$r" | jq -r .role)" admin
r=$(api "$U1" "$S" GET /v1/whoami); is "$U1 (group airlock) is a user, by SO_PEERCRED" "$(body "$r" | jq -r '"\(.role) \(.uid)"')" "user $U1_UID"
r=$(api "$U2" "$S" GET /v1/sandboxes); is "$U2 (no group) cannot even connect to the socket" "$(status "$r")" 000

r=$(api root "$S" POST /v1/sandboxes '{"name":"airlock-test-root","image":"test-img","network":"none"}')
is "root creates a sandbox" "$(status "$r")" 201
r=$(api "$U1" "$S" GET /v1/sandboxes); is "$U1's list does not show root's sandbox" "$(body "$r" | jq -c '[.[].name]')" "[]"
r=$(api "$U1" "$S" GET /v1/sandboxes/airlock-test-root); r2=$(api "$U1" "$S" GET /v1/sandboxes/airlock-test-nothing)
is "root's sandbox is a 404 for $U1" "$(status "$r") $(code "$r")" "404 not-found"
is "... with the message of a sandbox that does not exist" "$(body "$r" | jq -r .error.message | sed s/airlock-test-root/X/)" "$(body "$r2" | jq -r .error.message | sed s/airlock-test-nothing/X/)"
for req in "DELETE /v1/sandboxes/airlock-test-root" "POST /v1/sandboxes/airlock-test-root/reset" \
           "GET /v1/sandboxes/airlock-test-root/stats" "GET /v1/sandboxes/airlock-test-root/logs/console"; do
    r=$(api "$U1" "$S" $req); is "$U1: $req is a 404" "$(status "$r")" 404
done
r=$(api "$U1" "$S" POST /v1/sandboxes/airlock-test-root/exec '{"argv":["id"]}'); is "$U1: exec in root's sandbox is a 404" "$(status "$r")" 404
# The CLI of a member goes through airlockd: same messages, same exit codes.
for c in "inspect airlock-test-root" "reset airlock-test-root" "destroy airlock-test-root" "exec airlock-test-root -- id"; do
    out=$(cli "$U1" "$S" $c 2>&1); rc=$?
    is "$U1's CLI: airlock $c is exit 2 ..." "$rc" 2
    is "... with the one line of a sandbox that does not exist" "$out" "airlock: sandbox 'airlock-test-root' not found (airlock list shows what exists)"
done
is "$U1's CLI: list does not show root's sandbox" "$(cli "$U1" "$S" list --json | jq -c '[.[].name]')" "[]"
ok "$U1's doctor says its commands go through airlockd" -- bash -c "runuser -u $U1 -- env AIRLOCK_SOCKET=$S $AIRLOCK doctor --json | jq -e '.checks[] | select(.check==\"daemon\" and .status==\"ok\") | .detail | test(\"go through airlockd on $S\")'"
ok "root's doctor says root takes the direct path" -- bash -c "AIRLOCK_SOCKET=$S AIRLOCK_STATE_DIR=$FAKE LIBVIRT_DEFAULT_URI=test:///default $AIRLOCK doctor --json | jq -e '.checks[] | select(.check==\"daemon\") | .detail | test(\"root.s commands take the direct path\")'"
cli "$U1" "$S" create --image test-img --network none -l via=cli airlock-test-cli; rc=$?
is "$U1's CLI creates a sandbox through airlockd" "$rc" 0
r=$(api root "$S" GET /v1/sandboxes/airlock-test-cli); is "... owned by $U1" "$(body "$r" | jq -r .owner)" "$U1"
is "... one create record, by airlockd, with $U1's uid" "$(jq -c 'select(.event=="create" and .sandbox=="airlock-test-cli") | [.uid, .via, .result]' "$FAKE/events.jsonl")" "[$U1_UID,\"daemon\",\"ok\"]"
is "... inspect as $U1 shows it" "$(cli "$U1" "$S" inspect --json airlock-test-cli | jq -r '"\(.owner) \(.labels.via) \(.state)"')" "$U1 cli running"
out=$(cli "$U1" "$S" create --image test-img --network none airlock-test-cli2 2>&1); rc=$?
is "... a second one is over $U1's quota: exit 7, airlockd's line" "$rc $out" "7 airlock: quota exceeded for '$U1': 1 of 1 sandboxes in use (destroy one first)"
cli "$U1" "$S" destroy --no-evidence airlock-test-cli; rc=$?
is "$U1's CLI destroys it" "$rc" 0
is "... and it is gone" "$(cli "$U1" "$S" list --json | jq length)" 0
r=$(api root "$S" GET /v1/sandboxes/airlock-test-root); is "root's sandbox is untouched" "$(body "$r" | jq -r .state)" running

r=$(api "$U1" "$S" POST /v1/sandboxes '{"name":"airlock-test-u1","image":"test-img","network":"none","bogus":1}')
is "unknown field: 400 invalid" "$(status "$r") $(code "$r")" "400 invalid"
r=$(api "$U1" "$S" POST /v1/sandboxes '{"name":"airlock-test-u1","image":"test-img","spec":"[secrets]\nfile=/etc/shadow\n"}')
is "a spec naming a host file: 400" "$(status "$r")" 400
r=$(api "$U1" "$S" POST /v1/sandboxes '{"name":"airlock-test-u1","image":"test-img",')
is "malformed JSON: 400 invalid" "$(status "$r") $(code "$r")" "400 invalid"
{ printf '{"name":"'; head -c 1100000 /dev/zero | tr '\0' a; printf '"}'; } >"$WORK/big.json"
r=$(curl -s --unix-socket "$S" -w '\n%{http_code}' -H 'Content-Type: application/json' --data-binary @"$WORK/big.json" http://x/v1/sandboxes)
is "a body over the bound: 413" "$(status "$r") $(code "$r")" "413 too-large"
r=$(api "$U1" "$S" GET /v1/sandboxes); is "nothing was created by the refused requests" "$(body "$r" | jq length)" 0

r=$(api "$U1" "$S" POST /v1/sandboxes '{"name":"airlock-test-u1","image":"test-img","network":"none","memory_mib":512}')
is "$U1 creates a sandbox" "$(status "$r")" 201
is "... owned by $U1" "$(body "$r" | jq -r .owner)" "$U1"
ok "... the audit record names $U1's uid, via daemon" -- bash -c "jq -s -e 'map(select(.event==\"create\" and .sandbox==\"airlock-test-u1\" and .uid==$U1_UID and .user==\"$U1\" and .via==\"daemon\")) | length > 0' $FAKE/events.jsonl"
r=$(api "$U1" "$S" POST /v1/sandboxes '{"name":"airlock-test-u1b","image":"test-img","network":"none"}')
is "quota exceeded: 403 quota" "$(status "$r") $(code "$r")" "403 quota"
is "... with a clear message" "$(body "$r" | jq -r .error.message)" "quota exceeded for '$U1': 1 of 1 sandboxes in use (destroy one first)"
r=$(api root "$S" POST /v1/sandboxes '{"name":"airlock-test-root2","image":"test-img","network":"none"}')
is "admins have no quota" "$(status "$r")" 201
api root "$S" DELETE '/v1/sandboxes/airlock-test-root2?evidence=false' >/dev/null
r=$(api "$U1" "$S" GET '/v1/sandboxes/airlock-test-u1/files?path=/tmp/../etc/shadow')
is "a guest path with '..': 400" "$(status "$r") $(code "$r")" "400 invalid"
r=$(api "$U1" "$S" GET '/v1/sandboxes?label=none=x'); is "label filter" "$(body "$r" | jq length)" 0

# Events: what $U1 may see, recorded then live.
runuser -u "$U1" -- curl -sN --max-time 3 --unix-socket "$S" http://x/v1/events >"$WORK/ev-u1" 2>/dev/null &
ev=$!; sleep 1
api "$U1" "$S" DELETE /v1/sandboxes/airlock-test-u1 >/dev/null
wait $ev
ok "events: $U1 gets its create (recorded)" -- grep -q '"event":"create","sandbox":"airlock-test-u1"' "$WORK/ev-u1"
ok "events: $U1 gets its destroy (live)" -- grep -q '"event":"destroy","sandbox":"airlock-test-u1"' "$WORK/ev-u1"
ok "events: $U1 never sees root's sandbox" -- bash -c "! grep -q airlock-test-root '$WORK/ev-u1'"

# Tokens over TCP.
T="http://127.0.0.1:$PORT"
is "TCP without a token: 401" "$(curl -s -o /dev/null -w '%{http_code}' "$T/v1/sandboxes")" 401
tok=$(AIRLOCK_STATE_DIR=$FAKE "$AIRLOCK" token create --user "$U1" --ttl 1h --note test)
is "TCP with $U1's token acts as $U1" "$(curl -s -H "Authorization: Bearer $tok" "$T/v1/whoami" | jq -r .user)" "$U1"
is "... and sees what $U1 sees" "$(curl -s -H "Authorization: Bearer $tok" "$T/v1/sandboxes" | jq -c '[.[].name]')" "[]"
ok "tokens file keeps no secret, mode 600" -- bash -c "test \"\$(stat -c %a $FAKE/tokens.json)\" = 600 && ! grep -q '${tok#airlock_*_}' $FAKE/tokens.json"
t2=$(AIRLOCK_STATE_DIR=$FAKE "$AIRLOCK" token create --user "$U2")
r=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $t2" "$T/v1/sandboxes")
is "a token of $U2 (in no group): 403 forbidden" "$(status "$r") $(code "$r")" "403 forbidden"
# Forged: the last character changed (to one it is not: "${tok%?}0" was the token itself 1 time in 16).
forged=${tok%?}$([ "${tok: -1}" = 0 ] && echo 1 || echo 0)
is "a forged token: 401" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $forged" "$T/v1/whoami")" 401
short=$(AIRLOCK_STATE_DIR=$FAKE "$AIRLOCK" token create --user "$U1" --ttl 1s); sleep 2
r=$(curl -s -w '\n%{http_code}' -H "Authorization: Bearer $short" "$T/v1/whoami")
is "an expired token: 401 that says so" "$(status "$r") $(body "$r" | jq -r .error.message | grep -o expired)" "401 expired"
id=$(AIRLOCK_STATE_DIR=$FAKE "$AIRLOCK" token list --json | jq -r '.[] | select(.note=="test") | .id')
AIRLOCK_STATE_DIR=$FAKE "$AIRLOCK" token revoke "$id"
is "a revoked token: 401" "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" "$T/v1/whoami")" 401
ok "the page is served at /" -- bash -c "curl -sf $T/ | grep -q '<title>airlock</title>'"
ok "/v1/openapi.json is the documented file" -- bash -c "curl -sf --unix-socket $S http://x/v1/openapi.json | cmp - $WEB/openapi.json"
if python3 -c 'import openapi_spec_validator' 2>/dev/null; then
    ok "the OpenAPI document validates" -- python3 -c "import json,sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))" "$WEB/openapi.json"
else
    skip "the OpenAPI document validates" "python3-openapi-spec-validator is not installed"
fi
r=$(api root "$S" GET /v1/audit/verify); is "audit chain intact" "$(body "$r" | jq -r .intact)" true
api root "$S" DELETE '/v1/sandboxes/airlock-test-root?evidence=false' >/dev/null
# airlockd keeps pools filled in the background: one guest per --pool-interval, when idle.
fake_cli() { AIRLOCK_STATE_DIR=$FAKE LIBVIRT_DEFAULT_URI=test:///default "$AIRLOCK" "$@"; }
fake_cli pool set test-img --network none --size 1 >/dev/null
is "no guest ready right after pool set" "$(fake_cli pool list --json | jq '.[0].ready')" 0
for _ in $(seq 1 60); do [ "$(fake_cli pool list --json | jq '.[0].ready')" = 1 ] && break; sleep 0.5; done
is "airlockd filled the pool by itself" "$(fake_cli pool list --json | jq '.[0].ready')" 1
ok "... recorded as a pool-fill by airlockd" -- jq -s -e 'map(select(.event == "pool-fill" and .via == "daemon" and .result == "ok")) | length == 1' "$FAKE/events.jsonl"
fake_cli pool set test-img --network none --size 0 >/dev/null
kill -TERM "$DPID"; wait "$DPID"; rc=$?; DPID=
is "SIGTERM: airlockd exits 0" "$rc" 0
ok "... and removes its socket" -- test ! -e "$S"

# ==== part 2: one real sandbox on qemu:///system =================================================
if [ -n "${DAEMON_TEST_FAKE_ONLY:-}" ]; then
    skip "real sandbox through the API" "DAEMON_TEST_FAKE_ONLY is set"
    done_testing
    exit
fi
if ! virsh -c "$REAL_URI" version >/dev/null 2>&1 || [ ! -f "$REAL_STATE/images/debian-12/manifest.json" ]; then
    skip "real sandbox through the API" "no libvirtd at $REAL_URI or no debian-12 image in $REAL_STATE"
    done_testing
    exit
fi
S=$SOCKDIR/real.sock
start_daemon "$REAL_URI" "$REAL_STATE" "$S" --listen "127.0.0.1:$PORT" --quota-sandboxes 1 --quota-memory 1024 ||
    bail "airlockd did not start on $REAL_URI"
tok=$(AIRLOCK_STATE_DIR=$REAL_STATE "$AIRLOCK" token create --user "$U1" --ttl 1h --note browser-test)
browser=
if [ -x /usr/bin/chromium ] && [ -d "$TOP/tests/browser/node_modules/puppeteer-core" ]; then
    # The page is open before the sandbox exists: it must appear there by itself.
    node "$TOP/tests/browser/ui.js" "http://127.0.0.1:$PORT" "$tok" "$REALNAME" /tmp/airlock-daemon-ui.png 400 >"$WORK/ui.tap" 2>&1 &
    browser=$!
fi
t0=$SECONDS
# $U1 runs `airlock create` itself: not root, so it goes through airlockd.
runuser -u "$U1" -- curl -sN --unix-socket "$S" "http://x/v1/events?sandbox=$REALNAME" >"$WORK/progress.sse" 2>/dev/null &
ssepid=$!
cli "$U1" "$S" create --memory 512 -l test=daemon "$REALNAME" >"$WORK/create" 2>&1 &
cpid=$!
sleep 3
worst=0
while kill -0 $cpid 2>/dev/null; do
    ms=$(curl -s -o /dev/null -w '%{time_total}' --unix-socket "$S" http://x/v1/sandboxes | awk '{printf "%d", $1*1000}')
    [ "$ms" -gt "$worst" ] && worst=$ms
    sleep 2
done
wait $cpid; rc=$?
is "$U1's airlock create makes a real sandbox through airlockd ($((SECONDS - t0)) s)" "$rc" 0
[ "$rc" = 0 ] || { sed 's/^/# /' "$WORK/create"; bail "create failed"; }
ok "other clients were served during the create (slowest list ${worst} ms)" -- test "$worst" -lt 2000
kill "$ssepid" 2>/dev/null; wait "$ssepid" 2>/dev/null
ok "the create's stages reach its creator live ($(grep -o '"detail":"[a-z-]* ([0-9.]* s)' "$WORK/progress.sse" | cut -d'"' -f4 | tr '\n' ',' | head -c 120))" -- \
    bash -c "grep -q '\"event\":\"progress\".*\"detail\":\"boot ' '$WORK/progress.sse' && grep -q '\"detail\":\"cloud-init ' '$WORK/progress.sse'"
ok "the audit record of the real create names $U1's uid" -- bash -c "jq -s -e 'map(select(.event==\"create\" and .sandbox==\"$REALNAME\" and .result==\"ok\" and .uid==$U1_UID and .via==\"daemon\")) | length > 0' $REAL_STATE/events.jsonl"

if [ -n "$browser" ]; then
    wait "$browser"; brc=$?
    while IFS= read -r line; do
        case $line in
            "ok "*) is "${line#ok * - }" ok ok ;;
            "not ok "*) is "${line#not ok * - }" "not ok" ok ;;
            "#"*) echo "$line" ;;
        esac
    done <"$WORK/ui.tap"
    is "browser test exit status" "$brc" 0
    [ "$brc" = 0 ] || sed 's/^/# ui: /' "$WORK/ui.tap" | tail -20
else
    skip "browser: log in, see the sandbox, reset it, see the event" "chromium or tests/browser/node_modules missing (scripts/setup installs them)"
fi

r=$(api "$U1" "$S" POST "/v1/sandboxes/$REALNAME/exec" '{"argv":["sh","-c","echo hello; echo oops >&2; exit 3"]}')
is "exec streams NDJSON (200)" "$(status "$r")" 200
is "... stdout" "$(body "$r" | jq -r 'select(.stream=="stdout") | .data' | base64 -d)" hello
is "... stderr" "$(body "$r" | jq -r 'select(.stream=="stderr") | .data' | base64 -d)" oops
is "... exit code" "$(body "$r" | jq -r 'select(.exit_code != null) | .exit_code')" 3
r=$(api "$U1" "$S" POST "/v1/sandboxes/$REALNAME/exec" '{"argv":["cat"],"stdin":"from stdin"}')
is "exec with stdin" "$(body "$r" | jq -r 'select(.stream=="stdout") | .data' | base64 -d)" "from stdin"
r=$(api "$U1" "$S" POST "/v1/sandboxes/$REALNAME/exec" '{"argv":["sleep","30"],"timeout_s":2}')
is "exec timeout ends with a timeout error frame" "$(body "$r" | grep . | tail -n 1 | jq -r .error.code)" timeout
head -c 3000 /dev/urandom >"$WORK/payload"; chmod 644 "$WORK/payload"
r=$(runuser -u "$U1" -- curl -s -w '\n%{http_code}' --unix-socket "$S" -X PUT --data-binary @- \
    "http://x/v1/sandboxes/$REALNAME/files?path=/tmp/payload" <"$WORK/payload")
is "file put" "$(status "$r")" 200
runuser -u "$U1" -- curl -s --unix-socket "$S" "http://x/v1/sandboxes/$REALNAME/files?path=/tmp/payload" >"$WORK/back"
ok "file get returns the same bytes" -- cmp "$WORK/payload" "$WORK/back"
# Directory trees as ustar archives, both ways; a hostile archive is refused whole.
mkdir -p "$WORK/tree/a/b" "$WORK/tree/empty" && echo one >"$WORK/tree/a/b/f" && ln -s b/f "$WORK/tree/a/l" && chmod 640 "$WORK/tree/a/b/f"
tar --format=ustar -C "$WORK/tree" -cf "$WORK/tree.tar" .
r=$(runuser -u "$U1" -- curl -s -w '\n%{http_code}' --unix-socket "$S" -X PUT -H 'Content-Type: application/x-tar' \
    --data-binary @- "http://x/v1/sandboxes/$REALNAME/files?path=/tmp/tree&recursive=1" <"$WORK/tree.tar")
is "a directory tree into the guest (ustar, recursive=1)" "$(status "$r")" 200
runuser -u "$U1" -- curl -s --unix-socket "$S" "http://x/v1/sandboxes/$REALNAME/files?path=/tmp/tree&recursive=1" >"$WORK/back.tar"
mkdir -p "$WORK/treeback" && tar -C "$WORK/treeback" -xf "$WORK/back.tar"
ok "... and back out: the same files, link and modes" -- bash -c "diff -r --no-dereference '$WORK/tree' '$WORK/treeback' && [ \$(stat -c %a '$WORK/treeback/a/b/f') = 640 ] && [ \$(readlink '$WORK/treeback/a/l') = b/f ]"
(cd "$WORK/tree/a" && tar -P --format=ustar -cf "$WORK/evil.tar" b/f ../a/b/f 2>/dev/null)
r=$(runuser -u "$U1" -- curl -s -w '\n%{http_code}' --unix-socket "$S" -X PUT -H 'Content-Type: application/x-tar' \
    --data-binary @- "http://x/v1/sandboxes/$REALNAME/files?path=/tmp/evil&recursive=1" <"$WORK/evil.tar")
is "an archive with a '..' member: 400 invalid, naming it" "$(status "$r") $(code "$r") $(body "$r" | jq -r .error.message | grep -c '\.\./a/b/f')" "400 invalid 1"
out=$(AIRLOCK_STATE_DIR=$REAL_STATE LIBVIRT_DEFAULT_URI=$REAL_URI "$AIRLOCK" exec "$REALNAME" -- sh -c 'test -e /tmp/evil && echo copied || echo none')
is "... and nothing of it reached the guest" "$out" none
out=$(cli "$U1" "$S" exec "$REALNAME" -- sh -c 'echo hello; echo oops >&2; exit 3' 2>"$WORK/stderr"); rc=$?
is "$U1's airlock exec: the command's stdout" "$out" hello
is "... its stderr" "$(cat "$WORK/stderr")" oops
is "... its exit code" "$rc" 3
out=$(cli "$U1" "$S" exec --timeout 1 "$REALNAME" -- sleep 30 2>&1); rc=$?
is "... --timeout: exit 124 with airlockd's line" "$rc $(grep -c . <<<"$out")" "124 1"
# The CLI's exec through airlockd is a websocket, both ways: stdin streamed, signals
# forwarded, a terminal; a client that goes away takes its command with it.
out=$(printf 'one\ntwo\nthree\n' | cli "$U1" "$S" exec "$REALNAME" -- wc -l); rc=$?
is "$U1's airlock exec streams stdin through airlockd (wc -l)" "$rc $out" "0 3"
r=$(api "$U1" "$S" GET "/v1/sandboxes/$REALNAME/exec")
is "GET .../exec without Upgrade: a JSON error naming the websocket" "$(body "$r" | jq -r .error.message | grep -c websocket)" 1
out=$(script -qec "runuser -u $U1 -- env AIRLOCK_SOCKET=$S TERM=xterm $AIRLOCK exec -it $REALNAME -- sh -c 'tty; stty size'" /dev/null </dev/null 2>&1 | tr -d '\r')
ok "... exec -it gets a terminal in the guest, sized like ours ($(echo $out | tr '\n' ' '))" -- \
    bash -c "grep -q '^/dev/pts/' <<<'$out' && grep -Eq '^[0-9]+ [0-9]+$' <<<'$out'"
cli_pid() { pgrep -u "$U1" -f "airlock exec $REALNAME -- sleep 600" | head -n 1; }
cli "$U1" "$S" exec "$REALNAME" -- sleep 600 </dev/null >/dev/null 2>&1 &
bg=$!
n=0; for _ in $(seq 30); do n=$(guest_sleeps); [ "${n:-0}" -ge 1 ] && break; sleep 1; done
is "... a command runs (control)" "${n:-0}" 1
kill -INT "$(cli_pid)"; wait "$bg"; rc=$?
for _ in $(seq 20); do n=$(guest_sleeps); [ "$n" = 0 ] && break; sleep 1; done
is "... Ctrl-C reaches the guest's command: exit 130, and it is gone" "$rc $n" "130 0"
cli "$U1" "$S" exec "$REALNAME" -- sleep 600 </dev/null >/dev/null 2>&1 &
bg=$!
n=0; for _ in $(seq 30); do n=$(guest_sleeps); [ "${n:-0}" -ge 1 ] && break; sleep 1; done
kill -KILL "$(cli_pid)"; wait "$bg" 2>/dev/null
for _ in $(seq 20); do n=$(guest_sleeps); [ "$n" = 0 ] && break; sleep 1; done
is "... a client killed mid-exec: airlockd kills its command in the guest" "$n" 0
runuser -u "$U1" -- curl -s --max-time 5 --unix-socket "$S" -H 'Content-Type: application/json' \
    --data '{"argv":["sleep","600"]}' "http://x/v1/sandboxes/$REALNAME/exec" >/dev/null 2>&1
for _ in $(seq 20); do n=$(guest_sleeps); [ "$n" = 0 ] && break; sleep 1; done
is "... an NDJSON exec whose client hangs up: its command is killed too" "$n" 0
chmod 711 "$WORK"; mkdir "$WORK/u1"; chown "$U1" "$WORK/u1"; cp "$WORK/payload" "$WORK/u1/payload"; chown "$U1" "$WORK/u1/payload"
cli "$U1" "$S" cp "$WORK/u1/payload" "$REALNAME:/tmp/via-cli"; rc=$?
is "$U1's airlock cp into the guest" "$rc" 0
cli "$U1" "$S" cp "$REALNAME:/tmp/via-cli" "$WORK/u1/back"; rc=$?
ok "... and out again: the same bytes ($rc)" -- cmp "$WORK/payload" "$WORK/u1/back"
ok "... the copy out is $U1's file" -- test "$(stat -c %U "$WORK/u1/back")" = "$U1"
cli "$U1" "$S" reset "$REALNAME"; rc=$?
is "$U1's airlock reset" "$rc" 0
r=$(api "$U1" "$S" POST "/v1/sandboxes/$REALNAME/exec" '{"argv":["test","-e","/tmp/payload"]}')
is "... the copied file is gone after the reset" "$(body "$r" | jq -r 'select(.exit_code != null) | .exit_code')" 1
r=$(api "$U1" "$S" POST /v1/sandboxes "{\"name\":\"$REALNAME-2\"}")
is "a second create: quota exceeded (403 quota)" "$(status "$r") $(code "$r")" "403 quota"
r=$(api "$U1" "$S" GET "/v1/sandboxes/$REALNAME/stats"); is "stats" "$(body "$r" | jq -r .state)" running
ok "reset and exec are audited under $U1's uid" -- bash -c "jq -se '[.[] | select(.sandbox==\"$REALNAME\" and .uid==$U1_UID and .via==\"daemon\") | .event] | (index(\"reset\") != null) and (index(\"exec\") != null)' $REAL_STATE/events.jsonl"

# airlockd dies (SIGKILL) while an exec runs: the guest's command dies with the channel,
# and a new airlockd serves the sandbox as before.
api "$U1" "$S" POST "/v1/sandboxes/$REALNAME/exec" '{"argv":["sleep","600"]}' >"$WORK/longexec" 2>&1 &
n=0
for _ in $(seq 30); do n=$(guest_sleeps); [ "${n:-0}" -ge 1 ] && break; sleep 1; done
is "an exec through airlockd runs in the guest (control)" "${n:-0}" 1
kill -KILL "$DPID"; wait "$DPID" 2>/dev/null; DPID=
for _ in $(seq 20); do n=$(guest_sleeps); [ "$n" = 0 ] && break; sleep 1; done
is "airlockd killed mid-exec: the guest's command is gone" "$n" 0
start_daemon "$REAL_URI" "$REAL_STATE" "$S" --listen "127.0.0.1:$PORT" --quota-sandboxes 1 --quota-memory 1024 ||
    bail "airlockd did not start again after SIGKILL (its old socket left behind)"
r=$(api "$U1" "$S" POST "/v1/sandboxes/$REALNAME/exec" '{"argv":["echo","again"]}')
is "... a new airlockd takes over the socket and execs in the same sandbox" "$(body "$r" | jq -r 'select(.stream=="stdout") | .data' | base64 -d)" again
r=$(LIBVIRT_DEFAULT_URI=$REAL_URI AIRLOCK_STATE_DIR=$REAL_STATE "$AIRLOCKD" --socket "$S" --web "$WEB" 2>&1); rc=$?
is "a second airlockd on a live socket is refused (exit 1)" "$rc" 1
ok "... and says why" -- grep -q "another airlockd already listens on $S" <<<"$r"

# Without airlock-guest (AIRLOCK_GUEST=agent: the QEMU agent path, as while the helper is not
# connected) an exec through airlockd still ends: its cancel pipe is read only when it has
# bytes (it blocked the exec for good before).
kill -TERM "$DPID"; wait "$DPID"; DPID=
export AIRLOCK_GUEST=agent
start_daemon "$REAL_URI" "$REAL_STATE" "$S" --quota-sandboxes 1 --quota-memory 1024 ||
    bail "airlockd did not start with AIRLOCK_GUEST=agent"
unset AIRLOCK_GUEST
r=$(runuser -u "$U1" -- curl -s --max-time 120 --unix-socket "$S" -X POST -w '\n%{http_code}' \
    -H 'Content-Type: application/json' --data-binary '{"argv":["sh","-c","echo via-agent; exit 5"]}' \
    "http://airlockd/v1/sandboxes/$REALNAME/exec")
is "exec through airlockd on the QEMU agent path: stdout" "$(body "$r" | jq -r 'select(.stream=="stdout") | .data' | base64 -d)" via-agent
is "... and its exit code" "$(body "$r" | jq -r 'select(.exit_code != null) | .exit_code')" 5
kill -TERM "$DPID"; wait "$DPID"; DPID=
start_daemon "$REAL_URI" "$REAL_STATE" "$S" --listen "127.0.0.1:$PORT" --quota-sandboxes 1 --quota-memory 1024 ||
    bail "airlockd did not start again"

# Destroy, with SIGTERM arriving while it runs: the daemon drains, then exits.
cli "$U1" "$S" destroy "$REALNAME" >"$WORK/destroy" 2>&1 &
dp=$!
sleep 1
kill -TERM "$DPID"
st=$(status "$(api "$U1" "$S" GET /v1/whoami 2>/dev/null)")
ok "draining: a new request is refused ($st)" -- bash -c "[ '$st' = 503 ] || [ '$st' = 000 ]"
wait $dp; rc=$?
is "$U1's airlock destroy; the request in flight finished during the drain" "$rc" 0
[ "$rc" = 0 ] || sed 's/^/# /' "$WORK/destroy"
ok "... with evidence archived, audited under $U1's uid" -- bash -c "jq -s -e 'map(select(.event==\"destroy\" and .sandbox==\"$REALNAME\" and .result==\"ok\" and .uid==$U1_UID and .archive != null)) | length > 0' $REAL_STATE/events.jsonl"
wait "$DPID"; rc=$?; DPID=
is "airlockd exited 0 after draining" "$rc" 0
ok "the sandbox is gone" -- bash -c "! virsh -c $REAL_URI dominfo airlock-$REALNAME >/dev/null 2>&1"

# airlockd dies in the middle of a create (AIRLOCK_CRASH_AT=define: overlay, network, seed
# and domain made, then SIGKILL): the next airlockd's gc at start rolls it back.
N2=$REALNAME-2
AIRLOCK_CRASH_AT=define start_daemon "$REAL_URI" "$REAL_STATE" "$S" || bail "airlockd did not start"
api root "$S" POST /v1/sandboxes "{\"name\":\"$N2\",\"memory_mib\":512}" >/dev/null 2>&1
wait "$DPID"; rc=$?; DPID=
is "airlockd died mid-create (SIGKILL at the crash point)" "$rc" 137
ok "... leaving a defined domain and a journal intent (control)" -- \
    bash -c "virsh -c $REAL_URI dominfo airlock-$N2 >/dev/null 2>&1 && test -f $REAL_STATE/journal/$N2.json"
start_daemon "$REAL_URI" "$REAL_STATE" "$S" || bail "airlockd did not start after the crash"
for _ in $(seq 60); do
    virsh -c "$REAL_URI" dominfo "airlock-$N2" >/dev/null 2>&1 || [ -f "$REAL_STATE/journal/$N2.json" ] || break
    sleep 1
done
ok "a restarted airlockd converges: domain, network, journal and files of the cut create are gone" -- \
    bash -c "! virsh -c $REAL_URI dominfo airlock-$N2 >/dev/null 2>&1 && ! virsh -c $REAL_URI net-info airlock-$N2 >/dev/null 2>&1 && test ! -e $REAL_STATE/journal/$N2.json && test ! -e $REAL_STATE/sandboxes/$N2"
ok "... audited as a gc roll-back by airlockd" -- bash -c "jq -s -e 'map(select(.event==\"gc\" and .target==\"$N2\" and .action==\"rolled-back\" and .via==\"daemon\")) | length > 0' $REAL_STATE/events.jsonl"
kill -TERM "$DPID"; wait "$DPID"; DPID=
done_testing
