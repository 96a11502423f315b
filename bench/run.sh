#!/usr/bin/env bash
# bench/run.sh [WORKDIR]
#
# Cairn against restic (Debian's package) and rustic (if `rustic` is on PATH or $RUSTIC names it;
# `cargo install rustic-rs --locked`) on the same corpus, in the same run, on this machine:
# first backup, unchanged backup, backup after one day of changes, full restore (verified
# byte-identical with diff) and check --read-data. For each step: wall time, CPU time and peak
# RSS from /usr/bin/time -v, and repository sizes after the first backup and after the changes.
# Every figure is the median of ROUNDS (default 3) rounds; each round starts from the pristine
# corpus with empty repositories, and the tools take turns going first so that none always
# restores right after a large delete. When run as root, the page cache is dropped before every
# step so that every tool starts cold.
#
# Cairn's repository is a catalog destination with a generated password, as the desktop app and
# `cairn` without --repo use it; TYPED_PASSWORD=1 uses --repo with a typed password instead (its
# key derivation adds 64 MiB to every command's memory): see bench/cairn_repo.sh.
#
# Then the hot kernels: criterion benches (bench/kernels) against the machine's own tools on the
# same 128 MiB sample of the corpus: b2sum (BLAKE2b), gzip -1 (DEFLATE), openssl speed
# (ChaCha20-Poly1305), and cat of the whole corpus from a cold cache (read speed).
#
# Prints one table with the ratio Cairn/peer for every figure. The corpus is built once by
# make_dataset.sh into WORKDIR/corpus.pristine (about 1.6 GB); SKIP_KERNELS=1 skips the kernels.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(realpath -m "${1:-$HERE/work}")"
ROUNDS="${ROUNDS:-3}"
mkdir -p "$WORK"
command -v restic >/dev/null || { echo "restic is missing: apt-get install restic" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time is missing: apt-get install time" >&2; exit 1; }
RUSTIC="${RUSTIC:-$(command -v rustic || true)}"
[ -n "$RUSTIC" ] || echo "note: rustic not found (cargo install rustic-rs --locked); comparing with restic only"

echo "==> building cairn (release)"
(cd "$HERE/.." && cargo build --release --locked -q -p cairn-cli)
CAIRN="$(realpath "${CARGO_TARGET_DIR:-$HERE/../target}")/release/cairn"
. "$HERE/cairn_repo.sh"

PRISTINE="$WORK/corpus.pristine"
CORPUS="$WORK/corpus"
if [ ! -f "$PRISTINE.done" ]; then
    rm -rf "$PRISTINE"
    echo "==> building the corpus"
    "$HERE/make_dataset.sh" "$PRISTINE" | tail -1
    touch "$PRISTINE.done"
fi

export CAIRN_PASSWORD="benchmark password" RESTIC_PASSWORD="benchmark password" RUSTIC_PASSWORD="benchmark password"
# The tools get a home of their own; cargo (for the kernels) keeps the real one's toolchain and crates.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export HOME="$WORK/home" XDG_CACHE_HOME="$WORK/cache"
RESULTS="$WORK/results"
rm -f "$RESULTS"

cold() { if [ "$(id -u)" = 0 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }

# measure ROUND TOOL STEP command...: runs it under /usr/bin/time -v and records the figures.
measure() {
    local round="$1" tool="$2" step="$3"; shift 3
    cold
    /usr/bin/time -v -o "$WORK/time.txt" "$@" > "$WORK/out-$tool-$step.txt" 2>&1 || {
        echo "FAILED: $tool $step"; cat "$WORK/out-$tool-$step.txt"; exit 1; }
    python3 - "$round" "$tool" "$step" "$WORK/time.txt" >> "$RESULTS" <<'PY'
import sys, re
rnd, tool, step, path = sys.argv[1:5]
t = open(path).read()
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([0-9:.]+)", t).group(1)
secs = sum(float(p) * 60 ** i for i, p in enumerate(reversed(wall.split(":"))))
user = float(re.search(r"User time \(seconds\): ([0-9.]+)", t).group(1))
system = float(re.search(r"System time \(seconds\): ([0-9.]+)", t).group(1))
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1))
print(f"{rnd}\t{tool}\t{step}\twall\t{secs:.2f}\n{rnd}\t{tool}\t{step}\tcpu\t{user + system:.2f}\n"
      f"{rnd}\t{tool}\t{step}\trss\t{rss / 1024:.0f}")
PY
    printf '    %-7s %-9s %6ss\n' "$tool" "$step" "$(grep -P "^$round\t$tool\t$step\twall" "$RESULTS" | cut -f5)"
}
repo_size() { # ROUND TOOL STEP DIR
    printf '%s\t%s\t%s\tsize\t%s\n' "$1" "$2" "$3" "$(du -sb "$4" | cut -f1)" >> "$RESULTS"
}

