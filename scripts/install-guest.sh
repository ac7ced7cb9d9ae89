#!/usr/bin/env bash
# Installs what block replay needs to boot a real kernel of one architecture under QEMU, without
# installing that kernel on the host: qemu-system for the architecture, and a Debian kernel
# package for it, downloaded with `apt-get download`, extracted with `dpkg -x` and cached in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/portability-matrix/guest/<arch>/
# with a file `kernel.env` naming the package, its version, and the sha256 of the .deb and of
# vmlinuz: the evidence records them. Beside it, busybox-static of the same architecture
# (`busybox`), likewise downloaded and extracted, never installed: the guest's loop devices are
# set up with its losetup.
#
# amd64 and arm64 take Debian 12's cloud kernel (the smallest that builds virtio and xfs as
# modules and ext4 in; arm64 through `dpkg --add-architecture`). s390x and riscv64 take Debian
# 13's kernel, read from trixie's package lists kept in the cache, so the machine's own apt
# setup is not touched.
#
# The kernel's ABI number is looked up through the metapackage (`apt-cache depends
# linux-image-cloud-<arch>`); never glob the package name, `apt-get download linux-image-6.1.0-*`
# fetches every flavour. When the archive does not have the metapackage's choice yet (a 404),
# the other kernel packages of that flavour are tried, newest first. Idempotent: a cache whose
# .deb still has the recorded sha256 is kept.
#
# Usage: scripts/install-guest.sh ARCH      (amd64, arm64, s390x or riscv64)
#        GUEST_CACHE=DIR overrides the cache root; APT_UPDATE=no skips `apt-get update`;
#        DEBIAN_MIRROR=URI names the Debian archive for trixie's lists (default: the one apt uses).
set -euo pipefail

ARCH=${1:-}
say() { echo "install-guest: $*" >&2; }
# The Debian archive this machine's apt already uses (its first `.../debian` URI, one-line or
# deb822 sources), so that trixie's lists come from the same place.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    if [[ -r $f ]]; then cat "$f"; fi
  done | { grep -E '^[[:space:]]*(deb|URIs:)' || true; } |
    { grep -oE 'https?://[^[:space:]]+/debian/?([[:space:]]|$)' || true; } |
    head -n 1 | tr -d '[:space:]' | sed 's#/$##'
}
root=${GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/portability-matrix/guest}
APT=()     # extra options for apt-get and apt-cache (the trixie lists for s390x)
FOREIGN=1  # a foreign architecture of the machine's own apt (dpkg --add-architecture)
case $ARCH in
  amd64) QEMU_PKG=qemu-system-x86; QEMU_BIN=qemu-system-x86_64; FLAVOUR=cloud-amd64 ;;
  arm64) QEMU_PKG=qemu-system-arm; QEMU_BIN=qemu-system-aarch64; FLAVOUR=cloud-arm64 ;;
  s390x | riscv64)
    QEMU_PKG=qemu-system-misc; QEMU_BIN=qemu-system-$ARCH; FLAVOUR=$ARCH; FOREIGN=0
    lists=$root/apt-trixie-$ARCH
    mkdir -p "$lists/lists/partial" "$lists/cache/archives/partial"
    mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
    if [[ -z $mirror ]]; then
      say "no Debian archive in apt's sources to read trixie's $ARCH kernels from; set DEBIAN_MIRROR to one (its URI, ending in /debian)"
      exit 2
    fi
    echo "deb [arch=$ARCH] $mirror trixie main" >"$lists/sources.list"
    APT=(-o "Dir::Etc::sourcelist=$lists/sources.list" -o Dir::Etc::sourceparts=/dev/null
      -o "Dir::State::lists=$lists/lists" -o "Dir::Cache=$lists/cache"
      -o "APT::Architectures::=$ARCH" -o Debug::NoLocking=1)
    ;;
  *) say "usage: $0 amd64|arm64|s390x|riscv64"; exit 2 ;;
esac

# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# 1. The emulator, and the tools that make and inspect the guest's disks (xz: Debian 13's
#    modules are compressed; the initramfs holds them uncompressed).
apt_install "$QEMU_PKG" qemu-utils cpio xfsprogs e2fsprogs btrfs-progs xz-utils
# riscv64's virt machine boots through OpenSBI (`-bios default`), which qemu-system-misc only
# recommends.
[[ $ARCH == riscv64 ]] && apt_install opensbi
command -v "$QEMU_BIN" >/dev/null || { say "$QEMU_BIN missing after installing $QEMU_PKG"; exit 1; }

# 2. The package lists that have the kernel.
QUAL=""
if ((FOREIGN)); then
  if [[ $ARCH != "$(dpkg --print-architecture)" ]]; then
    QUAL=":$ARCH"
    if ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
      say "dpkg --add-architecture $ARCH"
      $sudo dpkg --add-architecture "$ARCH"
      apt_updated=0
      apt_update
    fi
  fi
