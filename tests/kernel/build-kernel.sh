#!/bin/bash
# Build a minimal x86-64 kernel for dmabufd's real-kernel tests from Debian's
# linux-source-VERSION package, and cache it outside the checkout.
#
#   tests/kernel/build-kernel.sh [--fetch-only] [--btf] VERSION [PATCH_DIR]
#
# VERSION is one of 5.10 (bullseye), 6.1 (bookworm), 6.12 (trixie), 7.2 (sid).
# --btf builds the "+btf" flavour: the options of kernel-bpf.config (BPF, its
# iterators and the kernel's BTF, made by pahole from DWARF) on top of kernel.config.
# It is slower (7.2: about 2.2 times) and has a tree and results of its own.
# PATCH_DIR, if given, holds *.patch files applied with `patch -p1` in sorted order.
# --fetch-only installs the source package and the build dependencies, then stops
# (no compiling); it prints nothing on stdout.
#
# The only thing printed on stdout is the path of the cached bzImage; all logs go to
# stderr, and make's full output to a log file in the cache (path and last 40 lines
# printed on failure).
#
# Cache: ${DMABUFD_KERNEL_CACHE:-$HOME/.cache/dmabufd/kernels}
#   bzImage-VERSION-KEY12, config-VERSION-KEY12   the results (VERSION-btf for --btf)
#   logs/build-VERSION-KEY12.log                  the build log
#   trees/VERSION-PKGVERSION/src                  the extracted, configured tree, kept
#                                                 (trees/VERSION-PKGVERSION-btf for --btf,
#                                                 so that the two flavours of a line can
#                                                 be built in turn without full rebuilds)
#                                                 so that a rebuild only recompiles what
#                                                 changed (about 5 s when nothing did)
#   trees/VERSION-PKGVERSION/dmabufd/{key,applied/} the key the tree is configured for,
#                                                 and copies of the patches applied to it
#   .lock                                         flock: one build at a time
# KEY is sha256 over VERSION, the installed package version (dpkg-query), the sha256
# of kernel.config, the sha256 and name of each patch (in order) and RECIPE below;
# with --btf also the sha256 of kernel-bpf.config (a plain build's key has no such
# line, so it is the same as before the flavour existed).
# A result with the key already in the cache is printed at once, without the lock.
# The tree is one per line and package version: for another key, the patches applied
# to it are reversed, the new series applied (each checked with --dry-run first, so a
# patch that does not apply leaves the tree pristine) and the tree configured again;
# make then recompiles only what changed (about 15 s for a one-file patch).
#
# Suites other than bookworm get their own sources file and an apt pin of 1 in
# /etc/apt/preferences.d, so that nothing else is ever upgraded from them.
# On a shared machine, run it under `nice -n 19`: a full build takes 4-6 min on 2 cores.
#
# Environment:
#   DMABUFD_KERNEL_CACHE         cache directory (see above)
#   DMABUFD_KERNEL_JOBS          make -j (default: nproc)
#   DMABUFD_KERNEL_LOCK_TIMEOUT  seconds to wait for another build's lock (default 3600)
#   DMABUFD_KERNEL_REBUILD=1     run make in the tree even when the result is cached
set -euo pipefail

# Bump when this script's recipe changes in a way that changes the kernel it makes.
RECIPE=1

PROG=${0##*/}
# Everything but the final path goes to stderr.
exec 3>&1 1>&2

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() {
	printf 'usage: %s [--fetch-only] [--btf] VERSION [PATCH_DIR]\n' "$PROG" >&2
	printf '  VERSION: 5.10 | 6.1 | 6.12 | 7.2\n' >&2
	exit 2
}

FETCH_ONLY=0
BTF=0
while [ $# -gt 0 ]; do
	case $1 in
	--fetch-only) FETCH_ONLY=1; shift ;;
	--btf) BTF=1; shift ;;
	-h|--help) usage ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || usage
VERSION=$1
PATCH_DIR=${2:-}

