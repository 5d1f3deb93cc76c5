#!/usr/bin/env bash
# Measures what a newcomer waits for (issue 16): `make demo` in a fresh clone of this checkout's
# branch with empty Go build, module and npm caches, then twice more warm. It writes
# bench/setup-times.md, which `make bench` copies into bench/BENCHMARKS.md.
#   internal/harness/bench/setup-times.sh            (from the repository root)
# Run it on an otherwise idle machine: wall times grow with the load (recorded next to them).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
branch=$(git -C "$root" rev-parse --abbrev-ref HEAD)
tmp=$(mktemp -d /tmp/keyrotor-setup.XXXX)
trap 'chmod -R u+w "$tmp"; rm -rf "$tmp"' EXIT
git clone -q --branch "$branch" "$root" "$tmp/keyrotor"
export GOCACHE=$tmp/gocache GOMODCACHE=$tmp/gomod npm_config_cache=$tmp/npm GOFLAGS="-modcacherw"
cd "$tmp/keyrotor"
commit=$(git rev-parse --short HEAD)
load() { cut -d' ' -f1 /proc/loadavg; }
rows=""
for run in fresh warm1 warm2; do
  l0=$(load); s=$(date +%s.%N)
  # CPU seconds of make and everything it ran (user + system), less sensitive to load than wall time.
  # bash's own time keyword (GNU time is not installed everywhere) counts the children it waited for.
  cpu=$( { TIMEFORMAT='%U %S'; time make demo >"$tmp/$run.log" 2>&1; } 2>&1 | tail -1 | awk '{print $1 + $2}')
  e=$(date +%s.%N); l1=$(load)
  rotation=$(grep -o 'the demo took [0-9.]*s' "$tmp/$run.log" | grep -o '[0-9.]*' || echo "?")
  rows+=$(printf '| %s | %.0f s | %.0f s | %s s | %s → %s |\\n' "$run" "$(echo "$e - $s" | bc)" "$cpu" "$rotation" "$l0" "$l1")
done
{
  echo "## 6. Set-up times"
  echo
  echo "\`make demo\` as a newcomer runs it: a fresh clone (commit $commit), empty GOCACHE, GOMODCACHE and npm cache (GOFLAGS=-modcacherw), then the same checkout twice more with the caches it filled ($(nproc) cores; \`internal/harness/bench/setup-times.sh\`). Goals (issue 16): fresh < 150 s, warm < 10 s."
  echo
  echo "| run | wall | CPU (user + system) | of which the demo itself | 1-min load before → after |"
  echo "| --- | --- | --- | --- | --- |"
  printf "$rows"
} > "$root/bench/setup-times.md"
cat "$root/bench/setup-times.md"