else
  QUAL=":$ARCH"
  if [[ ${APT_UPDATE:-auto} != no ]] || ! ls "$lists/lists"/*Packages* >/dev/null 2>&1; then
    say "apt-get update (trixie's $ARCH lists, in $lists)"
    apt-get "${APT[@]}" update -qq
  fi
fi

meta="linux-image-$FLAVOUR"
# Kernel packages of the flavour: the metapackage's choice first, then the others, newest first.
candidates() {
  apt-cache "${APT[@]}" depends "$meta$QUAL" 2>/dev/null |
    sed -n "s/^ *Depends: \(linux-image-[0-9][^:]*-$FLAVOUR\)\(:$ARCH\)\?$/\1/p" | head -n1
  apt-cache "${APT[@]}" search --names-only "^linux-image-[0-9].*-$FLAVOUR\$" 2>/dev/null |
    cut -d' ' -f1 | grep -v -- '-unsigned$' | sort -rV
}
mapfile -t pkgs < <(candidates | awk '!seen[$0]++')
if ((${#pkgs[@]} == 0)) && ((FOREIGN)); then
  apt_update
  mapfile -t pkgs < <(candidates | awk '!seen[$0]++')
fi
((${#pkgs[@]})) || { say "apt-cache depends $meta$QUAL names no kernel package"; exit 1; }
version_of() { apt-cache "${APT[@]}" show "$1$QUAL" 2>/dev/null | sed -n 's/^Version: //p' | head -n1; }

# busybox-static of the guest's architecture, extracted into DIR/busybox (recorded in busybox.env).
fetch_busybox() {
  local d=$1 bdeb bver
  bver=$(version_of busybox-static)
  [[ -n $bver ]] || { say "apt-cache show busybox-static$QUAL gives no version"; exit 1; }
  mkdir -p "$d/bb"
  chmod 755 "$d/bb"
  (cd "$d/bb" && apt-get "${APT[@]}" download -q "busybox-static$QUAL=$bver" >/dev/null)
  bdeb=$(cd "$d/bb" && ls -- *.deb)
  dpkg -x "$d/bb/$bdeb" "$d/bb/root"
  if [[ -f $d/bb/root/bin/busybox ]]; then cp "$d/bb/root/bin/busybox" "$d/busybox"; else cp "$d/bb/root/usr/bin/busybox" "$d/busybox"; fi
  printf 'BUSYBOX_VERSION=%s\nBUSYBOX_SHA256=%s\n' "$bver" "$(sha256sum "$d/busybox" | cut -d' ' -f1)" >"$d/busybox.env"
  rm -rf "$d/bb"
}

dir=$root/$ARCH
env_file=$dir/kernel.env
if [[ -f $env_file ]]; then
  # shellcheck disable=SC1090
  cached=$(. "$env_file"; echo "$KERNEL_PACKAGE $KERNEL_VERSION $KERNEL_DEB_SHA256 $KERNEL_DEB $KERNEL_MODULES")
  read -r c_pkg c_ver c_sha c_deb c_mod <<<"$cached"
  for pkg in "${pkgs[@]}"; do
    if [[ $c_pkg == "$pkg" && $c_ver == "$(version_of "$pkg")" && -f $dir/$c_deb && -d $dir/$c_mod ]] &&
      [[ $(sha256sum "$dir/$c_deb" | cut -d' ' -f1) == "$c_sha" ]]; then
      [[ -x $dir/busybox ]] || fetch_busybox "$dir"
      say "$ARCH: $pkg $c_ver cached in $dir"
      exit 0
    fi
  done
fi

rm -rf "$dir.new"
mkdir -p "$dir.new"
chmod 755 "$dir.new"
pkg="" version=""
for p in "${pkgs[@]}"; do
  v=$(version_of "$p")
  [[ -n $v ]] || continue
  say "$ARCH: fetching $p $v"
  if (cd "$dir.new" && apt-get "${APT[@]}" download -q "$p$QUAL=$v" >/dev/null 2>&1); then
    pkg=$p version=$v
    break
  fi
  say "$ARCH: $p $v is not in the archive yet; trying the next"
done
[[ -n $pkg ]] || { say "$ARCH: no kernel package of ${pkgs[*]} could be downloaded"; exit 1; }
deb=$(cd "$dir.new" && ls -- *.deb)
[[ $(wc -w <<<"$deb") -eq 1 ]] || { say "expected one .deb, got: $deb"; exit 1; }
dpkg -x "$dir.new/$deb" "$dir.new/root"
# riscv64's kernel image is named vmlinux-*, the others' vmlinuz-*.
vmlinuz=""
for f in "$dir.new"/root/boot/vmlinuz-* "$dir.new"/root/boot/vmlinux-*; do
  [[ -f $f ]] && vmlinuz=${f##*/} && break
done
[[ -n $vmlinuz ]] || { say "no kernel image in $deb's /boot"; exit 1; }
kver=${vmlinuz#vmlinu[zx]-}
modules=""
for m in lib/modules usr/lib/modules; do
  [[ -d $dir.new/root/$m/$kver ]] && modules=root/$m/$kver
done
[[ -n $modules ]] || { say "no modules for $kver in $deb"; exit 1; }
cat >"$dir.new/kernel.env" <<EOF
KERNEL_ARCH=$ARCH
KERNEL_PACKAGE=$pkg
KERNEL_VERSION=$version
KERNEL_RELEASE=$kver
KERNEL_DEB=$deb
KERNEL_DEB_SHA256=$(sha256sum "$dir.new/$deb" | cut -d' ' -f1)
KERNEL_VMLINUZ=root/boot/$vmlinuz
KERNEL_VMLINUZ_SHA256=$(sha256sum "$dir.new/root/boot/$vmlinuz" | cut -d' ' -f1)
KERNEL_MODULES=$modules
EOF
fetch_busybox "$dir.new"
rm -rf "$dir"
mv "$dir.new" "$dir"
say "$ARCH: $pkg $version in $dir"
cat "$dir/kernel.env" >&2