run_step() { # ROUND STEP: every tool, in this round's order
    local round="$1" step="$2" tool
    for tool in $ORDER; do
        case "$tool:$step" in
            cairn:backup-*) measure "$round" cairn "$step" "$CAIRN" backup "${CAIRN_REPO[@]}" --no-progress "$CORPUS" ;;
            restic:backup-*) measure "$round" restic "$step" restic backup --repo "$WORK/repo-restic" -q "$CORPUS" ;;
            rustic:backup-*) measure "$round" rustic "$step" "$RUSTIC" -r "$WORK/repo-rustic" backup "$CORPUS" ;;
            # All restore the whole latest snapshot, which recreates the corpus path under the target.
            cairn:restore) measure "$round" cairn restore "$CAIRN" restore "${CAIRN_REPO[@]}" --no-progress latest --target "$WORK/restore-cairn" ;;
            restic:restore) measure "$round" restic restore restic restore --repo "$WORK/repo-restic" latest --target "$WORK/restore-restic" ;;
            rustic:restore) measure "$round" rustic restore "$RUSTIC" -r "$WORK/repo-rustic" restore latest "$WORK/restore-rustic" ;;
            cairn:check) measure "$round" cairn check "$CAIRN" check "${CAIRN_REPO[@]}" --read-data --no-progress ;;
            restic:check) measure "$round" restic check restic check --repo "$WORK/repo-restic" --read-data ;;
            rustic:check) measure "$round" rustic check "$RUSTIC" -r "$WORK/repo-rustic" check --read-data ;;
        esac
    done
}

TOOLS="cairn restic${RUSTIC:+ rustic}"
for round in $(seq 1 "$ROUNDS"); do
    # Rotate who goes first.
    ORDER="$(python3 -c "import sys; t=sys.argv[1].split(); r=int(sys.argv[2]); print(' '.join(t[r % len(t):] + t[:r % len(t)]))" "$TOOLS" "$((round - 1))")"
    echo "==> round $round of $ROUNDS (order: $ORDER)"
    rm -rf "$CORPUS" "$WORK"/repo-* "$WORK"/restore-* "$WORK/home" "$WORK/cache"
    mkdir -p "$HOME"
    cp -a "$PRISTINE" "$CORPUS"
    cairn_repo_create "$WORK/repo-cairn"
    restic init --repo "$WORK/repo-restic" >/dev/null
    [ -z "$RUSTIC" ] || "$RUSTIC" -r "$WORK/repo-rustic" init >/dev/null 2>&1
    run_step "$round" backup-1
    for tool in $TOOLS; do repo_size "$round" "$tool" backup-1 "$WORK/repo-$tool"; done
    run_step "$round" backup-2
    "$HERE/mutate_dataset.sh" "$CORPUS" | tail -1
    run_step "$round" backup-3
    for tool in $TOOLS; do repo_size "$round" "$tool" backup-3 "$WORK/repo-$tool"; done
    run_step "$round" restore
    for tool in $TOOLS; do
        diff -r --no-dereference -q "$CORPUS" "$WORK/restore-$tool$CORPUS" >/dev/null \
            || { echo "$tool restore differs from the corpus"; exit 1; }
    done
    echo "    every restore is identical to the corpus"
    rm -rf "$WORK"/restore-*
    run_step "$round" check
done
du -sb "$CORPUS" | cut -f1 > "$WORK/corpus-bytes"
find "$CORPUS" -type f | wc -l > "$WORK/corpus-files"

KERNELS="$WORK/kernels"
rm -f "$KERNELS"
if [ "${SKIP_KERNELS:-0}" != 1 ]; then
    echo "==> kernels"
    SAMPLE="$WORK/sample.bin"
    python3 - "$PRISTINE" "$SAMPLE" <<'PY'
import os, sys
root, out = sys.argv[1:3]
limit = 128 << 20
files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
with open(out, "wb") as o:
    left = limit
    for f in files:
        if left <= 0: break
        if os.path.islink(f) or not os.path.isfile(f): continue
        data = open(f, "rb").read(left)
        o.write(data); left -= len(data)
PY
    size=$(stat -c %s "$SAMPLE")
    mbps() { python3 -c "import sys; print(f'{int(sys.argv[1]) / float(sys.argv[2]) / 1e6:.0f}')" "$1" "$2"; }
    best() { # command... : best wall time of 3 runs (warm cache), in seconds
        local b=999999 t
        for _ in 1 2 3; do
            /usr/bin/time -f %e -o "$WORK/best.txt" "$@" >/dev/null 2>&1
            t=$(tail -1 "$WORK/best.txt")
            b=$(python3 -c "print(min($b, $t))")
        done
        echo "$b"
    }
    cat "$SAMPLE" >/dev/null
    echo "b2sum-256	$(mbps "$size" "$(best b2sum -l 256 "$SAMPLE")")" >> "$KERNELS"
    echo "gzip-1	$(mbps "$size" "$(best sh -c "gzip -1 -c '$SAMPLE' >/dev/null")")" >> "$KERNELS"
    echo "gzip-1-ratio	$(python3 -c "import sys; print(f'{$size / int(sys.argv[1]):.3f}')" "$(gzip -1 -c "$SAMPLE" | wc -c)")" >> "$KERNELS"
    ossl=$(openssl speed -evp chacha20-poly1305 -bytes 1048576 -seconds 2 2>/dev/null | tail -1 | awk '{print $NF}' | tr -d k)
    echo "openssl-chacha20-poly1305	$(python3 -c "print(f'{float($ossl) * 1000 / 1e6:.0f}')")" >> "$KERNELS"
    cold
    start=$(date +%s.%N)
    find "$PRISTINE" -type f -print0 | xargs -0 cat > /dev/null
    echo "cat-corpus-cold	$(mbps "$(du -sb "$PRISTINE" | cut -f1)" "$(python3 -c "import time; print(time.time() - $start)")")" >> "$KERNELS"
    KTARGET="$(realpath -m "${CARGO_TARGET_DIR:-$HERE/../target}")/kernels"
    # Results of an earlier run must not stand in for this one's.
    rm -rf "$KTARGET/criterion"
    if ! (cd "$HERE/kernels" && CARGO_TARGET_DIR="$KTARGET" CAIRN_BENCH_SAMPLE="$SAMPLE" \
        cargo bench --locked -q --bench kernels -- --noplot) > "$WORK/criterion.txt" 2>&1; then
        tail -30 "$WORK/criterion.txt" >&2
        echo "bench/run.sh: the kernel benches failed (full output in $WORK/criterion.txt)" >&2
        exit 1
    fi
    python3 - "$KTARGET/criterion" "$KERNELS" "$size" <<'PY'
