#!/usr/bin/env bash
# `make release`: the release bundle, dist/ofauth-link-backend-<version>/:
#   functions/<binary>.zip   each function's arm64 bootstrap, zipped as `sam package` does
#   template.yaml            the repository's template
#   template.bundle.yaml     the same, each function's CodeUri its zip here (sam deploy, no build)
#   openapi.yaml, ofauth-link-client-<version>.tgz (npm pack of client/),
#   README.md, LICENSE, CHANGELOG.md (the template's ServerlessRepo metadata names the first two)
#   BUILDINFO                the commit, its time, the toolchains, each bootstrap's SHA-256
#   SHA256SUMS               every file above (sha256sum -c)
#
# The functions are the template's (every AWS::Serverless::Function's
# BuildProperties.Binary), built by the command `sam build` runs, `cargo lambda
# build --release --arm64`, in a target directory of the release's own
# (target/release-bundle: the flags below differ from sam build's, and would
# otherwise rebuild its artifacts). Reproducible: the same commit built in another
# folder gives the same bootstraps byte for byte, because
#   - the folders a build embeds (panic locations, C's __FILE__) are remapped:
#     this checkout, the cargo home and the rustup home;
#   - SOURCE_DATE_EPOCH is the commit's time (C's __DATE__/__TIME__, build scripts);
#   - Cargo.lock is used as it is (--locked);
#   - the zips have fixed dates and modes.
# The bootstraps are scanned for any absolute path of this build that is still in
# them (which another folder's build would not have), and their build ids shown.
#
#   scripts/release.sh --compare DIR_A DIR_B   two bundles: what differs, and why
set -euo pipefail
caller=$PWD
source "$(dirname "$0")/lib.sh"
cd "$root"

bash scripts/ensure-python-tools.sh
export PATH="$root/.tools/venv/bin:$PATH"
py="$root/.tools/venv/bin/python"
helper="$root/scripts/release_bundle.py"

if [ "${1:-}" = "--compare" ]; then
  [ $# -eq 3 ] || die "usage: scripts/release.sh --compare <bundle A> <bundle B>"
  # (The folders as given, from where the command was run.)
  a=$(cd "$caller" && realpath -e "$2") || die "no bundle at $2"
  b=$(cd "$caller" && realpath -e "$3") || die "no bundle at $3"
  exec "$py" "$helper" compare "$a" "$b"
fi

version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || die "no [workspace.package] version in Cargo.toml"
commit=$(git rev-parse HEAD)
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  [ "${RELEASE_ALLOW_DIRTY:-}" = 1 ] || die "the working tree has uncommitted changes: a release is built from a commit (RELEASE_ALLOW_DIRTY=1 to build anyway, not reproducibly)"
  step "warning: uncommitted changes; this bundle is not $commit's"
fi
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct HEAD)
export SOURCE_DATE_EPOCH
name="ofauth-link-backend-$version"
out="$root/dist/$name"
step "release $version ($commit, SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH) into dist/$name"

mapfile -t functions < <("$py" "$helper" functions template.yaml)
bins=()
for f in "${functions[@]}"; do bins+=("${f#* }"); done
step "the template's functions: ${bins[*]}"

if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  step "adding the aarch64-unknown-linux-gnu Rust target"
  rustup target add aarch64-unknown-linux-gnu
fi

