#!/usr/bin/env bash
# bench/run.sh [WORKDIR]
#
# Cairn against restic (Debian's package) on the same corpus, in the same run, on this machine:
# first backup, unchanged backup, backup after one day of changes, full restore (verified
# byte-identical with diff), and check --read-data. For each step: wall time, CPU time and peak
# RSS from /usr/bin/time -v; then repository sizes. Prints one table with the ratio Cairn/restic.
#
# The corpus is built once by make_dataset.sh in WORKDIR/corpus (about 1.5 GiB) and mutated by
# mutate_dataset.sh during the run, so each run rebuilds it from scratch (set KEEP_CORPUS=1 to
# reuse an unmutated copy in WORKDIR/corpus.pristine instead). When run as root, the page cache
# is dropped before every step so both tools start cold.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(realpath -m "${1:-$HERE/work}")"
mkdir -p "$WORK"
command -v restic >/dev/null || { echo "restic is missing: apt-get install restic" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 1; }

echo "==> building cairn (release)"
(cd "$HERE/.." && cargo build --release --locked -q -p cairn-cli)
CAIRN="$(realpath "${CARGO_TARGET_DIR:-$HERE/../target}")/release/cairn"

CORPUS="$WORK/corpus"
if [ "${KEEP_CORPUS:-0}" = 1 ] && [ -d "$WORK/corpus.pristine" ]; then
    rm -rf "$CORPUS" && cp -a "$WORK/corpus.pristine" "$CORPUS"
else
    rm -rf "$CORPUS" "$CORPUS.manifest"
    echo "==> building the corpus"
    "$HERE/make_dataset.sh" "$CORPUS" | tail -1
    [ "${KEEP_CORPUS:-0}" = 1 ] && cp -a "$CORPUS" "$WORK/corpus.pristine"
fi

export CAIRN_PASSWORD="benchmark password" RESTIC_PASSWORD="benchmark password"
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache"
rm -rf "$WORK/repo-cairn" "$WORK/repo-restic" "$WORK/home" "$WORK/cache" "$WORK"/restore-* "$WORK/results"
mkdir -p "$HOME"
RESULTS="$WORK/results"

cold() { if [ "$(id -u)" = 0 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }

# measure TOOL STEP command...: runs it under /usr/bin/time -v and records the figures.
measure() {
    local tool="$1" step="$2"; shift 2
    cold
    /usr/bin/time -v -o "$WORK/time.txt" "$@" > "$WORK/out-$tool-$step.txt" 2>&1 || {
        echo "FAILED: $tool $step"; cat "$WORK/out-$tool-$step.txt"; exit 1; }
    python3 - "$tool" "$step" "$WORK/time.txt" >> "$RESULTS" <<'PY'
import sys, re
tool, step, path = sys.argv[1:4]
t = open(path).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([0-9:.]+)", t).group(1)
parts = [float(p) for p in wall.split(":")]
secs = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
user = float(re.search(r"User time \(seconds\): ([0-9.]+)", t).group(1))
system = float(re.search(r"System time \(seconds\): ([0-9.]+)", t).group(1))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
print(f"{tool}\t{step}\t{secs:.2f}\t{user + system:.2f}\t{rss / 1024:.0f}")
PY
    echo "    $tool $step: $(tail -1 "$RESULTS" | cut -f3)s"
}

echo "==> init"
"$CAIRN" init --repo "$WORK/repo-cairn" >/dev/null
restic init --repo "$WORK/repo-restic" >/dev/null

echo "==> first backup"
measure cairn backup-1 "$CAIRN" backup --repo "$WORK/repo-cairn" --no-progress "$CORPUS"
measure restic backup-1 restic backup --repo "$WORK/repo-restic" -q "$CORPUS"
echo "==> unchanged backup"
measure cairn backup-2 "$CAIRN" backup --repo "$WORK/repo-cairn" --no-progress "$CORPUS"
measure restic backup-2 restic backup --repo "$WORK/repo-restic" -q "$CORPUS"
echo "==> one day of changes, backup"
du -sb "$CORPUS" | cut -f1 > "$WORK/size-before-changes"
"$HERE/mutate_dataset.sh" "$CORPUS" | tail -1
measure cairn backup-3 "$CAIRN" backup --repo "$WORK/repo-cairn" --no-progress "$CORPUS"
measure restic backup-3 restic backup --repo "$WORK/repo-restic" -q "$CORPUS"
echo "==> restore"
# Both restore the whole latest snapshot (restic 0.14 has no SNAPSHOT:PATH), which recreates the
# corpus path under the target.
measure cairn restore "$CAIRN" restore --repo "$WORK/repo-cairn" --no-progress latest --target "$WORK/restore-cairn"
measure restic restore restic restore --repo "$WORK/repo-restic" latest --target "$WORK/restore-restic"
echo "==> verifying both restores"
diff -r --no-dereference -q "$CORPUS" "$WORK/restore-cairn$CORPUS" && echo "    cairn restore identical"
diff -r --no-dereference -q "$CORPUS" "$WORK/restore-restic$CORPUS" && echo "    restic restore identical"
rm -rf "$WORK"/restore-*
echo "==> check --read-data"
measure cairn check "$CAIRN" check --repo "$WORK/repo-cairn" --read-data --no-progress
measure restic check restic check --repo "$WORK/repo-restic" --read-data

python3 - "$RESULTS" "$CORPUS" "$WORK/repo-cairn" "$WORK/repo-restic" "$WORK/size-before-changes" <<'PY'
import os, sys
results, corpus, rc, rr, before = sys.argv[1:6]
first = int(open(before).read())
rows = {}
for line in open(results):
    tool, step, wall, cpu, rss = line.split("\t")
    rows[(tool, step)] = (float(wall), float(cpu), float(rss))
def du(p):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs if not os.path.islink(os.path.join(d, f)))
data = du(corpus)
print(f"\ncorpus: {data / 1e9:.2f} GB, {sum(len(fs) for _, _, fs in os.walk(corpus))} files (after the day of changes)\n")
print(f"{'step':<12}{'metric':<10}{'cairn':>10}{'restic':>10}{'cairn/restic':>14}")
for step in ["backup-1", "backup-2", "backup-3", "restore", "check"]:
    c, r = rows[("cairn", step)], rows[("restic", step)]
    for i, (name, unit) in enumerate([("wall", "s"), ("cpu", "s"), ("peak RSS", "MiB")]):
        print(f"{step if i == 0 else '':<12}{name:<10}{c[i]:>9.1f}{unit[0]}{r[i]:>9.1f}{unit[0]}{c[i] / max(r[i], 1e-9):>14.2f}")
c1, r1 = rows[("cairn", "backup-1")][0], rows[("restic", "backup-1")][0]
print(f"\nfirst backup throughput: cairn {first / c1 / 1e6:.0f} MB/s, restic {first / r1 / 1e6:.0f} MB/s")
sc, sr = du(rc), du(rr)
print(f"repository size: cairn {sc / 2**20:.0f} MiB, restic {sr / 2**20:.0f} MiB, ratio {sc / sr:.2f} "
      f"(data / repository: cairn {data / sc:.2f}x, restic {data / sr:.2f}x)")
PY
