# Sourced by the bench scripts: how Cairn's repository is made and named.
#
# cairn_repo_create DIR: makes Cairn's repository at DIR and sets the array CAIRN_REPO to the
# arguments that name it. By default it is a catalog destination ("bench"), as the desktop app
# and `cairn` without --repo use one: its password is generated (256 random bits) and sealed in
# the catalog, so its key is derived with the light Argon2id cost of generated passwords.
# TYPED_PASSWORD=1 uses --repo DIR with the password typed for the run (CAIRN_PASSWORD), whose
# key gets the full Argon2id cost (64 MiB, 3 passes): every command then starts at that floor.
cairn_repo_create() {
    local dir="$1"
    if [ "${TYPED_PASSWORD:-0}" = 1 ]; then
        CAIRN_REPO=(--repo "$dir")
        "$CAIRN" init --repo "$dir" >/dev/null
    else
        CAIRN_REPO=(--destination bench)
        "$CAIRN" destination delete bench >/dev/null 2>&1 || true
        env -u CAIRN_PASSWORD "$CAIRN" destination create --name bench --url "$dir" >/dev/null
    fi
}