case $VERSION in
5.10) SUITE=bullseye ;;
6.1)  SUITE=bookworm ;;
6.12) SUITE=trixie ;;
7.2)  SUITE=sid ;;
*) die "unsupported VERSION '$VERSION' (5.10, 6.1, 6.12 or 7.2)" ;;
esac
PKG=linux-source-$VERSION

HERE=$(cd "$(dirname "$0")" && pwd)
CONFIG_LIST=$HERE/kernel.config
[ -r "$CONFIG_LIST" ] || die "missing $CONFIG_LIST"
# The flavour: its suffix on the names of results and trees, and its extra options.
FLAVOUR=
BPF_LIST=
if [ "$BTF" = 1 ]; then
	FLAVOUR=-btf
	BPF_LIST=$HERE/kernel-bpf.config
	[ -r "$BPF_LIST" ] || die "missing $BPF_LIST"
	command -v pahole >/dev/null || die "--btf needs pahole (Debian package dwarves; scripts/deps.sh kernel)"
fi
if [ -n "$PATCH_DIR" ]; then
	[ -d "$PATCH_DIR" ] || die "PATCH_DIR '$PATCH_DIR' is not a directory"
	PATCH_DIR=$(cd "$PATCH_DIR" && pwd)
fi

CACHE=${DMABUFD_KERNEL_CACHE:-${HOME:?HOME is not set}/.cache/dmabufd/kernels}
JOBS=${DMABUFD_KERNEL_JOBS:-$(nproc)}
LOCK_TIMEOUT=${DMABUFD_KERNEL_LOCK_TIMEOUT:-3600}

if [ "$(id -u)" = 0 ]; then
	SUDO=
elif command -v sudo >/dev/null 2>&1; then
	SUDO=sudo
else
	SUDO=missing
fi
as_root() {
	[ "$SUDO" != missing ] || die "need root (or sudo) to run: $*"
	$SUDO "$@"
}
# Bounded wait for a concurrent apt/dpkg.
APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)

# --- 1. packages ------------------------------------------------------------------

installed() {
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

APT_UPDATED=0
apt_update() {
	[ "$APT_UPDATED" = 1 ] && return 0
	log "apt-get update"
	as_root apt-get "${APT_OPTS[@]}" update >&2 || die "apt-get update failed"
	APT_UPDATED=1
}

# A Debian suite besides the machine's own, main only, with the machine's own mirror
# and keyring, pinned to 1 so that nothing but what we ask for comes from it. Not 100:
# a package installed from outside the archive (nodejs from its vendor, a backport)
# also has priority 100, and a newer version at an equal priority would upgrade it.
add_suite() {
	local suite=$1 src=/etc/apt/sources.list.d/debian.sources
	local list=/etc/apt/sources.list.d/dmabufd-$suite.sources
	local pref=/etc/apt/preferences.d/dmabufd-$suite
	local uris signed want tmp

	[ -r "$src" ] || die "cannot read $src (the machine's apt sources)"
	# The first deb822 stanza that is not the security archive.
	# (A Signed-By given inline, as a key block, is not carried over: apt then
	# falls back on the keyrings in /etc/apt/trusted.gpg.d.)
	IFS=$'\t' read -r uris signed < <(awk '
		BEGIN { RS = ""; FS = "\n" }
		{
			u = ""; s = ""
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^URIs:/) { u = $i; sub(/^URIs:[ \t]*/, "", u) }
				if ($i ~ /^Signed-By:/) { s = $i; sub(/^Signed-By:[ \t]*/, "", s) }
			}
			if (u != "" && u !~ /security/) { print u "\t" s; exit }
		}' "$src")
	[ -n "${uris:-}" ] || die "no URIs found in $src"
	# The pin first: an update with the suite not yet pinned would offer upgrades.
	want="# Added by dmabufd's tests/kernel/build-kernel.sh: take only what is asked for
# (linux-source-*) from $suite, never upgrade the system from it.
Package: *
Pin: release n=$suite
Pin-Priority: 1
"
	put_file "$pref" "$want" || true
	want="# Added by dmabufd's tests/kernel/build-kernel.sh for linux-source-* (pinned
# in $pref).
Types: deb
URIs: $uris
Suites: $suite
Components: main
${signed:+Signed-By: $signed
}"
	put_file "$list" "$want" && APT_UPDATED=0
	return 0
}

