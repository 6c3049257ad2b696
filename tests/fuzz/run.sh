#!/usr/bin/env bash
# run.sh - runs the libFuzzer targets; `make fuzz` and `make fuzz-smoke`
# call it (see tests/fuzz/README.md).
#
#   run.sh fuzz  SECONDS BIN...  fuzzes each target for SECONDS. New inputs
#                                collect in build/fuzz/work/<target> (kept
#                                between runs; not checked in).
#   run.sh smoke SECONDS BIN...  runs every checked-in corpus file once,
#                                then fuzzes each target for SECONDS from a
#                                scratch copy of its corpus.
#
# Any crash, leak, sanitizer report, broken invariant (abort) or timeout
# fails the run. The failing input is saved as
# build/fuzz/artifacts/<target>-crash-*; once fixed, copy it into
# tests/fuzz/corpus/<target>/ so it stays a regression test.
set -euo pipefail

mode=${1:?mode}
secs=${2:?seconds}
shift 2
corpus=tests/fuzz/corpus
out=build/fuzz
mkdir -p "$out/artifacts" "$out/logs"

# The sanitizers must stop at the first report; the Makefile sets these too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# -max_len: above PKT_BUF_SIZE (2048), the largest input a target cares
# about. -timeout: one input taking longer than this is a hang.
flags=(-max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

failed=0

fail() { # target log
	echo "FAIL $1: see $2; last lines:" >&2
	tail -n 60 "$2" >&2
	ls "$out"/artifacts/"$1"-* 2>/dev/null | sed 's/^/  input: /' >&2 || true
	failed=1
}

summary() { # target log
	local execs rate newu
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$2" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$2" | tail -1)
	newu=$(sed -n 's/^stat::new_units_added: *//p' "$2" | tail -1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9/]*[a-zA-Z]*' "$2" | tail -1 || true)
	printf '%-15s %10s execs %8s exec/s  %5s new units  %s\n' "$1" "${execs:-?}" "${rate:-?}" "${newu:-?}" "$cov"
}

for bin in "$@"; do
	t=$(basename "$bin")
	log=$out/logs/$t.$mode.log
	seeds=("$corpus/$t"/*)
	rm -f "$out"/artifacts/"$t"-*
	: >"$log"

	if [ "$mode" = smoke ]; then
		# Every checked-in input once: the regression part.
		if ! "$bin" "${flags[@]}" -artifact_prefix="$out/artifacts/$t-" "${seeds[@]}" >>"$log" 2>&1; then
			fail "$t" "$log"
			continue
		fi
		echo "$t: ${#seeds[@]} corpus inputs pass"
		work=$out/smoke/$t
		rm -rf "$work"
		mkdir -p "$work"
	else
		work=$out/work/$t
		mkdir -p "$work"
	fi

	echo "$t: fuzzing for $secs s (log: $log)"
	if ! "$bin" "${flags[@]}" -max_total_time="$secs" -artifact_prefix="$out/artifacts/$t-" \
		"$work" "$corpus/$t" >>"$log" 2>&1; then
		fail "$t" "$log"
		continue
	fi
	summary "$t" "$log"
done

exit $failed
