#!/usr/bin/env bash
# Runs zk-bench workloads (a)..(e) of issue 6 against zk-server and Apache ZooKeeper 3.8, one
# fresh server (temporary dataDir, free loopback port, forceSync=yes) per workload, and prints
# one JSON line per run with the server's CPU use added.
#
# This is the single-pass building block; benches/compare (see benches/COMPARE.md) runs several
# rounds in alternation, adds workload (f) and the raw fdatasync floor, and prints medians,
# ratios and a chart.
#
# Usage (from the workspace root, after `cargo build --release -p zk-server -p zk-tools`):
#   bash tools/scripts/bench-compare.sh [ours|apache|both] [a b c d e] > results.jsonl
# Environment: DURATION (s, default 10), WARMUP (s, default 3), OUT (directory for logs,
# default a new temporary directory, kept).
#
# Only loopback addresses are used. Every server runs under timeout(1) as a lifetime guard and
# is stopped by its own PID.
set -euo pipefail
cd "$(dirname "$0")/../.."

which_servers=${1:-both}
shift || true
workloads=("$@")
if [ ${#workloads[@]} -eq 0 ]; then workloads=(a b c d e); fi
duration=${DURATION:-10}
warmup=${WARMUP:-3}
out=${OUT:-$(mktemp -d /tmp/zk-bench-compare.XXXXXX)}
mkdir -p "$out"
bench=target/release/zk-bench
server_bin=target/release/zk-server
[ -x "$bench" ] && [ -x "$server_bin" ] || {
    echo "build first: cargo build --release -p zk-server -p zk-tools" >&2
    exit 2
}

workload_flags() {
    case $1 in
    a) echo "--sync-create" ;;
    b) echo "--sessions 32 --outstanding 8 --mix set=100 --payload 100" ;;
    c) echo "--sessions 32 --outstanding 8 --mix get=100 --payload 100" ;;
    d) echo "--sessions 32 --outstanding 8 --mix get=90,set=10 --payload 100" ;;
    e) echo "--sessions 32 --outstanding 8 --mix set=100 --payload 1024" ;;
    *) echo "unknown workload $1" >&2; exit 2 ;;
    esac
}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# CPU ticks (user + system) of process $1 and its threads.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# CPU ticks of the whole machine (all cores), from /proc/stat: busy outside interrupts
# (user, nice, system), interrupt and softirq (loopback TCP and disk completion land there),
# and total.
machine_ticks() {
    awk '/^cpu / { total = 0; for (i = 2; i <= NF; i++) total += $i; print $2 + $3 + $4, $7 + $8, total }' /proc/stat
}

server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
trap stop_server EXIT

# start_server KIND DIR: sets server_pid (the timeout(1) guard), port, and java_or_server_pid.
start_server() {
    local kind=$1 dir=$2
    port=$(free_port)
    mkdir -p "$dir/data"
    cat >"$dir/zoo.cfg" <<EOF
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
forceSync=yes
admin.enableServer=false
EOF
    if [ "$kind" = ours ]; then
        RUST_LOG=warn timeout --kill-after=5 900 "$server_bin" --config "$dir/zoo.cfg" \
            >"$dir/server.log" 2>&1 &
    else
        timeout --kill-after=5 900 /usr/bin/java -Xms512m -Xmx1000m \
            -Dzookeeper.admin.enableServer=false -Djava.net.preferIPv4Stack=true \
            -cp /usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar \
            org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" \
            >"$dir/server.log" 2>&1 &
    fi
    server_pid=$!
    for _ in $(seq 1 600); do
        # `ruok` is answered before Apache ZooKeeper serves sessions; `srvr` shows a mode only
        # once it does.
        if answer=$(timeout 2 bash -c \
            'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf srvr >&3 && cat <&3' "$port" 2>/dev/null) &&
            [[ $answer == *"Mode: "* ]]; then
            # The process that does the work: the child of timeout(1).
            worker_pid=$(pgrep -P "$server_pid" | head -n1)
            return 0
        fi
        sleep 0.1
    done
    echo "$kind did not start; see $dir/server.log" >&2
    exit 1
}

servers=()
case $which_servers in
ours | apache) servers=("$which_servers") ;;
both) servers=(ours apache) ;;
*) echo "first argument: ours, apache or both" >&2; exit 2 ;;
esac

for workload in "${workloads[@]}"; do
    for kind in "${servers[@]}"; do
        dir="$out/$kind-$workload"
        rm -rf "$dir"
        mkdir -p "$dir"
        start_server "$kind" "$dir"
        ticks_before=$(cpu_ticks "$worker_pid")
        read -r busy_before irq_before total_before < <(machine_ticks)
        started=$(date +%s.%N)
        # shellcheck disable=SC2046
        /usr/bin/time -v -o "$dir/time.txt" "$bench" --hosts "127.0.0.1:$port" \
            $(workload_flags "$workload") --duration "$duration" --warmup "$warmup" --json \
            >"$dir/report.json" 2>"$dir/bench.err" || echo "zk-bench failed: $dir" >&2
        ended=$(date +%s.%N)
        ticks_after=$(cpu_ticks "$worker_pid")
        read -r busy_after irq_after total_after < <(machine_ticks)
        stop_server
        hz=$(getconf CLK_TCK)
        server_cpu=$(awk -v b="$ticks_before" -v a="$ticks_after" -v hz="$hz" \
            -v s="$started" -v e="$ended" 'BEGIN { printf "%.1f", 100 * (a - b) / hz / (e - s) }')
        bench_cpu=$(awk -F': ' '/User time|System time/ { t += $2 } END { printf "%.2f", t }' "$dir/time.txt")
        bench_wall=$(awk -v s="$started" -v e="$ended" 'BEGIN { printf "%.2f", e - s }')
        load=$(cut -d' ' -f1-3 /proc/loadavg)
        # CPU used by everything else on the machine during the run (user and system time of
        # other processes and kernel threads, e.g. a compiler or the disk's writeback), in % of
        # one core: a large value means other work disturbed the figures. Interrupt and softirq
        # time is given apart: most of it is this run's own network and disk traffic.
        read -r others_cpu irq_cpu < <(awk -v bb="$busy_before" -v ba="$busy_after" \
            -v ib="$irq_before" -v ia="$irq_after" -v tb="$total_before" -v ta="$total_after" \
            -v sb="$ticks_before" -v sa="$ticks_after" -v bench="$bench_cpu" -v hz="$hz" \
            -v cores="$(nproc)" 'BEGIN {
                wall = (ta - tb) / cores
                printf "%.1f %.1f\n", 100 * ((ba - bb) - (sa - sb) - bench * hz) / wall, 100 * (ia - ib) / wall }')
        report=$(cat "$dir/report.json")
        printf '{"server":"%s","workload":"%s","server_cpu_percent_whole_run":%s,"bench_cpu_s_whole_run":%s,"bench_wall_s":%s,"others_cpu_percent":%s,"irq_softirq_percent":%s,"loadavg_after":"%s","report":%s}\n' \
            "$kind" "$workload" "$server_cpu" "$bench_cpu" "$bench_wall" "$others_cpu" "$irq_cpu" "$load" "${report:-null}"
    done
done
echo "logs and reports kept in $out" >&2
