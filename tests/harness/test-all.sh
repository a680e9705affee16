#!/usr/bin/env bash
# `make test`: every check, in order of cost. A step that fails or cannot run
# fails the whole run; all steps run so that one report shows everything.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

declare -a names=() results=() times=()
step() {
  local name=$1; shift
  local start rc
  echo "==== $name: $*"
  start=$(date +%s)
  "$@"
  rc=$?
  names+=("$name"); results+=("$rc"); times+=("$(( $(date +%s) - start ))")
  [ $rc -eq 0 ] && echo "==== $name: ok" || echo "==== $name: FAILED (exit $rc)"
}

total_start=$(date +%s)
# cold-build mostly waits on debootstrap's I/O (the CPU was 34 % idle while it ran after the static checks,
# measured), so it runs beside them. ansible-lint, ansible-test's sanity and the unit tests each keep one core
# busy at most (ansible-lint: 80 s of CPU in 90 s, measured), so sanity and then the unit tests run in a second
# lane beside ansible-lint, syntax and docs. Each background step writes its own log, printed with its result at
# its step; the time shown for that step is only what was left to wait (its log ends with its own time).
mkdir -p .build/logs
logged() {
  local name=$1 start=$SECONDS rc=0; shift
  "$@" >".build/logs/$name.log" 2>&1 || rc=$?
  echo "($name: $((SECONDS - start)) s in the background)" >>".build/logs/$name.log"
  echo "$rc" >".build/logs/$name.rc"
}
rm -f .build/logs/{cold-build,sanity,unit}.rc
logged cold-build tests/harness/cold-build.sh &
{ logged sanity tests/harness/sanity.sh; logged unit pytest -q -p no:cacheprovider tests/unit; } &
collect() {
  local name=$1
  while [ ! -s ".build/logs/$name.rc" ]; do sleep 1; done
  cat ".build/logs/$name.log"
  return "$(cat ".build/logs/$name.rc")"
}
step ansible-lint   ansible-lint
step syntax         tests/harness/syntax.sh
step docs           python tools/role_docs.py --check
step sanity         collect sanity
step unit           collect unit
step cold-build     collect cold-build
step build          tests/harness/build-collection.sh
step packaging      tests/harness/packaging.sh
step molecule       tests/harness/run-scenarios.sh

echo
echo "==== summary ($(( $(date +%s) - total_start )) s)"
passed=0; failed=0
for i in "${!names[@]}"; do
  if [ "${results[$i]}" -eq 0 ]; then status=PASS; passed=$((passed + 1)); else status=FAIL; failed=$((failed + 1)); fi
  printf '  %-14s %s  %5ss\n' "${names[$i]}" "$status" "${times[$i]}"
done
[ -f .build/logs/molecule-results ] && awk '{printf "  molecule/%-20s %s  %5ss\n", $1, ($2==0?"PASS":"FAIL"), $3}' .build/logs/molecule-results
# Where each scenario's time goes, phase by phase (seconds): the next regression shows here.
if [ -f .build/logs/molecule-phases ]; then
  echo
  awk -v phases="create prepare check converge idempotence verify destroy" '
    { t[$1 "," $2] = $3; seen[$1] = 1 }
    END {
      n = split(phases, p, " ")
      printf "  %-24s", "scenario (s)"; for (i = 1; i <= n; i++) printf " %11s", p[i]; printf "\n"
      for (s in seen) {
        printf "  %-24s", s
        for (i = 1; i <= n; i++) printf " %11s", ((s "," p[i]) in t ? t[s "," p[i]] : "-")
        printf "\n"
      }
    }' .build/logs/molecule-phases | { IFS= read -r header; echo "$header"; sort; }
fi
echo "make test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
