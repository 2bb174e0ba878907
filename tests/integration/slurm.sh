#!/bin/bash
# Integration: `airlock batch run --slurm` on a real single-node Slurm cluster (slurmctld,
# slurmd and munge from Debian, started here without systemd and stopped at the end) with
# real guests. A 20-job plan runs locally (a pool of 1) and as an array of 2 tasks (a pool
# of 1 each): the two results.json and junit.xml must have the same shape, job names and
# statuses. Then Ctrl-C (SIGINT to the submitting command) must cancel the array and still
# report what finished; an array task killed with scancel must show its jobs as error with
# the reason (submitted with --detach, followed with batch status, merged with batch
# collect), and --retry-failed must run just those again. Nothing may be left: sandboxes,
# networks, Slurm jobs, the daemons this script started.
# Needs root, libvirtd, the base image in $AIRLOCK_STATE_DIR and the Debian packages
# slurm-wlm and munge (scripts/setup installs them).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/tap.sh"

AIRLOCK=${AIRLOCK:-$HERE/../../airlock}
export LIBVIRT_DEFAULT_URI=${LIBVIRT_DEFAULT_URI:-qemu:///system}
export AIRLOCK_STATE_DIR=${AIRLOCK_STATE_DIR:-/var/tmp/airlock-test-state}
PREFIX=test-slurm
WORK=$(mktemp -d /tmp/airlock-test-slurm-XXXXXX)
CLUSTER=$WORK/cluster # slurm.conf, state, logs
export SLURM_CONF=$CLUSTER/slurm.conf
NODE=$(hostname -s)
CTLD_PID= SLURMD_PID= MUNGED_STARTED=

leftovers() { # this test's domains and networks still defined
    { virsh list --all --name; virsh net-list --all --name; } 2>/dev/null | grep "^airlock-$PREFIX" || true
}
our_jobs() { # Slurm jobs still queued or running on the test cluster
    [ -n "$CTLD_PID" ] && squeue -h -o %i 2>/dev/null || true
}
stop_cluster() {
    local j
    for j in $(our_jobs); do scancel "$j" 2>/dev/null; done
    # slurmd last: a cancelled task still needs it to end its processes.
    [ -n "$CTLD_PID" ] && { kill "$CTLD_PID" 2>/dev/null; wait "$CTLD_PID" 2>/dev/null; }
    [ -n "$SLURMD_PID" ] && { kill "$SLURMD_PID" 2>/dev/null; wait "$SLURMD_PID" 2>/dev/null; }
    if [ -n "$MUNGED_STARTED" ] && [ -s /run/munge/munged.pid ]; then
        kill "$(cat /run/munge/munged.pid)" 2>/dev/null
        for _ in $(seq 20); do [ -e /proc/"$MUNGED_STARTED" ] || break; sleep 0.2; done
    fi
}
cleanup() {
    stop_cluster
    CTLD_PID= SLURMD_PID= MUNGED_STARTED=
    for n in $(leftovers | sed 's/^airlock-//' | sort -u); do
        "$AIRLOCK" destroy --force "$n" >/dev/null 2>&1
    done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

[ "$(id -u)" = 0 ] || bail "integration tests need root"
virsh -q version >/dev/null 2>&1 || bail "libvirtd is not answering (scripts/start-libvirt)"
for p in slurmctld slurmd sbatch munged; do
    command -v "$p" >/dev/null || bail "$p missing: scripts/setup installs slurm-wlm and munge"
done
[ -z "$(leftovers)" ] || bail "leftovers from an earlier run: $(leftovers | tr '\n' ' ')"

# --- a single-node cluster ----------------------------------------------------------------
# munge: the key must be munge's own, 0400, in a 0700 directory; munged runs as munge.
if ! munge -n </dev/null >/dev/null 2>&1; then
    install -d -o munge -g munge -m 0700 /etc/munge
    if [ ! -s /etc/munge/munge.key ]; then
        head -c 1024 /dev/urandom > /etc/munge/munge.key
    fi
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge /var/lib/munge /var/log/munge
    runuser -u munge -- /usr/sbin/munged || bail "munged did not start"
    MUNGED_STARTED=$(cat /run/munge/munged.pid)
fi
mkdir -p "$CLUSTER/state" "$CLUSTER/spool"
MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
# Ports off the defaults: a Slurm this machine may run stays untouched. KillWait: a cancelled
# task gets SIGTERM, then this long to destroy its sandboxes before SIGKILL.
cat > "$SLURM_CONF" <<EOF
ClusterName=airlocktest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$CLUSTER/state
SlurmdSpoolDir=$CLUSTER/spool
SlurmctldPidFile=$CLUSTER/slurmctld.pid
SlurmdPidFile=$CLUSTER/slurmd.pid
SlurmctldLogFile=$CLUSTER/slurmctld.log
SlurmdLogFile=$CLUSTER/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
KillWait=60
MinJobAge=300
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$MEM State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -f "$SLURM_CONF" > "$CLUSTER/slurmctld.out" 2>&1 &
CTLD_PID=$!
slurmd -D -f "$SLURM_CONF" > "$CLUSTER/slurmd.out" 2>&1 &
SLURMD_PID=$!
for _ in $(seq 60); do
    [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && break
    sleep 0.5
done
[ "$(sinfo -h -o %t 2>/dev/null)" = idle ] ||
    bail "the test cluster did not come up: $(tail -3 "$CLUSTER"/slurm*.log "$CLUSTER"/*.out 2>/dev/null | tr '\n' ' ')"

# --- the plan: 20 jobs, one failing, each with an artifact ---------------------------------
PLANS=$WORK/plans # what a real cluster shares over NFS; here the only node is this host
mkdir -p "$PLANS"
cat > "$PLANS/plan.ini" <<'EOF'
[batch]
image = debian-12
prefix = test-slurm
timeout = 60s

[matrix j]
command = echo job {i} | tee /tmp/out.txt; test {i} != 07
param.i = 01;02;03;04;05;06;07;08;09;10;11;12;13;14;15;16;17;18;19;20
artifacts = /tmp/out.txt
EOF

# Refused before anything is submitted: a file outside the plan's directory (the nodes
# would not see it) and the former hosts key (remote guests ran without the firewall).
mkdir -p "$WORK/elsewhere" && echo x > "$WORK/elsewhere/input"
printf '[batch]\nprefix = test-slurm\n[job j]\ncommand = true\nfiles = ../elsewhere/input:/tmp/in\n' \
    > "$PLANS/outside.ini"
"$AIRLOCK" batch run "$PLANS/outside.ini" --slurm --output "$WORK/outside" > "$WORK/outside.txt" 2>&1
is "a file outside the plan's directory: refused (exit 2)" "$?" 2
ok "... saying where it must be" -- grep -q "outside the plan's directory" "$WORK/outside.txt"
printf '[batch]\nprefix = test-slurm\nhosts = qemu:///system\n[job j]\ncommand = true\n' > "$PLANS/hosts.ini"
"$AIRLOCK" batch run "$PLANS/hosts.ini" --slurm --output "$WORK/hosts" > "$WORK/hosts.txt" 2>&1
is "a plan with hosts: refused (exit 2)" "$?" 2
is "nothing submitted" "$(our_jobs)$(squeue -h -t all -o %i 2>/dev/null)" ""

start=$(date +%s)
"$AIRLOCK" batch run "$PLANS/plan.ini" --parallel 1 --output "$WORK/local" > "$WORK/local.txt" 2>&1
rc=$?
local_s=$(( $(date +%s) - start ))
echo "# local: $local_s s"
is "local run: exit 1 (j-07 fails)" "$rc" 1

start=$(date +%s)
"$AIRLOCK" batch run "$PLANS/plan.ini" --slurm --nodes 2 --per-node 1 --output "$WORK/slurm" \
    > "$WORK/slurm.txt" 2> "$WORK/slurm.err"
rc=$?
slurm_s=$(( $(date +%s) - start ))
echo "# slurm: $slurm_s s"
sed 's/^/# /' "$WORK/slurm.txt"
is "slurm run: exit 1 (j-07 fails)" "$rc" 1
L=$WORK/local/results.json S=$WORK/slurm/results.json
shape() { # the keys at every level, the job names and statuses
    jq -c '[keys, (.summary | keys), (.pool | keys), (.pool.slots[0] | keys),
            ([.jobs[] | keys] | unique), [.jobs[] | .name], [.jobs[] | .status],
            [.jobs[] | .artifacts[] | keys] | unique]' "$1"
}
is "results.json: same shape, jobs and statuses as the local run" "$(shape "$S")" "$(shape "$L")"
is "summary identical" "$(jq -c .summary "$S")" "$(jq -c .summary "$L")"
is "two tasks, one sandbox each" "$(jq -c '[.pool.creates, [.pool.slots[].sandbox]]' "$S")" \
    '[2,["test-slurm-s0-1","test-slurm-s1-1"]]'
is "jobs ran on the node, split round robin" \
    "$(jq -r '[.jobs[0,1,2] | "\(.host)/\(.sandbox)"] | join(" ")' "$S")" \
    "$NODE/test-slurm-s0-1 $NODE/test-slurm-s1-1 $NODE/test-slurm-s0-1"
testcases() { xmllint --xpath '//testcase/@name' "$1" | tr -s ' \n' ' '; }
ok "junit.xml well-formed" -- xmllint --noout "$WORK/slurm/junit.xml"
is "junit.xml: same testcases as the local run" "$(testcases "$WORK/slurm/junit.xml")" \
    "$(testcases "$WORK/local/junit.xml")"
counts() { xmllint --xpath 'concat(//testsuite/@tests, "/", //testsuite/@failures, "/", //testsuite/@errors)' "$1"; }
is "junit.xml: same counts" "$(counts "$WORK/slurm/junit.xml")" "$(counts "$WORK/local/junit.xml")"
is "logs where a local run puts them" "$(cat "$WORK/slurm/logs/j-12.stdout")" "job 12"
is "artifacts too" "$(cat "$WORK/slurm/artifacts/j-20/out.txt" 2>&1)" "job 20"
is "nothing of the batch left (sandboxes, networks)" "$(leftovers)" ""
is "no Slurm job left" "$(our_jobs)" ""
echo "# per job: local $(jq '.duration_s / 20' "$L") s, slurm $(jq '.duration_s / 20' "$S") s (wall)"

# --- Ctrl-C: scancel, and what finished is still reported ----------------------------------
cat > "$PLANS/stop.ini" <<'EOF'
[batch]
image = debian-12
prefix = test-slurm
[matrix c]
command = test {i} = 1 || sleep 50
param.i = 1;2;3;4
EOF
"$AIRLOCK" batch run "$PLANS/stop.ini" --slurm --nodes 2 --per-node 1 --output "$WORK/stop" \
    > "$WORK/stop.txt" 2> "$WORK/stop.err" &
pid=$!
# c-1 (task 0's first) passes at once; c-2 (task 1's first) runs for 50 s.
for _ in $(seq 240); do
    grep -q "^PASS c-1" "$WORK/stop/slurm/task-0.log" 2>/dev/null &&
        [ -e "$WORK/stop/slurm/task-1/logs/c-2.stdout" ] && break
    sleep 0.5
done
t0=$(date +%s)
kill -INT "$pid"
wait "$pid"; rc=$?
echo "# stopped in $(( $(date +%s) - t0 )) s"
sed 's/^/# /' "$WORK/stop.txt"
is "Ctrl-C: exit 130" "$rc" 130
ok "Ctrl-C: said it cancels the array" -- grep -q "scancel" "$WORK/stop.err"
is "Ctrl-C: interrupted" "$(jq .interrupted "$WORK/stop/results.json" 2>&1)" true
is "Ctrl-C: what finished is reported, the rest not run" \
    "$(jq -r '[.jobs[] | "\(.name)=\(.status)"] | join(" ")' "$WORK/stop/results.json")" \
    "c-1=passed c-2=not-run c-3=not-run c-4=not-run"
ok "Ctrl-C: junit written" -- xmllint --noout "$WORK/stop/junit.xml"
is "Ctrl-C: no Slurm job left" "$(our_jobs)" ""
is "Ctrl-C: nothing left" "$(leftovers)" ""

# --- a killed array task: its jobs are errors; --retry-failed runs just those ---------------
cat > "$PLANS/kill.ini" <<'EOF'
[batch]
image = debian-12
prefix = test-slurm
[matrix k]
command = test {i} != 2 || test "$(cat /tmp/mode)" = fast || sleep 50
param.i = 1;2;3;4
files = mode:/tmp/mode
EOF
echo slow > "$PLANS/mode"
"$AIRLOCK" batch run "$PLANS/kill.ini" --slurm --nodes 2 --per-node 1 --output "$WORK/kill" --detach \
    > "$WORK/kill.txt" 2>&1
is "--detach: exit 0 at once" "$?" 0
job=$(sed -n 's/^job-id=//p' "$WORK/kill/slurm/manifest")
ok "--detach: says how to follow it" -- grep -q "airlock batch collect $WORK/kill" "$WORK/kill.txt"
ok "batch status: two tasks" -- bash -c "'$AIRLOCK' batch status --json '$WORK/kill' | jq -e '.tasks | length == 2'"
is "collect before the end: refused" "$("$AIRLOCK" batch collect "$WORK/kill" >/dev/null 2>&1; echo $?)" 1
for _ in $(seq 240); do
    [ -e "$WORK/kill/slurm/task-1/logs/k-2.stdout" ] && break
    sleep 0.5
done
scancel "${job}_1"
"$AIRLOCK" batch collect --wait "$WORK/kill" > "$WORK/collect.txt" 2>&1
is "collect: exit 1 (errors)" "$?" 1
sed 's/^/# /' "$WORK/collect.txt"
K=$WORK/kill/results.json
is "killed task: its jobs are errors, the other task's passed" \
    "$(jq -r '[.jobs[] | "\(.name)=\(.status)"] | join(" ")' "$K")" \
    "k-1=passed k-2=error k-3=passed k-4=error"
ok "killed task: the reason names the task and Slurm's state" -- \
    jq -e '.jobs[1].error | test("Slurm task 1 \\([0-9]+_1 on .*\\) was stopped by Slurm \\(CANCELLED\\)")' "$K"
is "killed task: same shape as a local report" \
    "$(jq -c '[keys, ([.jobs[] | keys] | unique)]' "$K")" "$(jq -c '[keys, ([.jobs[] | keys] | unique)]' "$L")"
is "killed task: not interrupted (nobody pressed Ctrl-C)" "$(jq .interrupted "$K")" false
is "killed task: nothing left" "$(leftovers)" ""

echo fast > "$PLANS/mode"
first=$(jq -c '.jobs[0]' "$K")
"$AIRLOCK" batch run "$PLANS/kill.ini" --slurm --nodes 1 --per-node 1 --output "$WORK/kill" --retry-failed \
    > "$WORK/retry.txt" 2> "$WORK/retry.err"
is "--retry-failed: exit 0" "$?" 0
sed 's/^/# /' "$WORK/retry.txt"
ok "--retry-failed: submitted just the 2 errors" -- grep -q "^batch: 2 jobs as Slurm array" "$WORK/retry.err"
is "--retry-failed: every job passed now" \
    "$(jq -r '[.jobs[] | "\(.name)=\(.status)"] | join(" ")' "$K")" \
    "k-1=passed k-2=passed k-3=passed k-4=passed"
is "--retry-failed: the first round's entries kept as they were" "$(jq -c '.jobs[0]' "$K")" "$first"
is "--retry-failed: not interrupted" "$(jq .interrupted "$K")" false

# --- nothing left --------------------------------------------------------------------------
is "no Slurm job left" "$(our_jobs)" ""
is "no sandbox or network left" "$(leftovers)" ""
ctld=$CTLD_PID slurmd=$SLURMD_PID munged=$MUNGED_STARTED
stop_cluster
CTLD_PID= SLURMD_PID= MUNGED_STARTED=
ok "slurmctld, slurmd (and munged if started here) stopped" -- \
    bash -c "! kill -0 $ctld 2>/dev/null && ! kill -0 $slurmd 2>/dev/null && { [ -z '$munged' ] || ! kill -0 '$munged' 2>/dev/null; }"

done_testing
