#!/bin/bash
# Integration: `airlock batch run` on real libvirt + qemu with the real base image.
# A pool of 2 sandboxes (test-batch-1, test-batch-2) runs ~10 short jobs: passes, an expected failure, a wrong
# exit code, a timeout, files in / artifacts out, env, a matrix. A one-sandbox batch
# shows a job never sees what the one before it left. Then another batch is stopped
# with SIGTERM while booting. Nothing of any may be left.
# Needs root, libvirtd running and the base image in $AIRLOCK_STATE_DIR.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
PREFIX=test-batch
WORK=$(mktemp -d /tmp/airlock-test-batch-XXXXXX)

leftovers() { # names of this test's domains and networks still defined
    { virsh list --all --name; virsh net-list --all --name; } 2>/dev/null | grep "^airlock-$PREFIX" || true
}
cleanup() {
    for n in $(leftovers | sed 's/^airlock-//' | sort -u); do
        "$AIRLOCK" destroy --force "$n" >/dev/null 2>&1
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT  # the EXIT trap cleans up; a signal ends the script (else it would go on)
trap 'exit 143' TERM

[ "$(id -u)" = 0 ] || bail "integration tests need root"
virsh -q version >/dev/null 2>&1 || bail "libvirtd is not answering (scripts/start-libvirt)"
[ -z "$(leftovers)" ] || bail "leftovers from an earlier run: $(leftovers | tr '\n' ' ')"

printf 'hello batch\n' > "$WORK/input.txt"
CANARY="canary-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf 'API_KEY=%s\n' "$CANARY" > "$WORK/secrets.env"
chmod 600 "$WORK/secrets.env"
cat > "$WORK/plan.ini" <<'EOF'
[batch]
image = debian-12
prefix = test-batch
timeout = 60s
secrets = secrets.env

[job ok]
command = echo hello; echo to-stderr >&2

[job expected-failure]
command = echo failing on purpose; exit 3
expect = 3

[job wrong-exit]
command = echo "this one breaks its promise"; exit 1

[job slow]
command = echo started; sleep 120
timeout = 3s

[job files]
command = tr a-z A-Z < /srv/in/input.txt > /tmp/out.txt && cat /tmp/out.txt
files = input.txt:/srv/in/input.txt
artifacts = /tmp/out.txt

[job env]
command = test "$FOO-$BAZ" = "bar-qux with space" && printf '%s' "$FOO"
env = FOO=bar;BAZ=qux with space

[job secret]
command = test -n "$API_KEY" && printf 'key=%s\n' "$API_KEY"

[job dirty]
command = touch /root/dirty-marker

[job clean]
command = test ! -e /root/dirty-marker && test ! -e /tmp/out.txt

[matrix sq]
command = test $(( {n} * {n} )) = {sq}
param.n = 2;3
param.sq = 4;9
expect = 0
EOF

OUT=$WORK/out
start=$(date +%s)
"$AIRLOCK" batch run "$WORK/plan.ini" --parallel 2 --output "$OUT" \
    > "$WORK/summary.txt" 2> "$WORK/stderr.txt"; rc=$?
echo "# batch took $(( $(date +%s) - start )) s"
sed 's/^/# /' "$WORK/summary.txt"
is "exit code 1: a job missed its expectation" "$rc" 1
ok "results.json written" -- test -s "$OUT/results.json"
ok "junit.xml is well-formed" -- xmllint --noout "$OUT/junit.xml"
J=$OUT/results.json
job() { jq -r --arg n "$1" ".jobs[] | select(.name == \$n) | $2" "$J"; }
is "13 jobs (9 + 2x2 matrix)" "$(jq '.summary.total' "$J")" 13
is "ok passed" "$(job ok .status)" passed
is "ok stdout tail" "$(job ok .stdout_tail)" hello
is "ok stderr tail" "$(job ok .stderr_tail)" to-stderr
is "expected failure passes" "$(job expected-failure .status)/$(job expected-failure .exit_code)" passed/3
is "wrong exit fails" "$(job wrong-exit .status)/$(job wrong-exit .exit_code)" failed/1
is "slow times out" "$(job slow .status)" timeout
ok "slow killed promptly" -- test "$(job slow '.duration_s | floor')" -lt 30
is "files job passed" "$(job files .status)" passed
is "artifact copied" "$(cat "$OUT/artifacts/files/out.txt" 2>&1)" "HELLO BATCH"
is "env job passed" "$(job env .status)/$(job env .stdout_tail)" passed/bar
is "secret reaches the job, redacted in the report" "$(job secret .status)/$(job secret .stdout_tail)" "passed/key=***"
ok "secret value nowhere in the output directory" -- bash -c "! grep -rq '$CANARY' '$OUT'"
ok "secret value not in airlock's output" -- bash -c "! grep -q '$CANARY' '$WORK/summary.txt' '$WORK/stderr.txt'"
is "clean job passed (any slot; the same-sandbox check follows)" "$(job clean .status)" passed
is "matrix jobs expanded" "$(jq -r '[.jobs[] | select(.matrix == "sq") | .name] | join(",")' "$J")" \
    "sq-2-4,sq-2-9,sq-3-4,sq-3-9"
is "matrix: 2 pass, 2 fail" "$(jq '[.jobs[] | select(.matrix == "sq") | .ok] | map(select(.)) | length' "$J")" 2
is "pool booted twice, then reset" "$(jq '.pool.creates' "$J")" 2
ok "resets between jobs" -- test "$(jq '.pool.resets' "$J")" -ge 11
ok "--hosts is gone (remote guests ran without airlock's firewall)" -- \
    bash -c "! '$AIRLOCK' batch run '$WORK/plan.ini' --hosts qemu:///system 2>/dev/null"
ok "full logs kept" -- grep -q "this one breaks" "$OUT/logs/wrong-exit.stdout"
ok "junit: 13 testcases" -- test "$(xmllint --xpath 'count(//testcase)' "$OUT/junit.xml")" = 13
ok "junit: failures counted (wrong-exit, slow, 2 matrix)" -- \
    test "$(xmllint --xpath 'string(//testsuite/@failures)' "$OUT/junit.xml")" = 4
ok "junit: failure carries the output tail" -- \
    bash -c "xmllint --xpath '//testcase[@name=\"wrong-exit\"]/failure/text()' '$OUT/junit.xml' | grep -q 'breaks its promise'"
ok "summary names the failed job" -- grep -q "wrong-exit" "$WORK/summary.txt"
is "nothing of the batch left" "$(leftovers)" ""
echo "# reset/create totals: $(jq -c '.pool' "$J")"

# One sandbox, two jobs in order: the second must not see what the first left (disk,
# tmpfs). --parallel 1, and results.json must show the same sandbox, in order.
cat > "$WORK/plan3.ini" <<'EOF'
[batch]
image = debian-12
prefix = test-batch
timeout = 60s

[job dirty]
command = touch /root/dirty-marker /dev/shm/dirty-marker && sync && test -e /root/dirty-marker

[job clean]
command = test ! -e /root/dirty-marker && test ! -e /dev/shm/dirty-marker
EOF
"$AIRLOCK" batch run "$WORK/plan3.ini" --parallel 1 --output "$WORK/out3" > "$WORK/summary3.txt" 2>&1
is "same-sandbox batch: exit 0" "$?" 0
J=$WORK/out3/results.json
is "dirty job passed (it saw its own marker)" "$(job dirty .status)" passed
ok "dirty and clean ran in the same sandbox" -- \
    test -n "$(job dirty .sandbox)" -a "$(job dirty .sandbox)" = "$(job clean .sandbox)"
ok "clean started after dirty ended" -- \
    jq -e '(.jobs | map({(.name): .}) | add) as $j | $j.dirty.started_s + $j.dirty.duration_s <= $j.clean.started_s' "$J"
is "one sandbox, reset between the jobs" "$(jq -c '[.pool.creates, (.pool.resets >= 1)]' "$J")" "[1,true]"
is "clean job sees a clean sandbox" "$(job clean .status)" passed
is "nothing of the same-sandbox batch left" "$(leftovers)" ""

# SIGTERM while the pool boots: stops, destroys everything, still writes the report.
cat > "$WORK/plan2.ini" <<'EOF'
[batch]
prefix = test-batch
[matrix many]
command = true
param.i = 1;2;3;4;5;6
EOF
"$AIRLOCK" batch run "$WORK/plan2.ini" --parallel 2 --output "$WORK/out2" \
    > "$WORK/summary2.txt" 2>&1 &
pid=$!
for _ in $(seq 60); do
    [ -n "$(virsh list --name 2>/dev/null | grep "^airlock-$PREFIX")" ] && break
    sleep 0.5
done
sleep 2
t0=$(date +%s)
kill -TERM "$pid"
wait "$pid"; rc=$?
echo "# stopped in $(( $(date +%s) - t0 )) s"
sed 's/^/# /' "$WORK/summary2.txt" | tail -5
is "SIGTERM: exit 130" "$rc" 130
is "SIGTERM: partial report says interrupted" "$(jq .interrupted "$WORK/out2/results.json" 2>&1)" true
ok "SIGTERM: junit written" -- xmllint --noout "$WORK/out2/junit.xml"
is "SIGTERM: nothing left" "$(leftovers)" ""

done_testing
