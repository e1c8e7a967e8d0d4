#!/usr/bin/env bash
# Times `dropout-study` side by side with the same study in vectorised NumPy
# (bench/numpy_study.py), end to end (process start to exit, imports included), and prints the
# wall times, peak memory and the ratio NumPy / harness:
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

# time_one OUTFILE CMD...: runs CMD once; writes "seconds peak_kib" to OUTFILE.
time_one() {
    local out=$1
    shift
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f '%e %M' -o "$out" "$@" > /dev/null
    else
        local start end
        start=$(date +%s.%N)
        "$@" > /dev/null
        end=$(date +%s.%N)
        echo "$(echo "$end - $start" | bc -l) 0" > "$out"
    fi
}

# measure RUNS CMD...: prints "median_seconds max_peak_kib" over RUNS runs.
measure() {
    local runs=$1
    shift
    local rows=()
    for ((i = 0; i < runs; i++)); do
        time_one "$WORK/t" "$@"
        rows+=("$(cat "$WORK/t")")
    done
    printf '%s\n' "${rows[@]}" | sort -n | awk '{ s[NR] = $1; if ($2 > m) m = $2 }
        END { printf "%s %d\n", s[int((NR + 1) / 2)], m }'
}

printf '\n%-9s %-15s %10s %12s %10s %12s %9s %9s\n' trials variant harness_s harness_MiB numpy_s numpy_MiB numpy/harn harness_trials/s
row() { # row N LABEL HARNESS_RESULT NUMPY_RESULT
    local n=$1 label=$2 h=$3 p=$4
    awk -v n="$n" -v l="$label" -v h="$h" -v p="$p" 'BEGIN {
        split(h, a, " "); split(p, b, " ");
        hs = a[1] + 0; hm = a[2] / 1024;
        if (p == "") { ps = "-"; pm = "-"; r = "-" } else { ps = sprintf("%.2f", b[1]); pm = sprintf("%.0f", b[2] / 1024); r = sprintf("%.1fx", b[1] / (hs > 0 ? hs : 0.005)) }
        printf "%-9s %-15s %10.2f %12.1f %10s %12s %9s %9.3g\n", n, l, hs, hm, ps, pm, r, n / (hs > 0 ? hs : 0.005) }'
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
echo "MiB is the peak resident set size. The /usr/bin/time wall clock has 10 ms resolution."
if [[ -n ${KEEP_OUTPUT:-} ]]; then echo "outputs kept in $WORK"; fi
