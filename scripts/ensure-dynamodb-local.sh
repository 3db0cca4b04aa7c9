#!/usr/bin/env bash
# Installs AWS's DynamoDB Local jar into .tools/dynamodb-local (no Docker needed).
# It comes from the npm registry, inside the amplify-dynamodb-simulator package.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.tools/dynamodb-local"
if [ -f "$dest/DynamoDBLocal.jar" ]; then exit 0; fi
command -v java >/dev/null || { echo "error: java (17+) is needed for DynamoDB Local" >&2; exit 1; }
command -v npm >/dev/null || { echo "error: npm is needed to fetch DynamoDB Local" >&2; exit 1; }
echo "==> installing DynamoDB Local into .tools/dynamodb-local (one time)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent amplify-dynamodb-simulator >/dev/null)
tar -xzf "$tmp"/amplify-dynamodb-simulator-*.tgz -C "$tmp"
mkdir -p "$dest"
cp -r "$tmp/package/emulator/DynamoDBLocal.jar" "$tmp/package/emulator/DynamoDBLocal_lib" "$dest/"
echo "    DynamoDB Local ready"