import json, os, sys
root, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(out, "a") as o:
    for d, _, fs in sorted(os.walk(root)):
        if os.path.basename(d) == "new" and "estimates.json" in fs and "benchmark.json" in fs:
            b = json.load(open(os.path.join(d, "benchmark.json")))
            e = json.load(open(os.path.join(d, "estimates.json")))
            ns = e["mean"]["point_estimate"]
            t = b.get("throughput") or {}
            if "Bytes" in t:
                o.write(f"cairn:{b['full_id']}\t{t['Bytes'] / ns * 1e9 / 1e6:.0f}\n")
            elif "Elements" in t:
                o.write(f"cairn:{b['full_id']}\t{ns / t['Elements']:.0f} ns\n")
PY
    grep -E ": ratio [0-9]" "$WORK/criterion.txt" | sed 's/^/    /' || true
fi

python3 - "$RESULTS" "$KERNELS" "$WORK/corpus-bytes" "$WORK/corpus-files" "$TOOLS" <<'PY'
import os, statistics, sys
results, kernels, nbytes, nfiles, tools = sys.argv[1:6]
tools = tools.split()
peers = [t for t in tools if t != "cairn"]
vals = {}
for line in open(results):
    rnd, tool, step, metric, v = line.split("\t")
    vals.setdefault((tool, step, metric), []).append(float(v))
med = {k: statistics.median(v) for k, v in vals.items()}
rounds = max(len(v) for v in vals.values())
data = int(open(nbytes).read())
print(f"\ncorpus: {data / 1e9:.2f} GB, {int(open(nfiles).read())} files (after the day of changes); "
      f"medians of {rounds} rounds\n")
head = f"{'step':<10}{'metric':<10}" + "".join(f"{t:>10}" for t in tools) + "".join(f"{'cairn/' + p:>14}" for p in peers)
print(head)
print("-" * len(head))
units = {"wall": "s", "cpu": "s", "rss": "MiB", "size": "MiB"}
for step in ["backup-1", "backup-2", "backup-3", "restore", "check"]:
    metrics = ["wall", "cpu", "rss"] + (["size"] if step in ("backup-1", "backup-3") else [])
    for i, m in enumerate(metrics):
        row = [med.get((t, step, m)) for t in tools]
        if m == "size":
            row = [v / 2**20 if v is not None else None for v in row]
        name = {"wall": "wall s", "cpu": "cpu s", "rss": "RSS MiB", "size": "repo MiB"}[m]
        line = f"{step if i == 0 else '':<10}{name:<10}" + "".join(f"{v:>10.1f}" if v is not None else f"{'-':>10}" for v in row)
        c = row[0]
        for p, v in zip(peers, row[1:]):
            line += f"{c / v:>14.2f}" if v else f"{'-':>14}"
        print(line)
print("\nfirst backup throughput: " + ", ".join(f"{t} {data / med[(t, 'backup-1', 'wall')] / 1e6:.0f} MB/s" for t in tools))
if os.path.exists(kernels) and os.path.getsize(kernels):
    print("\nkernels, one core, MB/s (128 MiB sample of the corpus, 1 MiB pieces):")
    speed = {}
    for line in open(kernels):
        k, v = line.rstrip("\n").split("\t")
        print(f"  {k:<48}{v:>10}")
        speed[k] = v
    # Cairn's calls against the bare crates, same pieces, same run (target: within 10%).
    for what, ours, crate in [("hash", "blake2b-256-keyed", "blake2-crate"),
                              ("encrypt", "xchacha20poly1305", "chacha20poly1305-crate")]:
        a, b = speed.get(f"cairn:kernels/{what}/{ours}"), speed.get(f"cairn:kernels/{what}/{crate}")
        if a and b:
            print(f"  {what}: Cairn / bare crate = {float(a) / float(b):.2f}")
PY
