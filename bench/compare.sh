#!/usr/bin/env bash
# Times `dropout-study` side by side with the same study in vectorised NumPy
# (bench/numpy_study.py), end to end (process start to exit, imports included), and prints the
# wall and CPU times, peak memory and the ratios NumPy / harness:
#   - N = 1e5 and 1e7 trials, each with trials.csv and without (`--no-trials-csv`);
#   - N = 1e8 for the harness without trials.csv (skip it with SKIP_1E8=1).
# The harness is built with `cargo build --release --locked`; NumPy, pandas and SciPy come from
# PyPI into the git-ignored venv bench/.venv, made on the first run.
#
# Run from anywhere:   bash bench/compare.sh
# Options (environment): RUNS=5 (repetitions at 1e5, the median is shown; larger N run once),
#                        SKIP_1E8=1, KEEP_OUTPUT=1 (keep the output folders, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
VENV=bench/.venv
HARNESS=target/release/dropout-study
WORK=$(mktemp -d /tmp/dropout-compare.XXXXXX)
if [[ -z ${KEEP_OUTPUT:-} ]]; then trap 'rm -rf "$WORK"' EXIT; fi

cargo build --release --locked --quiet
if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet numpy pandas scipy
fi
PY=$VENV/bin/python

echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== harness: $("$HARNESS" --version 2>/dev/null || echo dropout-study), numpy $("$PY" -c 'import numpy; print(numpy.__version__)'), pandas $("$PY" -c 'import pandas; print(pandas.__version__)')"

# time_one OUTFILE CMD...: runs CMD once; writes "wall_seconds peak_kib cpu_seconds" to OUTFILE.
# The wall time is taken with nanosecond clock readings around the command; the peak resident set
# size and the CPU time (user + system) come from /usr/bin/time where it exists (0 otherwise).
time_one() {
    local out=$1
    shift
    local start end peak=0 cpu=0
    start=$(date +%s%N)
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f '%M %U %S' -o "$out.mem" "$@" > /dev/null
    else
        "$@" > /dev/null
    fi
    end=$(date +%s%N)
    if [[ -f $out.mem ]]; then
        read -r peak user sys < <(tail -n 1 "$out.mem")
        cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
    fi
    awk -v ns=$((end - start)) -v m="$peak" -v c="$cpu" 'BEGIN { printf "%.4f %d %s\n", ns / 1e9, m, c }' > "$out"
}

# measure RUNS CMD...: prints "wall_seconds max_peak_kib cpu_seconds" of the run with the median
# wall time over RUNS runs (the peak is the largest of all runs).
measure() {
    local runs=$1
    shift
    local rows=()
    for ((i = 0; i < runs; i++)); do
        time_one "$WORK/t" "$@"
        rows+=("$(cat "$WORK/t")")
    done
    printf '%s\n' "${rows[@]}" | sort -n | awk '{ s[NR] = $1; c[NR] = $3; if ($2 > m) m = $2 }
        END { k = int((NR + 1) / 2); printf "%s %d %s\n", s[k], m, c[k] }'
}

printf '\n%-9s %-13s %9s %9s %7s %9s %9s %9s %8s %8s %11s %11s\n' trials variant harness_s h_cpu_s h_MiB numpy_s np_cpu_s np_MiB wall_x cpu_x harness_t/s h_t/cpu_s
row() { # row N LABEL HARNESS_RESULT NUMPY_RESULT
    local n=$1 label=$2 h=$3 p=$4
    awk -v n="$n" -v l="$label" -v h="$h" -v p="$p" 'BEGIN {
        split(h, a, " "); split(p, b, " ");
        hs = a[1] + 0; if (hs <= 0) hs = 1e-4; hm = a[2] / 1024; hc = a[3] + 0; if (hc <= 0) hc = 0.01;
        if (p == "") { ps = pc = pm = rw = rc = "-" } else {
            ps = sprintf("%.3f", b[1]); pc = sprintf("%.2f", b[3]); pm = sprintf("%.0f", b[2] / 1024);
            rw = sprintf("%.1fx", b[1] / hs); rc = sprintf("%.1fx", b[3] / hc) }
        printf "%-9s %-13s %9.3f %9.2f %7.1f %9s %9s %9s %8s %8s %11.3g %11.3g\n", n, l, hs, a[3], hm, ps, pc, pm, rw, rc, n / hs, n / hc }'
}

for n in 100000 10000000; do
    runs=$RUNS
    ((n > 100000)) && runs=1
    h=$(measure "$runs" "$HARNESS" --trials "$n" --out "$WORK/h-csv" --quiet)
    p=$(measure "$runs" "$PY" bench/numpy_study.py --trials "$n" --out "$WORK/p-csv")
    row "$n" "trials.csv" "$h" "$p"
    h=$(measure "$runs" "$HARNESS" --trials "$n" --out "$WORK/h-agg" --quiet --no-trials-csv)
    p=$(measure "$runs" "$PY" bench/numpy_study.py --trials "$n" --out "$WORK/p-agg" --no-trials-csv)
    row "$n" "no trials.csv" "$h" "$p"
done
if [[ -z ${SKIP_1E8:-} ]]; then
    h=$(measure 1 "$HARNESS" --trials 100000000 --out "$WORK/h-agg" --quiet --no-trials-csv)
    row 100000000 "no trials.csv" "$h" ""
fi
echo
echo "Times are wall seconds, process start to exit (the median of $RUNS runs at 1e5, one run above);"
echo "h_ = harness, np_ = NumPy; *_cpu_s is user + system CPU time (10 ms resolution), which other"
echo "load on the machine disturbs less than wall time; MiB is the peak resident set size; wall_x and"
echo "cpu_x are NumPy / harness; h_t/cpu_s is the harness's trials per CPU second."
if [[ -n ${KEEP_OUTPUT:-} ]]; then echo "outputs kept in $WORK"; fi
