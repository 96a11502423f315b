#!/usr/bin/env bash
# The main job: back up a directory into Cairn's default repository (a local destination in your
# data directory, password generated on first use and sealed in the catalog), restore it into a temporary directory, compare,
# and verify the repository.
#
#   ./run.sh [DIR]      DIR defaults to this checkout (its target/ folder is excluded)
set -euo pipefail
cd "$(dirname "$0")"
SRC="$(realpath "${1:-$PWD}")"

echo "==> building cairn (release)"
cargo build --release --locked -q -p cairn-cli
CAIRN="$(realpath "${CARGO_TARGET_DIR:-target}")/release/cairn"

echo "==> backing up $SRC into the default repository"
"$CAIRN" backup --exclude "$PWD/target" --tag run.sh "$SRC"

echo "==> backing it up again (unchanged files are not read)"
"$CAIRN" backup --exclude "$PWD/target" --tag run.sh "$SRC"

OUT="$(mktemp -d -t cairn-restore.XXXXXX)"
echo "==> restoring the latest snapshot into $OUT"
"$CAIRN" restore "latest:$SRC" --target "$OUT"

echo "==> comparing"
diff -r --no-dereference --exclude=target "$SRC" "$OUT"
echo "the restored copy is identical to $SRC"

echo "==> snapshots and a full check"
"$CAIRN" snapshots
"$CAIRN" check --read-data
rm -rf "$OUT"
