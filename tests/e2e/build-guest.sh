#!/bin/sh
# Build the virtsnap e2e test guest from guest/guest.S.
# Usage: build-guest.sh OUTDIR
# Writes OUTDIR/guest.img (raw, exactly 1 MiB, boot sector at LBA 0, rest
# zero) and OUTDIR/guest.qcow2.  Needs binutils (as, ld) and qemu-utils.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
src=$(cd "$(dirname "$0")" && pwd)/guest/guest.S

mkdir -p "$out"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/virtsnap-guest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

as --32 -o "$tmp/guest.o" "$src"
ld -m elf_i386 -Ttext 0x7c00 --oformat binary -o "$tmp/guest.bin" "$tmp/guest.o"

size=$(wc -c <"$tmp/guest.bin" | tr -d ' ')
if [ "$size" -ne 512 ]; then
	echo "$0: boot sector is $size bytes, expected 512" >&2
	exit 1
fi

# 1 MiB raw image: boot sector followed by zeros.
dd if=/dev/zero of="$tmp/guest.img" bs=1024 count=1024 2>/dev/null
dd if="$tmp/guest.bin" of="$tmp/guest.img" conv=notrunc 2>/dev/null
qemu-img convert -f raw -O qcow2 "$tmp/guest.img" "$tmp/guest.qcow2"

mv -f "$tmp/guest.img" "$out/guest.img"
mv -f "$tmp/guest.qcow2" "$out/guest.qcow2"
