# Sourced by ./test.sh and dist/build-deb.sh (from the checkout's root): the cache of tools
# installed with cargo, and the build of the window.

tools="${CAIRN_TOOLS:-${HOME}/.cache/cairn/tools}"
export PATH="${tools}/bin:${PATH}"

# cargo_tool BINARY CRATE@VERSION WHAT [cargo install options...]: installs CRATE into the tool
# cache unless BINARY is on the PATH already.
cargo_tool() {
    local binary="$1" crate="$2" what="$3"
    shift 3
    command -v "${binary}" >/dev/null 2>&1 && return 0
    echo "==> installing ${crate} (${what})"
    CARGO_TARGET_DIR="${tools}/target-${binary}" cargo install "${crate}" --locked --root "${tools}" -q "$@"
    rm -rf "${tools}/target-${binary}"
}

# npm_tool BINARY PACKAGE@VERSION WHAT: installs an npm package into the tool cache and links
# its BINARY into the cache's bin/, unless BINARY is on the PATH already.
npm_tool() {
    local binary="$1" package="$2" what="$3"
    command -v "${binary}" >/dev/null 2>&1 && return 0
    echo "==> installing ${package} (${what})"
    mkdir -p "${tools}/npm" "${tools}/bin"
    npm install --prefix "${tools}/npm" --no-audit --no-fund --loglevel=error "${package}"
    ln -sf "${tools}/npm/node_modules/.bin/${binary}" "${tools}/bin/${binary}"
}

# The window's frontend: TypeScript compiled by tsc (the one npm package), into ui/dist, which
# the desktop app embeds when it is built.
build_ui() {
    echo "==> building the window (ui/)"
    (cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build)
}
