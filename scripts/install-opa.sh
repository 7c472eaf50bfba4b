#!/usr/bin/env bash
# Install a working OPA CLI/server at .cache/opa/bin/opa: the official binary, else a Debian build.
#
# Idempotent: does nothing when .cache/opa/bin/opa already runs `opa version`.
# With TRE_OPA_BINARY set, only checks that binary and installs nothing.
#
#   1. Download the official static release binary (sha256-verified; fails fast offline).
#   2. Else build OPA from Debian sid's Go source packages (a private apt config, GOPATH mode,
#      no module proxy), for machines whose only network is the Debian mirror.
#
# Environment:
#   TRE_OPA_BINARY        use this opa instead (checked only)
#   TRE_OPA_DOWNLOAD_URL  where to fetch the static binary (default: the GitHub release)
#   TRE_DEBIAN_MIRROR     Debian mirror for the source build (default: the one apt already uses)
#   TRE_OPA_KEEP_BUILD=1  keep .cache/opa/build after a source build (for debugging)
set -euo pipefail

OPA_VERSION="1.4.2"
OPA_SHA256="2c0ccdbbe0b8e2a5d12d9c42d92f1f34f494ffb32d1f3c4ddc36101be637d66f"
OPA_URL="${TRE_OPA_DOWNLOAD_URL:-https://github.com/open-policy-agent/opa/releases/download/v${OPA_VERSION}/opa_linux_amd64_static}"
OPA_DEB_VERSION_PREFIX="1.4.2+"      # golang-github-open-policy-agent-opa-dev must be this release
GO_PACKAGES=(golang-1.26-go golang-1.26-src)
GO_ROOT_REL="usr/lib/go-1.26"
BOOKWORM_PINS=(golang-github-olekukonko-tablewriter-dev=0.0.5-2)   # sid's 1.x breaks the build

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGE_LIST="${REPO}/scripts/opa-build-debian-packages.txt"
DEST="${REPO}/.cache/opa"
BIN="${DEST}/bin/opa"
BUILD="${DEST}/build"

log() { printf 'install-opa: %s\n' "$*" >&2; }
die() { printf 'install-opa: ERROR: %s\n' "$*" >&2; exit 1; }

works() {  # works BINARY: true when BINARY runs `opa version`
    [[ -x "$1" ]] && "$1" version >/dev/null 2>&1
}

report() {  # report BINARY: say which OPA is in place, warn when it is not the pinned version
    local version
    version="$("$1" version 2>/dev/null | sed -n 's/^Version: //p')"
    log "OPA ${version:-?} ready at $1"
    if [[ "${version}" != "${OPA_VERSION}" ]]; then
        log "warning: tre is tested with OPA ${OPA_VERSION}, this is ${version:-unknown}"
    fi
}

if [[ -n "${TRE_OPA_BINARY:-}" ]]; then
    works "${TRE_OPA_BINARY}" || die "TRE_OPA_BINARY=${TRE_OPA_BINARY} does not run 'opa version':" \
        "point it at a working opa, or unset it to install one at ${BIN}"
    report "${TRE_OPA_BINARY}"
    exit 0
fi

if works "${BIN}"; then
    report "${BIN}"
    exit 0
fi

mkdir -p "${DEST}/bin"
exec 9>"${DEST}/.lock"
flock 9 || die "cannot lock ${DEST}/.lock"
if works "${BIN}"; then  # another run finished while we waited for the lock
    report "${BIN}"
    exit 0
fi

download_release() {
    command -v curl >/dev/null || { log "curl not found: skipping the release download"; return 1; }
    local tmp="${DEST}/bin/.opa.download"
    log "downloading ${OPA_URL}"
    if ! curl -fsSL --connect-timeout 5 --max-time 300 --speed-limit 10240 --speed-time 10 \
            -o "${tmp}" "${OPA_URL}"; then
        rm -f "${tmp}"
        log "download failed (offline or blocked): building from Debian sources instead"
        return 1
    fi
    if ! echo "${OPA_SHA256}  ${tmp}" | sha256sum --check --status; then
        rm -f "${tmp}"
        die "${OPA_URL} does not match sha256 ${OPA_SHA256}: refusing it (check the mirror/proxy)"
    fi
    chmod 0755 "${tmp}"
    works "${tmp}" || { rm -f "${tmp}"; die "the downloaded opa does not run on this machine"; }
    mv -f "${tmp}" "${BIN}"
    printf 'method: release download\nurl: %s\nsha256: %s\n' "${OPA_URL}" "${OPA_SHA256}" \
        >"${DEST}/BUILD-INFO"
}

