#!/bin/bash
# Integration: the model gateway (docs/gateway.md) from a real guest. One sandbox with
# --model-gateway; an agent-like script inside calls both APIs, plain and streamed,
# with only its environment (base URLs and the per-sandbox token); a fake provider on
# the host's loopback (no real one is reachable here) must see the real keys and never
# the token; the real keys (canaries) are nowhere in the guest, its seed, the domain
# XML, logs, events or evidence; every call is a model-call record and the chain
# verifies; a limit answers 429 without reaching the upstream; the firewall opens the
# gateway's port and nothing else (positive control: the gateway answers; negative:
# another port on the same address, with a listener, is dropped).
# Needs root, libvirtd and the base image in $AIRLOCK_STATE_DIR. Boots one guest.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
GATEWAY=${AIRLOCK_GATEWAY:-$(dirname "$AIRLOCK")/airlock-gateway}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
NAME=test-gateway
DOM=airlock-$NAME
SBX=$AIRLOCK_STATE_DIR/sandboxes/$NAME
rnd() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
KEY_OA="sk-canary-openai-$(rnd)"
KEY_AN="sk-ant-canary-$(rnd)"
PORT=$((18000 + $$ % 1000))        # the gateway's, on the bridge address
UPSTREAM=$((19000 + $$ % 1000))     # the fake provider's, on the loopback
OTHER=$((20000 + $$ % 1000))        # a listener the guest must not reach
WORK=$(mktemp -d /tmp/airlock-test-gateway-XXXXXX)
printf '%s\n%s\n' "$KEY_OA" "$KEY_AN" > "$WORK/keys" # grep -f: never on a command line
OUT=$WORK/airlock-output.log
PIDS=()

cleanup() {
    "$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    rm -f "$AIRLOCK_STATE_DIR/gateway.conf"
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

al() { "$AIRLOCK" "$@" 2> >(tee -a "$OUT" >&2) | tee -a "$OUT"; return "${PIPESTATUS[0]}"; }
# nowhere FILE...: neither key occurs in the files; a missing file fails (nothing searched).
nowhere() {
    local f rc
    for f in "$@"; do [ -e "$f" ] || { echo "missing: $f"; return 1; }; done
    grep -rqaF -f "$WORK/keys" "$@"; rc=$?
    [ "$rc" = 0 ] && echo "found in: $(grep -rlaF -f "$WORK/keys" "$@" | head -5 | tr '\n' ' ')"
    [ "$rc" = 1 ]
}

[ "$(id -u)" = 0 ] || bail "integration tests need root"
virsh -q version >/dev/null 2>&1 || bail "libvirtd is not answering (scripts/start-libvirt)"
[ -x "$GATEWAY" ] || bail "no airlock-gateway next to $AIRLOCK (make)"
[ -e "$AIRLOCK_STATE_DIR/gateway.conf" ] && bail "$AIRLOCK_STATE_DIR/gateway.conf exists: not overwriting it"
"$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1

# ---- the host side: fake provider, a decoy listener, the gateway ----
# The keys travel in the environment: a command line is world-readable.
FAKE_OPENAI_KEY=$KEY_OA FAKE_ANTHROPIC_KEY=$KEY_AN python3 "$HERE/fake-model-upstream.py" "$UPSTREAM" "$WORK/upstream.log" &
PIDS+=($!)
python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
while True:
    c, a = s.accept(); open(sys.argv[2], "a").write("%s\n" % a[0]); c.sendall(b"hello\n"); c.close()' \
    "$OTHER" "$WORK/decoy.log" &
PIDS+=($!)
umask 077
cat > "$AIRLOCK_STATE_DIR/gateway.conf" <<EOF
[gateway]
port=$PORT
timeout=30
[provider openai]
upstream=http://127.0.0.1:$UPSTREAM
key=$KEY_OA
[provider anthropic]
upstream=http://127.0.0.1:$UPSTREAM
key=$KEY_AN
EOF
umask 022
"$GATEWAY" --state-dir "$AIRLOCK_STATE_DIR" --rescan 200 > "$WORK/gateway.log" 2>&1 &
PIDS+=($!)
sleep 0.5
ok "airlock-gateway runs with the root-only configuration" -- kill -0 "${PIDS[2]}"
chmod 644 "$AIRLOCK_STATE_DIR/gateway.conf"
"$GATEWAY" --state-dir "$AIRLOCK_STATE_DIR" > "$WORK/refused.log" 2>&1
is "a configuration others can read is refused" "$?" 1
chmod 600 "$AIRLOCK_STATE_DIR/gateway.conf"

# ---- the seed: the token in it, the keys not (a create stopped once it is written) ----
cat > "$WORK/gw.spec" <<EOF
[model-gateway]
max-calls=7
EOF
AIRLOCK_CRASH_AT=seed "$AIRLOCK" create "$NAME" -f "$WORK/gw.spec" --quiet >/dev/null 2>&1
is "create stopped after writing the seed (SIGKILL)" "$?" 137
cp "$SBX/seed.iso" "$WORK/seed.iso" 2>/dev/null
"$AIRLOCK" destroy --force --no-evidence "$NAME" >/dev/null 2>&1
python3 "$HERE/seed-userdata.py" "$WORK/seed.iso" > "$WORK/seed.json"
is "seed's user-data decoded" "$?" 0
ok "the seed holds a gateway token under OPENAI_API_KEY" -- \
    grep -q "OPENAI_API_KEY='airlock-gw-" <<<"$(jq -r '.files[].content' "$WORK/seed.json")"
ok "no real key in the seed (raw ISO and decoded user-data)" -- nowhere "$WORK/seed.iso" "$WORK/seed.json"
rm -f "$WORK/seed.iso"

# ---- create ----
al create "$NAME" -f "$WORK/gw.spec" --json > "$WORK/create.json"; rc=$?
is "create -f SPEC with [model-gateway]" "$rc" 0
[ "$rc" = 0 ] || { "$AIRLOCK" console "$NAME" | tail -30 | sed 's/^/# /'; bail "create failed"; }
"$AIRLOCK" inspect --json "$NAME" > "$WORK/inspect.json"
HOST_IP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["network"]["host_address"])' "$WORK/inspect.json")
for i in $(seq 50); do ss -ltn | grep -q "$HOST_IP:$PORT " && break; sleep 0.1; done
genv=$("$AIRLOCK" exec "$NAME" -- sh -c 'env')
is "guest's OPENAI_BASE_URL is the gateway on its bridge address" \
    "$(sed -n 's/^OPENAI_BASE_URL=//p' <<<"$genv")" "http://$HOST_IP:$PORT/openai/v1"
