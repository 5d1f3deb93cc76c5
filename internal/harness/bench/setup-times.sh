#!/usr/bin/env bash
# Measures what a newcomer waits for (issue 22): in a fresh clone of this checkout's branch with
# empty Go build, module and npm caches, `make demo`, then `make test` right after it, then both
# again with the caches they filled (the second `make test` replays Go's cached test results;
# `make test TESTFLAGS=-count=1` then shows what running every test again costs). During the first `make test` every Go tool run (compile,
# link, asm, vet…) is timed through -toolexec, so the report says where that time went.
# It writes bench/setup-times.md, which `make bench` copies into bench/BENCHMARKS.md (§6).
#   internal/harness/bench/setup-times.sh            (from the repository root)
# Run it on an otherwise idle machine: wall times grow with the load (recorded next to them).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
branch=$(git -C "$root" rev-parse --abbrev-ref HEAD)
tmp=$(mktemp -d /tmp/keyrotor-setup.XXXX)
# Each step's log is kept in build/setup-times/ (a failed step is read there).
logs=$root/build/setup-times
rm -rf "$logs"; mkdir -p "$logs"
trap 'cp "$tmp"/*.log "$logs"/ 2>/dev/null || true; chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
git clone -q --branch "$branch" "$root" "$tmp/keyrotor"
export GOCACHE=$tmp/gocache GOMODCACHE=$tmp/gomod npm_config_cache=$tmp/npm GOFLAGS="-modcacherw"
cd "$tmp/keyrotor"
commit=$(git rev-parse --short HEAD)

# Each Go tool run appends "<tool> <seconds>" to $tmp/tools.log.
cat >"$tmp/toolexec" <<'SH'
#!/usr/bin/env bash
s=$EPOCHREALTIME; "$@"; rc=$?
printf '%s %s\n' "${1##*/}" "$(awk -v s="$s" -v e="$EPOCHREALTIME" 'BEGIN{printf "%.3f", e - s}')" >>"$KEYROTOR_TOOL_LOG"
exit $rc
SH
chmod +x "$tmp/toolexec"

load() { cut -d' ' -f1 /proc/loadavg; }
rows=""
step() { # name, make target (and its variables), extra GOFLAGS
  local name=$1 target=$2 flags=${3:-} l0 l1 s e cpu
  l0=$(load); s=$(date +%s.%N)
  # CPU seconds of make and everything it ran (user + system); bash's time keyword counts the
  # children it waited for.
  cpu=$( { TIMEFORMAT='%U %S'; time GOFLAGS="-modcacherw $flags" make $target >"$tmp/$name.log" 2>&1; } 2>&1 | tail -1 | awk '{print $1 + $2}') ||
    { grep -E -- '^(--- FAIL|FAIL|make(\[[0-9]+\])?: \*\*\*)' "$tmp/$name.log" | head -20
      echo "setup-times: make $target failed ($name); its log: build/setup-times/$name.log" >&2; exit 1; }
  e=$(date +%s.%N); l1=$(load)
  rows+=$(printf '| %s | `make %s` | %.0f s | %.0f s | %s → %s |\\n' "$name" "$target" "$(echo "$e - $s" | bc)" "$cpu" "$l0" "$l1")
}
export KEYROTOR_TOOL_LOG=$tmp/tools.log
step "fresh demo" demo
step "test after it" test "-toolexec=$tmp/toolexec"
step "warm demo" demo
step "warm test" test
step "warm test, no cached result" "test TESTFLAGS=-count=1"
tools=$(awk '{n[$1]++; t[$1]+=$2} END {for (k in t) printf "| %s | %d | %.0f s |\n", k, n[k], t[k]}' "$tmp/tools.log" | sort -t'|' -k4 -rn)
{
  echo "## 6. Set-up times"
  echo
  echo "A newcomer's first hour: a fresh clone (commit $commit), empty GOCACHE, GOMODCACHE and npm cache (GOFLAGS=-modcacherw), \`make demo\`, then \`make test\`, then both again with the caches they filled (the second \`make test\` replays the results Go's test cache holds for packages whose inputs did not change; \`TESTFLAGS=-count=1\` runs every test again) ($(nproc) cores; \`internal/harness/bench/setup-times.sh\`). Goals (issue 22): fresh \`make demo\` < 120 s, \`make test\` right after it < 420 s, warm \`make test\` < 180 s, warm \`make demo\` < 10 s."
  echo
  echo "| run | command | wall | CPU (user + system) | 1-min load before → after |"
  echo "| --- | --- | --- | --- | --- |"
  printf "$rows"
  echo
  echo "Where the first \`make test\` spent its Go tool time (each run of a tool timed by -toolexec; runs overlap, two cores and \`make -j2\`, so the seconds add up to more than the wall time; the rest of the CPU above is the tests themselves: the test binaries, moto, the Lambda bootstraps, node and Python):"
  echo
  echo "| Go tool | runs | seconds (summed) |"
  echo "| --- | --- | --- |"
  echo "$tools"
  # What the tables cannot say (the before/after of issue 22's build changes, the linters'
  # evidence) is kept by hand in setup-notes.md and travels with each new measurement.
  if [ -f "$root/bench/setup-notes.md" ]; then echo; cat "$root/bench/setup-notes.md"; fi
} > "$root/bench/setup-times.md"
cat "$root/bench/setup-times.md"
