#!/usr/bin/env bash
# Prove the built tarball stands on its own, as a user gets it:
#  1. it installs offline into an empty collections path, its galaxy.yml dependency ranges met
#     by the pinned `ansible` package;
#  2. every module's documentation renders from that installed copy (and only from it), and the
#     filter plugins load;
#  3. the execution environment definition it ships (meta/execution-environment.yml) is valid:
#     ansible-builder writes the build context and Containerfile, the galaxy stage's requirements
#     install offline, and introspection finds our Python and system requirements. No image is
#     built: that needs a container registry.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
start=$(date +%s)
[ -x .venv/bin/ansible-doc ] && export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=false NO_COLOR=1
unset ANSIBLE_CONFIG
fail() { echo "packaging: $*" >&2; exit 1; }

# The tarball tests/harness/build-collection.sh made; made again if absent or older than the
# files this script checks.
version=$(sed -n 's/^version: *//p' galaxy.yml)
tarball=$root/.build/dist/llmsec-hardening-$version.tar.gz
if [ ! -f "$tarball" ] || [ -n "$(find galaxy.yml meta plugins -newer "$tarball" -print -quit)" ]; then
  tests/harness/build-collection.sh
fi
[ -f "$tarball" ] || fail "$tarball was not built"

work=$(mktemp -d /tmp/llmsec-packaging.XXXXXX)
trap 'rm -rf "$work"' EXIT
deps=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
[ -d "$deps/ansible_collections/community/general" ] || fail "no collections from the ansible package in $deps (make venv)"

# 1. Install. --offline: the dependencies must already be present, in the venv's copy of the
# `ansible` package (skipped there, not copied), so the fresh path holds llmsec.hardening only.
fresh=$work/collections
installed=$fresh/ansible_collections/llmsec/hardening
ANSIBLE_COLLECTIONS_PATH="$fresh:$deps" ansible-galaxy collection install --offline -p "$fresh" "$tarball" \
  >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "ansible-galaxy could not install $tarball"; }
[ -f "$installed/MANIFEST.json" ] || fail "nothing installed at $installed"

# 2. Documentation, from the installed copy only: no other collections path, no site-packages
# collections, no ansible.cfg, and a working directory outside the repository.
docs() {
  (cd "$work" && ANSIBLE_COLLECTIONS_PATH="$fresh" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false ansible-doc "$@")
}
noisy='\[(WARNING|ERROR|DEPRECATION WARNING)\]|^ERROR|Traceback'
mapfile -t modules < <(find "$installed/plugins/modules" -maxdepth 1 -name '*.py' ! -name '__init__.py' -printf '%f\n' \
  | sed 's/\.py$//' | sort)
[ "${#modules[@]}" -gt 0 ] || fail "no modules in $installed/plugins/modules"
for module in "${modules[@]}"; do
  fqcn=llmsec.hardening.$module
  out=$(docs "$fqcn" 2>"$work/doc.err") || { cat "$work/doc.err" >&2; fail "ansible-doc $fqcn failed"; }
  [ -n "$out" ] || fail "ansible-doc $fqcn printed nothing"
  if grep -Eq "$noisy" "$work/doc.err" - <<<"$out"; then
    cat "$work/doc.err" >&2; fail "ansible-doc $fqcn warned or failed"
  fi
  grep -qF "> MODULE $fqcn ($installed/plugins/modules/$module.py)" <<<"$out" \
    || fail "ansible-doc $fqcn did not render the installed copy: $(head -1 <<<"$out")"
done
listed=$(docs -t module -l llmsec.hardening 2>"$work/doc.err" | awk '{print $1}' | sort)
if grep -Eq "$noisy" "$work/doc.err"; then cat "$work/doc.err" >&2; fail "listing the modules warned"; fi
expected=$(printf 'llmsec.hardening.%s\n' "${modules[@]}")
[ "$listed" = "$expected" ] || fail "ansible-doc -l lists other modules than the tarball holds: $(tr '\n' ' ' <<<"$listed")"

