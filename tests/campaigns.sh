#!/usr/bin/env bash
# The reliability campaigns at full size (issue 9), then one table of their figures.
# Run ./test.sh once first (it installs the servers and packages the campaigns use).
#
#   tests/campaigns.sh                      # full size: 54 kills, every object damaged 3 ways,
#                                           # hundreds of network faults, ten times the
#                                           # suite's hostile inputs, 60 restores killed in
#                                           # place, tens of thousands of lease schedules
#   CAIRN_CAMPAIGN_SEED=N tests/campaigns.sh  # replay a run from its printed seed
set -euo pipefail
cd "$(dirname "$0")/.."
. dist/tools.sh
cargo_tool s3s-fs s3s-fs@0.14.1 "the S3 test server; about 4 minutes, once" --features binary
report=$(mktemp)
trap 'rm -f "$report"' EXIT
# Hostile input: every core decoder, and the std side's parsers (S3 XML, REST JSON, WebDAV and
# FTP listings and replies, Azure answers, destination URLs, form fields), ten times the
# suite's inputs each.
CAIRN_CAMPAIGN=full CAIRN_CAMPAIGN_REPORT=$report CI=true \
    cargo test -p cairn-core --test decoders -- --nocapture >&2
CAIRN_CAMPAIGN=full CAIRN_CAMPAIGN_REPORT=$report CI=true cargo test -p cairn-std --lib >&2
# The lease model: schedules of backups and prunes, exhaustive and random (issue 24).
CAIRN_CAMPAIGN=full CAIRN_CAMPAIGN_REPORT=$report CI=true \
    cargo test -p cairn-core --test lease_model -- --nocapture >&2
CAIRN_CAMPAIGN=full CAIRN_CAMPAIGN_REPORT=$report CI=true \
    cargo test -p cairn-cli --test e2e -- campaign --test-threads=1 --nocapture >&2
awk '
function val(k,   i, kv) { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) return kv[2] } return "" }
{
    name = $2
    if (name ~ /^crash-/) {
        kills += val("kills"); recovered += val("recovered")
        printf "%-12s kills %3d, recovered %3d (backup %d, forget+prune %d, prune %d, passwd %d); checks passed %d; snapshots restored exactly %d; re-upload ratio %s; seed %s\n", \
            name, val("kills"), val("recovered"), val("backup_kills"), val("forget_prune_kills"), val("prune_kills"), val("passwd_kills"), val("checks_passed"), val("snapshots_restored"), val("reupload_ratio"), val("seed")
    } else if (name ~ /^network-/) {
        injected += val("faults_injected"); survived += val("faults_survived"); clean += val("clean_errors")
        printf "%-12s faults injected %d, survived %d (in %d operations, all verified); hopeless backups %d, clean errors %d; temporary files removed by prune %d; snapshots verified %d; seed %s\n", \
            name, val("faults_injected"), val("faults_survived"), val("operations"), val("hopeless_runs"), val("clean_errors"), val("temporaries_removed"), val("snapshots_verified"), val("seed")
    } else if (name ~ /^concurrency-/) {
        printf "%-12s %d concurrent backups into one repository with a forget --prune in the middle; snapshots restored exactly %d; seed %s\n", \
            name, val("concurrent_backups"), val("snapshots_restored"), val("seed")
    } else if (name ~ /^lease-model-/) {
        schedules += val("schedules")
        printf "%-12s %s schedules%s%s; every valid snapshot complete after every operation, never two conflicting leases%s\n", \
            "lease-model", val("schedules"), (val("preemptions") != "" ? " with " val("preemptions") " preemption(s) of " substr(name, 13) (val("exhausted") == "true" ? ", all of them" : ", the first in depth-first order") : " at random (pauses, kills, clocks off by years; " val("lagging") " with lagging listings)"), "", (val("seed") != "" ? "; seed " val("seed") : "")
    } else if (name == "restore-in-place") {
        kills += val("kills")
        compared += val("files_compared")
        printf "%-12s kills %3d of restores over older files; files compared %d: as before %d, as in the snapshot %d (any other state fails the campaign); seed %s\n", \
            name, val("kills"), val("files_compared"), val("as_before"), val("as_in_the_snapshot"), val("seed")
    } else if (name == "catalog") {
        kills += val("kills"); recovered += val("kills")
        printf "%-12s kills %3d of destination create/delete (%d create, %d delete); torn entries %d; created again after a kill %d; seed %s\n", \
            name, val("kills"), val("create_kills"), val("delete_kills"), val("torn_entries"), val("created_again"), val("seed")
    } else if (name == "secrets") {
        leaked += val("leaked")
        printf "%-12s %d distinctive secrets; %d outputs checked in the sweep (and every cairn output of the suite); %d files scanned; leaked %d\n", \
            name, val("secrets"), val("outputs_checked"), val("files_scanned"), val("leaked")
    } else if (name ~ /^hostile-/) {
        hostile += val("inputs")
        if (name == "hostile-core") core_seed = val("seed")
        next
    } else if (name == "damage") {
        damaged += val("damaged"); detected += val("detected"); undetectable += val("undetectable")
        printf "%-12s damaged %d, detected %d, undetectable %d (a deleted key not in use), detection rate %s%%; repaired %d of %d; files restored around the damage %d; seed %s\n", \
            name, val("damaged"), val("detected"), val("undetectable"), val("detection_rate_pct"), val("repaired"), val("repair_tried"), val("files_restored_after_damage"), val("seed")
    }
    verified += val("snapshots_restored") + val("snapshots_verified")
}
END {
    printf "%-12s %d generated inputs to every decoder and parser (core decoders seed %s): no panic, no allocation past its bound, no hang\n", "hostile", hostile, core_seed
    print ""
    printf "| figure | value |\n|---|---|\n"
    printf "| faults injected and survived | %d / %d (the rest: %d clean errors past the retry budget) |\n", injected, survived, clean
    printf "| kills and recoveries | %d / %d |\n", kills, recovered
    printf "| damaged objects and detections | %d / %d (+%d undetectable by design) |\n", damaged - undetectable, detected, undetectable
    printf "| hostile inputs tried | %d (no panic, no unbounded allocation, no hang) |\n", hostile
    printf "| secrets leaked | %d |\n", leaked
    printf "| snapshots restored and compared byte for byte after kills, faults and damage | %d |\n", verified
    printf "| files compared after restores killed in place | %d |\n", compared
    printf "| lease-model schedules run, invariants checked after every storage operation | %d |\n", schedules
}' "$report"
