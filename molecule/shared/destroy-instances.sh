#!/usr/bin/env bash
# destroy-instances.sh NAME... [--network=NAME...]: remove the containers of these names (killed,
# as the Docker driver does by name with force_kill) and then those networks that Molecule created (label
# owner=molecule; a network someone else made stays). Prints what it removed.
set -euo pipefail
containers=() networks=()
for arg in "$@"; do
  case $arg in
    --network=*) networks+=("${arg#--network=}") ;;
    *) containers+=("$arg") ;;
  esac
done
mapfile -t present < <(docker ps -a --format '{{.Names}}' | grep -Fxf <(printf '%s\n' "${containers[@]}") || true)
if [ ${#present[@]} -gt 0 ]; then
  docker rm -f "${present[@]}" >/dev/null
  printf 'removed container %s\n' "${present[@]}"
fi
for network in "${networks[@]}"; do
  owner=$(docker network inspect --format '{{index .Labels "owner"}}' "$network" 2>/dev/null) || continue
  if [ "$owner" = molecule ]; then
    docker network rm "$network" >/dev/null
    echo "removed network $network"
  fi
done