# put_file PATH CONTENT: write PATH (as root) unless it already holds CONTENT.
# Returns 0 if it wrote.
put_file() {
	local tmp r=1
	tmp=$(mktemp)
	printf '%s' "$2" >"$tmp"
	if ! cmp -s "$tmp" "$1"; then
		log "writing $1"
		as_root install -m 0644 "$tmp" "$1" || { rm -f "$tmp"; die "cannot write $1"; }
		r=0
	fi
	rm -f "$tmp"
	return $r
}

# The build tools come from the project's one list (scripts/deps.sh kernel); this
# script adds only the kernel source, which may need another suite.
ensure_packages() {
	local missing=() p
	"$HERE/../../scripts/deps.sh" kernel || die "scripts/deps.sh kernel failed"
	installed "$PKG" || missing+=("$PKG")
	# Add the suite when needed, and keep an added one's files (pin) up to date.
	if [ "$SUITE" != bookworm ] &&
		{ ! installed "$PKG" || [ -e "/etc/apt/sources.list.d/dmabufd-$SUITE.sources" ]; }; then
		add_suite "$SUITE"
	fi
	[ ${#missing[@]} -eq 0 ] && return 0
	# The lists may be there already (and fresh enough); update only if a package
	# has no candidate.
	for p in "${missing[@]}"; do
		if ! apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [^(]'; then
			apt_update
			break
		fi
	done
	log "installing: ${missing[*]}"
	if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y \
		--no-install-recommends "${missing[@]}" >&2; then
		# A stale list gives 404s: refresh once and try again.
		APT_UPDATED=0
		apt_update
		as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y \
			--no-install-recommends "${missing[@]}" >&2 ||
			die "apt-get install ${missing[*]} failed"
	fi
	for p in "${missing[@]}"; do
		installed "$p" || die "$p is still not installed"
	done
}

# --- 2. the cache key ---------------------------------------------------------------
sha() { sha256sum "$@" | cut -d' ' -f1; }
PATCHES=()
if [ -n "$PATCH_DIR" ]; then
	while IFS= read -r -d '' p; do
		PATCHES+=("$p")
	done < <(find "$PATCH_DIR" -maxdepth 1 -type f -name '*.patch' -print0 | LC_ALL=C sort -z)
	[ ${#PATCHES[@]} -gt 0 ] || log "warning: no *.patch in $PATCH_DIR"
fi
# One line per patch: its sha256 and its name (order and names are part of the key).
PATCH_LIST=
for p in ${PATCHES[@]+"${PATCHES[@]}"}; do
	PATCH_LIST+="$(sha "$p") ${p##*/}"$'\n'
done

# Sets PKG_VERSION, KEY and the paths that derive from them.
compute_key() {
	PKG_VERSION=$(dpkg-query -W -f='${Version}' "$PKG")
	# The plain flavour's key text is exactly what it was before --btf existed.
	KEY=$({
		printf 'recipe %s\nversion %s\npackage %s %s\nconfig %s\n' \
			"$RECIPE" "$VERSION" "$PKG" "$PKG_VERSION" "$(sha "$CONFIG_LIST")"
		[ -z "$BPF_LIST" ] || printf 'bpf-config %s\n' "$(sha "$BPF_LIST")"
		printf 'patches %s\n%s' \
			"$(printf '%s' "$PATCH_LIST" | sha256sum | cut -d' ' -f1)" "$PATCH_LIST"
	} | sha256sum | cut -d' ' -f1)
	KEY12=${KEY:0:12}
	OUT_BZ=$CACHE/bzImage-$VERSION$FLAVOUR-$KEY12
	OUT_CFG=$CACHE/config-$VERSION$FLAVOUR-$KEY12
	LOG=$CACHE/logs/build-$VERSION$FLAVOUR-$KEY12.log
	TREE=$CACHE/trees/$VERSION-$(printf '%s' "$PKG_VERSION" | tr -c 'A-Za-z0-9.+~-' _)$FLAVOUR
	SRC=$TREE/src
	STATE=$TREE/dmabufd
}

# A cached result, printed without waiting for the lock: results are written
# whole (rename) and never changed.
cached() {
	[ -s "$OUT_BZ" ] && [ -s "$OUT_CFG" ] && [ "${DMABUFD_KERNEL_REBUILD:-0}" != 1 ] || return 1
	log "cached: $OUT_BZ"
	printf '%s\n' "$OUT_BZ" >&3
}
if [ "$FETCH_ONLY" = 0 ] && installed "$PKG"; then
	compute_key
	cached && exit 0
fi

# --- lock: one run at a time per cache (apt, the trees and the results) ---------
mkdir -p "$CACHE/logs" "$CACHE/trees"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
	log "waiting for another build (lock $CACHE/.lock, at most ${LOCK_TIMEOUT}s)"
	flock -w "$LOCK_TIMEOUT" 9 || die "timed out waiting for $CACHE/.lock"
fi

ensure_packages
compute_key
TARBALL=
for t in /usr/src/"$PKG".tar.xz /usr/src/"$PKG".tar.bz2 /usr/src/"$PKG".tar.gz; do
	[ -r "$t" ] && { TARBALL=$t; break; }
done
[ -n "$TARBALL" ] || die "$PKG $PKG_VERSION is installed but /usr/src/$PKG.tar.* is missing"
log "$PKG $PKG_VERSION: $TARBALL"

[ "$FETCH_ONLY" = 1 ] && exit 0

cached && exit 0

log "building $VERSION$FLAVOUR ($PKG $PKG_VERSION, key $KEY12${PATCHES[0]+, ${#PATCHES[@]} patch(es) from $PATCH_DIR}); log: $LOG"
printf '=== %s: build of %s, key %s\n' "$(date -u '+%F %T UTC')" "$VERSION" "$KEY" >>"$LOG"
START=$(date +%s)

fail() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	printf '%s: build log: %s (last 40 lines follow)\n' "$PROG" "$LOG" >&2
	tail -n 40 "$LOG" >&2 || true
	exit 1
}
# Run a command with its output in the log only.
run() {
	printf '+ %s\n' "$*" >>"$LOG"
	"$@" >>"$LOG" 2>&1
}

# --- 3. the tree: extracted once per package version, re-targeted per key ---------
extract() {
	log "extracting $TARBALL"
	rm -rf "$TREE" "$TREE.new"
	mkdir -p "$TREE.new"
	run tar -xf "$TARBALL" -C "$TREE.new" || { rm -rf "$TREE.new"; fail "extracting $TARBALL failed"; }
	local top
	top=$(find "$TREE.new" -mindepth 1 -maxdepth 1 -type d)
	[ "$(printf '%s\n' "$top" | wc -l)" = 1 ] && [ -f "$top/Makefile" ] ||
		{ rm -rf "$TREE.new"; fail "unexpected layout in $TARBALL"; }
	mv "$top" "$TREE.new/src.tmp" && mv "$TREE.new/src.tmp" "$TREE.new/src"
	mkdir -p "$TREE.new/dmabufd/applied"
	mv "$TREE.new" "$TREE"
}

# Patches applied to the tree are kept (copies) in $STATE/applied, so that another
# patch series can take their place by reversing them; the files they touch get new
# mtimes and make recompiles only those.
# -f: no questions, and no guessing that a patch is reversed (--batch would apply such
# a one the other way round); a hunk that does not apply is a failure.
PATCH_OPTS=(-p1 -f --no-backup-if-mismatch -d "$SRC")
unapply_patches() {
	local p
	[ -d "$STATE/applied" ] || return 1
	while IFS= read -r -d '' p; do
		log "reverting $(basename "$p" | cut -c6-)"
		run patch "${PATCH_OPTS[@]}" -R --dry-run -i "$p" || return 1
		run patch "${PATCH_OPTS[@]}" -R -i "$p" || return 1
		rm -f "$p"
	done < <(find "$STATE/applied" -maxdepth 1 -type f -name '*.patch' -print0 | LC_ALL=C sort -rz)
}

apply_patches() {
	local i=0 p
	for p in ${PATCHES[@]+"${PATCHES[@]}"}; do
		i=$((i + 1))
		log "applying ${p##*/}"
		# A dry run first, so that a patch that does not apply leaves nothing behind;
		# then the ones applied so far are reversed: the tree stays pristine.
		if ! run patch "${PATCH_OPTS[@]}" --forward --dry-run -i "$p"; then
			unapply_patches || rm -rf "$TREE"
			fail "patch ${p##*/} does not apply to $PKG $PKG_VERSION"
		fi
		if ! run patch "${PATCH_OPTS[@]}" --forward -i "$p"; then
			rm -rf "$TREE"
			fail "patch ${p##*/} failed to apply to $PKG $PKG_VERSION"
		fi
		cp "$p" "$STATE/applied/$(printf '%04d' "$i")-${p##*/}"
	done
}

[ -f "$SRC/Makefile" ] && [ -d "$STATE/applied" ] || extract
if [ "$(cat "$STATE/key" 2>/dev/null)" != "$KEY" ]; then
	rm -f "$STATE/key"
	if [ -n "$(ls -A "$STATE/applied")" ] && ! unapply_patches; then
		log "reverting the previous patches failed; extracting afresh"
		extract
	fi
	apply_patches
	CONFIGURE=1
else
	CONFIGURE=0
fi
[ -f "$SRC/.config" ] || CONFIGURE=1

# --- 4. configure -------------------------------------------------------------------
# Parse a config list (kernel.config, kernel-bpf.config) into "NAME MODE" lines
# (MODE: y, off, optional).
parse_config_list() {
	sed -e 's/#.*//' "$1" | awk -v f="$1" '
		NF == 0 { next }
		{
			name = $1; sub(/^CONFIG_/, "", name)
			mode = (NF >= 2) ? $2 : "y"
			if (NF > 2 || name !~ /^[A-Za-z0-9_]+$/ || (mode != "y" && mode != "off" && mode != "optional")) {
				printf "%s: bad line: %s\n", f, $0 > "/dev/stderr"; exit 1
			}
			print name, mode
		}'
}
OPTIONS=$(parse_config_list "$CONFIG_LIST") || die "cannot parse $CONFIG_LIST"
if [ -n "$BPF_LIST" ]; then
	bpf_options=$(parse_config_list "$BPF_LIST") || die "cannot parse $BPF_LIST"
	OPTIONS+=$'\n'$bpf_options
fi

# Is NAME a symbol of this tree's Kconfig?
declare -A DEFINED=()
load_kconfig_symbols() {
	local s
	while read -r s; do
		DEFINED[$s]=1
	done < <(find "$SRC" -name 'Kconfig*' -type f -not -path '*/Documentation/*' -exec \
		sed -n -E 's/^[[:space:]]*(menu)?config[[:space:]]+([A-Za-z0-9_]+)[[:space:]]*$/\2/p' {} + | sort -u)
}

MAKE=(make -C "$SRC" ARCH=x86_64 -j"$JOBS")
if [ "$CONFIGURE" = 1 ]; then
	log "configuring (tinyconfig + $(printf '%s\n' "$OPTIONS" | wc -l) options from kernel.config${BPF_LIST:+ and kernel-bpf.config})"
	run "${MAKE[@]}" tinyconfig || fail "make tinyconfig failed"
	args=()
	while read -r name mode; do
		case $mode in
		off) args+=(--disable "$name") ;;
		*) args+=(--enable "$name") ;;
		esac
	done <<<"$OPTIONS"
	run "$SRC/scripts/config" --file "$SRC/.config" "${args[@]}" || fail "scripts/config failed"
	run "${MAKE[@]}" olddefconfig || fail "make olddefconfig failed"
fi

# Verify every time, so that a tree configured by hand cannot slip through.
load_kconfig_symbols
errors=0
absent=()
dropped=()
while read -r name mode; do
	line=$(grep -E "^(CONFIG_$name=|# CONFIG_$name is not set)" "$SRC/.config" || true)
	if [ -z "${DEFINED[$name]:-}" ]; then
		if [ "$mode" = optional ]; then
			absent+=("$name")
		else
			log "error: CONFIG_$name is not defined by $PKG $PKG_VERSION's Kconfig"
			errors=$((errors + 1))
		fi
		continue
	fi
	case $mode in
	off)
		if [ "$line" = "CONFIG_$name=y" ] || [ "$line" = "CONFIG_$name=m" ]; then
			log "error: CONFIG_$name must be off but .config has: $line"
			errors=$((errors + 1))
		fi ;;
	*)
		if [ "$line" != "CONFIG_$name=y" ] && [ "$mode" = optional ]; then
			dropped+=("$name")
		elif [ "$line" != "CONFIG_$name=y" ]; then
			log "error: CONFIG_$name is not =y after olddefconfig (${line:-not in .config}): a dependency is missing"
			errors=$((errors + 1))
		fi ;;
	esac
