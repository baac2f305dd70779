#!/bin/sh
# build-guest-dirty.sh: builds the live-snapshot test guest from
# guest-dirty.S. Usage: build-guest-dirty.sh OUTDIR [PAGES]
# Writes OUTDIR/guest-dirty.qcow2, or OUTDIR/guest-dirty-PAGES.qcow2 with
# PAGES pages rewritten per round instead of 256 (1 MiB virtual: the 2 KiB
# program at LBA 0, the rest zero; the guest writes its counter to the last
# sector).
# Needs binutils (as, ld) and qemu-utils.
set -eu
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 OUTDIR [PAGES]" >&2
	exit 2
fi
out=$1
name=guest-dirty
defsym=
if [ $# -eq 2 ]; then
	name=guest-dirty-$2
	defsym="--defsym DIRTY_PAGES=$2"
fi
src=$(cd "$(dirname "$0")" && pwd)/guest-dirty.S
mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/virtsnap-dirty.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
as --32 $defsym -o "$tmp/g.o" "$src"
ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$tmp/g.bin" "$tmp/g.o"
size=$(wc -c <"$tmp/g.bin" | tr -d ' ')
if [ "$size" -ne 2048 ]; then
	echo "$0: program is $size bytes, expected 2048" >&2
	exit 1
fi
dd if=/dev/zero of="$tmp/g.img" bs=1024 count=1024 2>/dev/null
dd if="$tmp/g.bin" of="$tmp/g.img" conv=notrunc 2>/dev/null
qemu-img convert -f raw -O qcow2 "$tmp/g.img" "$tmp/g.qcow2"
mv -f "$tmp/g.qcow2" "$out/$name.qcow2"
