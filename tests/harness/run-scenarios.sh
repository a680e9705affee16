#!/usr/bin/env bash
# Run Molecule scenarios (all, or those named), up to MOLECULE_JOBS at a time,
# each into its own log; print one line per scenario with its duration, and
# fail if any scenario failed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

jobs=${MOLECULE_JOBS:-2}
logs=.build/logs
mkdir -p "$logs"
if [ $# -gt 0 ]; then
  scenarios=("$@")
else
  mapfile -t found < <(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -n1 basename | sort)
  # The longest first (the VM, the whole stack), so that the short ones fill the other job slots.
  scenarios=()
  for name in encrypted_model_volume full_stack container_hardening; do
    [[ " ${found[*]} " == *" $name "* ]] && scenarios+=("$name")
  done
  for name in "${found[@]}"; do
    [[ " ${scenarios[*]} " == *" $name "* ]] || scenarios+=("$name")
  done
fi
[ ${#scenarios[@]} -gt 0 ] || { echo "run-scenarios: no scenario found" >&2; exit 1; }

run_one() {
  local name=$1 start rc elapsed
  start=$(date +%s)
  molecule test -s "$name" 2>&1 | python3 tests/harness/phase_clock.py "$name" ".build/logs/molecule-$name.log" \
    .build/logs/molecule-phases
  rc=${PIPESTATUS[0]}
  elapsed=$(( $(date +%s) - start ))
  echo "$name $rc $elapsed" >>.build/logs/molecule-results
  if [ "$rc" -eq 0 ]; then
    printf 'molecule/%-24s PASS  %4ss\n' "$name" "$elapsed"
  else
    printf 'molecule/%-24s FAIL  %4ss  (log: .build/logs/molecule-%s.log)\n' "$name" "$elapsed" "$name"
  fi
}
export -f run_one
rm -f "$logs/molecule-results" "$logs/molecule-phases"
printf '%s\n' "${scenarios[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {}

failed=$(awk '$2 != 0 {print $1}' "$logs/molecule-results")
count=$(wc -l <"$logs/molecule-results")
if [ "$count" -ne ${#scenarios[@]} ]; then
  echo "run-scenarios: only $count of ${#scenarios[@]} scenarios reported a result" >&2
  exit 1
fi
for name in $failed; do
  echo "---- last lines of .build/logs/molecule-$name.log ----"
  grep -E 'fatal:|FAILED|failed=[1-9]|CRITICAL|ERROR|Error' ".build/logs/molecule-$name.log" | tail -n 25
  tail -n 15 ".build/logs/molecule-$name.log"
done
[ -z "$failed" ]