done <<<"$OPTIONS"
for a in ${absent[@]+"${absent[@]}"}; do
	log "note: CONFIG_$a does not exist in $VERSION ($PKG $PKG_VERSION): absent, as allowed"
done
for a in ${dropped[@]+"${dropped[@]}"}; do
	log "note: CONFIG_$a exists in $VERSION but olddefconfig left it off (a dependency tinyconfig lacks): absent, as allowed"
	absent+=("$a")
done
if [ "$errors" -gt 0 ]; then
	rm -f "$SRC/.config"   # configure again next time
	fail "$errors option(s) of kernel.config${BPF_LIST:+ or kernel-bpf.config} did not end up as asked in $SRC/.config"
fi
n_off=$(printf '%s\n' "$OPTIONS" | grep -c ' off$' || true)
n_y=$(( $(printf '%s\n' "$OPTIONS" | wc -l) - n_off - ${#absent[@]} ))
log "kernel.config${BPF_LIST:+ and kernel-bpf.config} verified: $n_y option(s) =y, $n_off off${absent[0]+, ${#absent[@]} absent}"
printf '%s\n' "$KEY" >"$STATE/key"

# --- 5. build -------------------------------------------------------------------------
log "make -j$JOBS bzImage (${VERSION}$FLAVOUR; a full build takes a few minutes${BPF_LIST:+, about twice that with BTF})"
run "${MAKE[@]}" bzImage || fail "make bzImage failed"
BZ=$SRC/arch/x86/boot/bzImage
[ -s "$BZ" ] || fail "no $BZ after make bzImage"
# pahole can fail quietly on an unsupported DWARF form and leave vmlinux without
# BTF, which the kernel then does not expose: check the section is there.
if [ -n "$BPF_LIST" ]; then
	btf_size=$(objdump -h "$SRC/vmlinux" 2>/dev/null | awk '$2 == ".BTF" { print $3 }')
	btf_size=$((16#${btf_size:-0}))
	[ "$btf_size" -gt 0 ] || fail "vmlinux has no .BTF section (pahole $(pahole --version 2>/dev/null))"
	log "vmlinux .BTF: $btf_size bytes (pahole $(pahole --version 2>/dev/null))"
fi

cp "$BZ" "$OUT_BZ.tmp.$$" && mv -f "$OUT_BZ.tmp.$$" "$OUT_BZ"
cp "$SRC/.config" "$OUT_CFG.tmp.$$" && mv -f "$OUT_CFG.tmp.$$" "$OUT_CFG"
# Trees of other package versions of this line and flavour are of no further use;
# the other flavour's tree is kept (a plain tree's name does not end in -btf).
for t in "$CACHE/trees/$VERSION"-*; do
	[ -d "$t" ] && [ "$t" != "$TREE" ] || continue
	case $t in *-btf) [ -n "$FLAVOUR" ] || continue ;; *) [ -z "$FLAVOUR" ] || continue ;; esac
	log "removing the old tree $t"
	rm -rf "$t"
done
log "built $VERSION$FLAVOUR in $(( $(date +%s) - START ))s: $OUT_BZ"
printf '%s\n' "$OUT_BZ" >&3