# Filters load (ansible-doc -l imports them); every one is documented and renders.
filters=$(docs -t filter -l llmsec.hardening 2>"$work/doc.err") || { cat "$work/doc.err" >&2; fail "ansible-doc -t filter -l failed"; }
if grep -Eq "$noisy" "$work/doc.err" - <<<"$filters"; then cat "$work/doc.err" >&2; fail "listing the filters warned"; fi
filter_count=$(grep -c '^llmsec\.hardening\.' <<<"$filters" || true)
[ "$filter_count" -gt 0 ] || fail "no filter plugins listed"
if grep -q 'UNDOCUMENTED' <<<"$filters"; then fail "undocumented filters: $(grep UNDOCUMENTED <<<"$filters" | tr '\n' ' ')"; fi
while read -r name; do
  out=$(docs -t filter "$name" 2>"$work/doc.err") || { cat "$work/doc.err" >&2; fail "ansible-doc -t filter $name failed"; }
  if [ -z "$out" ] || grep -Eq "$noisy" "$work/doc.err" - <<<"$out"; then
    cat "$work/doc.err" >&2; fail "ansible-doc -t filter $name printed nothing or warned"
  fi
done < <(awk '$1 ~ /^llmsec\.hardening\./ {print $1}' <<<"$filters")

# 3. The execution environment, with pinned ansible-builder in its own venv.
eevenv=$root/.build/ee-venv
reqs=tests/harness/ee-requirements-dev.txt
stamp=$eevenv/.installed-$(sha256sum "$reqs" | cut -c1-12)
if [ ! -e "$stamp" ]; then
  [ -x "$eevenv/bin/python" ] || "${PYTHON:-python3}" -m venv "$eevenv"
  "$eevenv/bin/pip" install -q --disable-pip-version-check -r "$reqs" >"$work/pip.log" 2>&1 \
    || { cat "$work/pip.log" >&2; fail "could not install $reqs into $eevenv"; }
  rm -f "$eevenv"/.installed-* && touch "$stamp"
fi
ee=$installed/meta/execution-environment.yml
for f in "$ee" "$installed/meta/ee-requirements.txt" "$installed/meta/ee-bindep.txt"; do
  [ -f "$f" ] || fail "${f#"$installed"/} is missing from the tarball"
done
"$eevenv/bin/python" - "$installed/meta/ee-requirements.txt" <<'EOF' || fail "meta/ee-requirements.txt does not parse"
import sys
from packaging.requirements import Requirement
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if line:
        Requirement(line)
EOF
"$eevenv/bin/bindep" -f "$installed/meta/ee-bindep.txt" -l newline >/dev/null || fail "meta/ee-bindep.txt does not parse"

# Its paths are relative to the collection root (what introspection requires of a collection's
# meta/execution-environment.yml), so ansible-builder gets a copy there, beside the tarball.
stage=$work/ee-src
context=$work/ee-context
cp -r "$installed" "$stage"
cp "$ee" "$stage/ee.yml"
cp "$tarball" "$stage/"
"$eevenv/bin/ansible-builder" create --file "$stage/ee.yml" --context "$context" --output-filename Containerfile \
  >"$work/builder.log" 2>&1 || { cat "$work/builder.log" >&2; fail "ansible-builder create rejected meta/execution-environment.yml"; }
grep -q 'ansible-galaxy collection install' "$context/Containerfile" || fail "the Containerfile installs no collections"
name=$(basename "$tarball")
if [ ! -f "$context/_build/llmsec/$name" ] || ! grep -qF "name: llmsec/$name" "$context/_build/requirements.yml"; then
  fail "meta/execution-environment.yml does not bring in $name: keep its tarball name in step with galaxy.yml's version"
fi
# The galaxy stage, offline: the same requirements file from the same directory.
(cd "$context/_build" && ANSIBLE_COLLECTIONS_PATH="$work/ee-collections:$deps" ansible-galaxy collection install \
  --offline -r requirements.yml -p "$work/ee-collections") >"$work/galaxy.log" 2>&1 \
  || { cat "$work/galaxy.log" >&2; fail "the EE's galaxy requirements do not install"; }
# The builder stage's introspection must find our requirements in the installed collection.
introspected=$("$eevenv/bin/ansible-builder" introspect --sanitize "$work/ee-collections" 2>&1) \
  || { echo "$introspected" >&2; fail "ansible-builder introspect failed"; }
for want in PyJWT cryptography openssh-clients; do
  grep -q "^- '${want}[ >=<~[].*from collection llmsec.hardening" <<<"$introspected" \
    || { echo "$introspected" >&2; fail "introspection does not find $want for llmsec.hardening"; }
done

echo "packaging: ${#modules[@]} modules rendered and $filter_count filters loaded from the installed $name;" \
  "EE definition valid (ansible-builder $("$eevenv/bin/ansible-builder" --version), Containerfile" \
  "$(wc -l <"$context/Containerfile") lines) ($(( $(date +%s) - start )) s)"