# The folders a build can embed, each remapped to a fixed name (rustc applies
# the last matching --remap-path-prefix: the checkout, which may hold the venv
# and so Zig, comes last).
cargo_home=${CARGO_HOME:-$HOME/.cargo}
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
zig_dir=$("$py" -c 'import os, ziglang; print(os.path.dirname(ziglang.__file__))')
target_dir="$root/target/release-bundle"
folders=(rustup "$rustup_home" /rustup cargo "$cargo_home" /cargo zig "$zig_dir" /zig checkout "$root" /build)
if [ "$(pwd -P)" != "$root" ]; then folders+=(checkout "$(pwd -P)" /build); fi
rustflags="" cflags="" scan_args=()
for ((i = 0; i < ${#folders[@]}; i += 3)); do
  from=${folders[i + 1]} to=${folders[i + 2]}
  [ "$from" != / ] || die "${folders[i]} is / (it cannot be remapped)"
  rustflags+="\"--remap-path-prefix=$from=$to\", "
  cflags+=" -ffile-prefix-map=$from=$to"
  scan_args+=("${folders[i]}=$from")
done
# A --config array merges with cargo-lambda's own build.rustflags (its arm64
# target-cpu); RUSTFLAGS would replace them, and change the code.
export CFLAGS_aarch64_unknown_linux_gnu="${cflags# }"
step "cargo lambda build --release --arm64 --locked (${#bins[@]} functions; log: .local/release-build.log)"
bin_args=()
for b in "${bins[@]}"; do bin_args+=(--bin "$b"); done
env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS CARGO_TARGET_DIR="$target_dir" \
  cargo lambda build --release --arm64 --locked "${bin_args[@]}" \
  --config "build.rustflags=[${rustflags%, }]" >.local/release-build.log 2>&1 \
  || { tail -40 .local/release-build.log; die "the release build failed (log: .local/release-build.log)"; }

rm -rf "$out"
mkdir -p "$out/functions"
boots=()
for b in "${bins[@]}"; do
  boot="$target_dir/lambda/$b/bootstrap"
  [ -f "$boot" ] || die "cargo lambda left no $boot"
  boots+=("$boot")
  "$py" "$helper" zip "$boot" "$out/functions/$b.zip"
done
if [ -x target/debug/link-dev ]; then
  step "bootstrap checks (arm64, size budget, no development identity)"
  target/debug/link-dev check-bootstrap "${boots[@]}"
else
  step "bootstrap checks skipped: target/debug/link-dev is not built (make test builds it)"
fi

step "what another folder's build would differ in (absolute paths of this build; build ids)"
scan=$("$py" "$helper" scan "${scan_args[@]}" -- "${boots[@]}")
echo "$scan"

step "the template, the contract, the documents"
cp template.yaml openapi.yaml README.md LICENSE CHANGELOG.md "$out/"
mkdir -p "$out/edge" && cp edge/web-acl.yaml "$out/edge/"
"$py" "$helper" bundle-template template.yaml "$out/template.bundle.yaml"

step "the client package (npm pack of client/: its checks run first)"
bash scripts/ensure-client.sh
(cd client && npm pack --silent --pack-destination "$out" >/dev/null) \
  || die "npm pack of client/ failed"
[ -f "$out/ofauth-link-client-$version.tgz" ] || die "client/package.json's version is not $version"

{
  echo "version $version"
  echo "commit $commit"
  echo "source_date_epoch $SOURCE_DATE_EPOCH"
  echo "rustc $(rustc -V)"
  echo "cargo-lambda $(cargo lambda --version)"
  echo "zig $("$py" -m ziglang version)"
  echo "build cargo lambda build --release --arm64 --locked (build.rustflags: --remap-path-prefix per folder; CFLAGS: -ffile-prefix-map)"
  for i in "${!bins[@]}"; do
    echo "bootstrap ${bins[$i]} $(sha256sum "${boots[$i]}" | cut -d' ' -f1) $(stat -c %s "${boots[$i]}")"
  done
} >"$out/BUILDINFO"
"$py" "$helper" sums "$out"

grep -q 'SourceCodeUrl: https://github.com/your-org/' template.yaml \
  && echo "note: template.yaml's SourceCodeUrl is a placeholder (your-org): set it before a public sam publish"
step "dist/$name:"
(cd "$out" && cat SHA256SUMS)
echo "bootstraps:"
grep '^bootstrap ' "$out/BUILDINFO" | awk '{ printf "  %s  %s (%d bytes)\n", $3, $2, $4 }'
if ! grep -q '^path leaks: 0$' <<<"$scan"; then
  echo "warning: the bootstraps embed this build's folders (above): a build in another folder will differ there" >&2
fi