debian_mirror() {  # the Debian mirror apt already uses (the URI that serves a plain codename)
    if [[ -n "${TRE_DEBIAN_MIRROR:-}" ]]; then
        echo "${TRE_DEBIAN_MIRROR%/}"
        return
    fi
    local f uri=""
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "${f}" ]] || continue
        # one-line style: deb [options] URI SUITE COMPONENTS...
        uri="$(sed -E -n 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+[a-z]+[[:space:]].*/\2/p' \
            "${f}" | grep -v -- '-security' | head -n1 || true)"
        [[ -n "${uri}" ]] && break
    done
    if [[ -z "${uri}" ]]; then
        for f in /etc/apt/sources.list.d/*.sources; do
            [[ -r "${f}" ]] || continue
            # deb822 style: the URIs of a stanza whose Suites include a plain codename
            uri="$(awk '
                /^[[:space:]]*$/ { if (u != "" && s) { print u; exit } u = ""; s = 0; next }
                /^URIs:/ { u = $2 }
                /^Suites:/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+$/) s = 1 }
                END { if (u != "" && s) print u }' "${f}" | grep -v -- '-security' | head -n1 || true)"
            [[ -n "${uri}" ]] && break
        done
    fi
    [[ -n "${uri}" ]] || die "no Debian mirror found in /etc/apt/sources.list*: set TRE_DEBIAN_MIRROR"
    echo "${uri%/}"
}

build_from_debian() {
    local tool
    for tool in apt-get apt-cache dpkg-deb; do
        command -v "${tool}" >/dev/null || die "${tool} not found: the source build needs Debian's" \
            "apt; or put an opa binary at ${BIN} (or set TRE_OPA_BINARY)"
    done
    [[ -r "${PACKAGE_LIST}" ]] || die "missing ${PACKAGE_LIST}"
    local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -r "${keyring}" ]] || die "missing ${keyring}: apt-get install debian-archive-keyring"

    local mirror apt_dir debs root
    mirror="$(debian_mirror)"
    apt_dir="${BUILD}/apt"
    debs="${BUILD}/debs"
    root="${BUILD}/root"
    rm -rf "${BUILD}"
    mkdir -p "${apt_dir}/lists/partial" "${apt_dir}/cache/archives/partial" \
        "${apt_dir}/etc/sources.list.d" "${apt_dir}/etc/preferences.d" "${debs}" "${root}"
    cat >"${apt_dir}/etc/sources.list" <<EOF
deb [signed-by=${keyring}] ${mirror} sid main
deb [signed-by=${keyring}] ${mirror} bookworm main
EOF
    # Own lists, cache and sources: the host's apt state is neither read nor changed.
    cat >"${apt_dir}/apt.conf" <<EOF
Dir::State "${apt_dir}";
Dir::State::lists "${apt_dir}/lists";
Dir::State::status "/dev/null";
Dir::Cache "${apt_dir}/cache";
Dir::Etc::sourcelist "${apt_dir}/etc/sources.list";
Dir::Etc::sourceparts "${apt_dir}/etc/sources.list.d";
Dir::Etc::preferencesparts "${apt_dir}/etc/preferences.d";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
Acquire::Retries "3";
APT::Sandbox::User "root";
EOF
    export APT_CONFIG="${apt_dir}/apt.conf"

    log "reading the package lists of ${mirror} (sid + bookworm)"
    apt-get -q update >"${BUILD}/apt-update.log" 2>&1 || {
        cat "${BUILD}/apt-update.log" >&2
        die "apt-get update against ${mirror} failed: check the network or set TRE_DEBIAN_MIRROR"
    }

    local opa_deb
    opa_deb="$(apt-cache madison golang-github-open-policy-agent-opa-dev \
        | awk -F'|' '{gsub(/ /, "", $2); print $2}' | grep -F "${OPA_DEB_VERSION_PREFIX}" \
        | head -n1 || true)"
    [[ -n "${opa_deb}" ]] || die "Debian sid no longer has golang-github-open-policy-agent-opa-dev" \
        "${OPA_DEB_VERSION_PREFIX}*: download the static binary on a connected machine and put it" \
        "at ${BIN} (or set TRE_OPA_BINARY), or update OPA_VERSION in scripts/install-opa.sh"

    local -a wanted=()
    local line
    while IFS= read -r line; do
        line="${line%%#*}"
        line="${line//[[:space:]]/}"
        [[ -z "${line}" ]] && continue
        if [[ "${line}" == golang-github-open-policy-agent-opa-dev ]]; then
            line="${line}=${opa_deb}"
        fi
        wanted+=("${line}")
    done <"${PACKAGE_LIST}"
    wanted+=("${GO_PACKAGES[@]}" "${BOOKWORM_PINS[@]}")

    log "downloading ${#wanted[@]} Debian packages"
    if ! (cd "${debs}" && apt-get -q download "${wanted[@]}" >"${BUILD}/apt-download.log" 2>&1); then
        cat "${BUILD}/apt-download.log" >&2
        die "apt-get download failed (sid moves: a package may have been renamed or removed);" \
            "fix scripts/opa-build-debian-packages.txt, or put an opa binary at ${BIN}"
    fi

    local deb
    for deb in "${debs}"/*.deb; do
        dpkg-deb -x "${deb}" "${root}"
    done

    local goroot="${root}/${GO_ROOT_REL}"
    local src="${root}/usr/share/gocode/src/github.com/open-policy-agent/opa"
    [[ -x "${goroot}/bin/go" ]] || die "no Go toolchain at ${goroot} after unpacking ${GO_PACKAGES[*]}"
    [[ -f "${src}/main.go" ]] || die "no OPA sources at ${src} after unpacking"

    log "building OPA ${OPA_VERSION} from Debian sources (GOPATH mode, offline; 2-4 minutes on 2 cores)"
    local tmp="${DEST}/bin/.opa.build"
    (
        cd "${src}"
        env -u GOFLAGS \
            PATH="${goroot}/bin:${PATH}" \
            GOROOT="${goroot}" \
            GOPATH="${BUILD}/gopath:${root}/usr/share/gocode" \
            GOCACHE="${BUILD}/gocache" \
            GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 \
            "${goroot}/bin/go" build -trimpath -ldflags '-s -w' -o "${tmp}" . \
            >"${BUILD}/go-build.log" 2>&1
    ) || {
        tail -n 40 "${BUILD}/go-build.log" >&2
        die "go build of OPA failed (full log: ${BUILD}/go-build.log); sid may have moved a" \
            "dependency: pin it in scripts/opa-build-debian-packages.txt, or put an opa binary at ${BIN}"
    }
    works "${tmp}" || die "the OPA built from Debian sources does not run"
    mv -f "${tmp}" "${BIN}"

    {
        printf 'method: built from Debian sources (GOPATH mode)\nmirror: %s\n' "${mirror}"
        printf 'packages:\n'
        for deb in "${debs}"/*.deb; do
            dpkg-deb -f "${deb}" Package Version | paste -sd' ' | sed 's/^Package: /  /; s/ Version: /=/'
        done
    } >"${DEST}/BUILD-INFO"
    if [[ "${TRE_OPA_KEEP_BUILD:-0}" != 1 ]]; then
        chmod -R u+w "${BUILD}" 2>/dev/null || true
        rm -rf "${BUILD}"
    fi
}

download_release || build_from_debian

# A real smoke test: the binary must evaluate Rego v1, not just print its version.
smoke="$(echo '{"x": 2}' | "${BIN}" eval --stdin-input --format raw 'input.x + 1' 2>&1)" || true
[[ "${smoke}" == 3 ]] || { rm -f "${BIN}"; die "the installed opa failed a smoke test: ${smoke}"; }
report "${BIN}"