is "guest's ANTHROPIC_BASE_URL too" "$(sed -n 's/^ANTHROPIC_BASE_URL=//p' <<<"$genv")" "http://$HOST_IP:$PORT/anthropic"
TOKEN=$(sed -n 's/^OPENAI_API_KEY=//p' <<<"$genv")
ok "guest's API key is a per-sandbox token" -- grep -q '^airlock-gw-[0-9a-f]\{64\}$' <<<"$TOKEN"

# ---- an agent in the guest calls both APIs ----
al cp "$HERE/gateway-agent.py" "$NAME:/root/agent.py" >/dev/null
"$AIRLOCK" exec "$NAME" --timeout 120 -- python3 /root/agent.py 3 > "$WORK/agent.out" 2>&1
status_of() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    d = json.loads(l)
    if d["name"] == sys.argv[2]: print(d["status"], "hello from fake" in d["text"] or d["name"].endswith("models"))' "$WORK/agent.out" "$1"; }
for c in openai-plain openai-stream anthropic-plain anthropic-stream openai-models; do
    is "guest: $c answered by the fake provider through the gateway" "$(status_of $c)" "200 True"
done
is "guest: 6th and 7th calls still within max-calls=7" "$(status_of extra-0) $(status_of extra-1)" "200 True 200 True"
is "guest: the 8th call is refused by the limit" "$(status_of extra-2 | cut -d' ' -f1)" 429
ok "the stream arrived as SSE events" -- grep -q 'event: message_delta' "$WORK/agent.out"
is "the fake provider got 7 requests" "$(grep -c '^\(GET\|POST\) /v1/' "$WORK/upstream.log")" 7
is "... each with the real key, OpenAI's" "$(grep -c "^Authorization: Bearer $KEY_OA" "$WORK/upstream.log")" 5
is "... and Anthropic's" "$(grep -c "^x-api-key: $KEY_AN" "$WORK/upstream.log")" 2
ok "the token never reached the upstream" -- bash -c '! grep -qF "$1" "$2"' _ "$TOKEN" "$WORK/upstream.log"
# A wrong token from the same guest: 401, nothing forwarded.
bad=$("$AIRLOCK" exec "$NAME" -- python3 -c 'import urllib.request,urllib.error,sys
r=urllib.request.Request(sys.argv[1]+"/models",headers={"Authorization":"Bearer airlock-gw-forged"})
try: urllib.request.urlopen(r,timeout=20)
except urllib.error.HTTPError as e: print(e.code)' "http://$HOST_IP:$PORT/openai/v1")
is "a forged token is refused (401)" "$bad" 401
is "... and not forwarded" "$(grep -c '^\(GET\|POST\) /v1/' "$WORK/upstream.log")" 7

# ---- the firewall: the gateway's port, nothing else ----
probe() { "$AIRLOCK" exec "$NAME" --timeout 30 -- python3 -c 'import socket,sys
s=socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5); s.close()' "$@" >/dev/null 2>&1; }
ok "positive control: the gateway's port on the bridge address accepts" -- probe "$HOST_IP" "$PORT"
ok "another port on the same address (a listener there) is dropped" -- bash -c "! $(printf %q "$AIRLOCK") exec $NAME --timeout 30 -- python3 -c 'import socket; socket.create_connection((\"$HOST_IP\", $OTHER), timeout=5)'"
ok "the decoy listener never heard from the guest" -- bash -c "[ ! -s $WORK/decoy.log ]"
ok "the upstream's own port is not reachable from the guest" -- bash -c "! $(printf %q "$AIRLOCK") exec $NAME --timeout 30 -- python3 -c 'import socket; socket.create_connection((\"$HOST_IP\", $UPSTREAM), timeout=5)'"
ok "nft: one model-gateway rule, input chain, bridge address and port" -- bash -c \
    "nft list table inet airlock_${NAME//-/_} | grep -c 'ip daddr $HOST_IP tcp dport $PORT ct state new accept comment \"model-gateway\"' | grep -qx 1"

# ---- the records ----
# The sandbox's own chain (the global log also holds earlier runs' sandboxes of this name).
cp "$AIRLOCK_STATE_DIR/audit/sandboxes/$NAME.jsonl" "$WORK/events.json"
ok "airlock events NAME lists model calls" -- grep -q model-call <<<"$("$AIRLOCK" events --json "$NAME")"
is "one model-call record per call (7 forwarded, 1 over the limit, 1 forged)" \
    "$(grep -c '"event":"model-call"\|"event" : "model-call"' "$WORK/events.json")" 9
ok "records carry provider, model, endpoint, status and usage" -- python3 -c 'import json,sys
ev = [json.loads(l) for l in open(sys.argv[1]) if "model-call" in l]
s = [e for e in ev if e.get("stream") and e.get("provider") == "anthropic"][0]
assert s["model"] == "claude-fake" and s["endpoint"] == "/v1/messages" and s["status"] == 200, s
assert s["input_tokens"] == 13 and s["output_tokens"] == 5, s
assert len(s["request_sha256"]) == 64 and len(s["response_sha256"]) == 64, s
assert any(e["status"] == 429 and not e["forwarded"] for e in ev)
assert any(e["status"] == 401 and not e["forwarded"] for e in ev)' "$WORK/events.json"
ok "events NAME --type model: only the model calls" -- \
    bash -c "'$AIRLOCK' events '$NAME' --type model --json | jq -e -s 'length >= 9 and all(.event == \"model-call\")' >/dev/null"
ok "events NAME --type model --summary: calls, failures and tokens" -- \
    bash -c "'$AIRLOCK' events '$NAME' --type model --summary --json | jq -e '.records >= 9 and .failed >= 2 and .input_tokens >= 13 and .output_tokens >= 5' >/dev/null"
al audit verify "$NAME" >/dev/null; is "audit verify passes" "$?" 0
ok "evidence holds the bodies" -- grep -q 'hello from fake anthropic' "$SBX/model-calls.jsonl"

# ---- the keys are nowhere but the gateway's configuration ----
# What the guest writes reaches the archived disk (the control below): it keeps its token.
"$AIRLOCK" exec "$NAME" -- sh -c 'printf %s "$OPENAI_API_KEY" > /root/token-copy; sync'
# The guest is searched from outside (its memory now, its disk once archived): asking
# it to grep would hand it the very keys it must never see.
virsh dump --memory-only "$DOM" "$WORK/guest.mem" >/dev/null 2>&1
ok "the guest's memory was dumped (control: its token is in it)" -- grep -qaF "$TOKEN" "$WORK/guest.mem"
ok "no real key in the guest's memory" -- nowhere "$WORK/guest.mem"
rm -f "$WORK/guest.mem"
virsh dumpxml "$DOM" > "$WORK/dom.xml"; virsh dumpxml --inactive "$DOM" > "$WORK/dom-inactive.xml"
ok "no real key in the domain XML, the sandbox's directory, events, evidence" -- \
    nowhere "$WORK/dom.xml" "$WORK/dom-inactive.xml" "$SBX" "$AIRLOCK_STATE_DIR/audit" "$WORK/events.json"
ok "no real key in airlock's or the gateway's output, libvirt's log" -- \
    nowhere "$OUT" "$WORK/gateway.log" "$WORK/agent.out" /var/log/libvirt/qemu/$DOM.log
ok "no real key in any process's command line" -- bash -c "! grep -qaF -f $WORK/keys /proc/[0-9]*/cmdline"

# ---- destroy: the token dies with the sandbox ----
al destroy "$NAME" > "$WORK/destroy.out"; is "destroy" "$?" 0
for i in $(seq 20); do ss -ltn | grep -q "$HOST_IP:$PORT " || break; sleep 0.2; done
ok "the gateway stopped listening for it" -- bash -c "! ss -ltn | grep -q '$HOST_IP:$PORT '"
ARCH=$(ls -d "$AIRLOCK_STATE_DIR"/archive/$NAME-* 2>/dev/null | tail -1)
ok "the evidence archive keeps model-calls.jsonl" -- test -s "$ARCH/model-calls.jsonl"
ok "the archive holds the guest's disk changes (control: its token is in them)" -- grep -rqaF "$TOKEN" "$ARCH"
ok "no real key in the evidence archive, the guest's disk changes included" -- nowhere "$ARCH"
rm -rf "$ARCH"

done_testing
