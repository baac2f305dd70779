#!/bin/sh
# build-and-run.sh: builds the libFuzzer harnesses of tests/fuzz with clang
# (-fsanitize=fuzzer,address,undefined) directly from the src/ files, outside
# meson so that the gcc build stays untouched, then for each harness:
#   1. replays every input kept under tests/fuzz/regressions/<harness>/
#      (inputs that once crashed it: they must pass now);
#   2. fuzzes for SECONDS (default 10) starting from the seed corpus
#      tests/fuzz/corpus/<harness>/ (read only: new inputs go to
#      build-fuzz/corpus/<harness>/).
# Fails if a harness fails to build, a regression input fails, or fuzzing
# finds a crash, leak, UB, timeout or out-of-memory; the input is then left
# in build-fuzz/artifacts/<harness>/ (copy it to regressions/ once fixed).
#
# Usage: tests/fuzz/build-and-run.sh [SECONDS] [HARNESS...]
#   FUZZ_MERGE=1  also merges new coverage back into tests/fuzz/corpus/<harness>/
#   CC=clang-14   the compiler (default clang)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$root/build-fuzz"
seconds=${1:-10}
[ $# -gt 0 ] && shift
harnesses=${*:-"route json name xml qcow2"}
CC=${CC:-clang}

case $seconds in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] [HARNESS...]" >&2; exit 2 ;;
esac
command -v "$CC" >/dev/null 2>&1 || {
    echo "$0: $CC not found: apt-get install clang" >&2
    exit 2
}

# The same dependencies as meson.build's core library.
pkgs="glib-2.0 gio-2.0 libvirt libvirt-qemu libmicrohttpd jansson libxml-2.0 gnutls"
dep_cflags=$(pkg-config --cflags $pkgs)
dep_libs="$(pkg-config --libs $pkgs) -lpam"
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cflags="-std=c11 -g -O1 -Wall -Wextra -D_GNU_SOURCE -DVS_VERSION=\"fuzz\" \
-DVS_WEB_DIR=\"$out/no-web\" -I$root/src $dep_cflags"

mkdir -p "$out/obj"

# Every file of src/ but main.c, instrumented for coverage. Harnesses link
# the archive, so each gets only the objects it needs (routes.c pulls in
# the handlers and the model: that is what the daemon links too).
objs=""
for src in $(cd "$root" && find src -name '*.c' ! -path src/main.c | sort); do
    obj="$out/obj/$(echo "$src" | tr / _).o"
    if [ ! -f "$obj" ] || [ -n "$(find "$root/src" -newer "$obj" -name '*.[ch]' | head -n 1)" ]; then
        echo "CC  $src"
        $CC $cflags $san -fsanitize=fuzzer-no-link -c "$root/$src" -o "$obj"
    fi
    objs="$objs $obj"
done
rm -f "$out/libcore-fuzz.a"
ar rcs "$out/libcore-fuzz.a" $objs

status=0
for h in $harnesses; do
    src="$here/fuzz_$h.c"
    bin="$out/fuzz_$h"
    [ -f "$src" ] || { echo "$0: no harness $src" >&2; exit 2; }
    echo "LD  fuzz_$h"
    $CC $cflags -Werror $san -fsanitize=fuzzer -I"$here" "$src" "$out/libcore-fuzz.a" $dep_libs -o "$bin"

    rm -rf "$out/tmp" && mkdir -p "$out/tmp"
    export TMPDIR="$out/tmp" # the harnesses' scratch web and state dirs
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    opts="-timeout=10 -rss_limit_mb=2048 -print_final_stats=0"
    dict="$here/fuzz_$h.dict"
    [ -f "$dict" ] && opts="$opts -dict=$dict"

    reg="$here/regressions/$h"
    if [ -d "$reg" ] && [ -n "$(find "$reg" -type f ! -name '.*' | head -n 1)" ]; then
        echo "RUN fuzz_$h regressions"
        # shellcheck disable=SC2046
        if ! "$bin" $opts $(find "$reg" -type f ! -name '.*' | sort) >"$out/fuzz_$h.regressions.log" 2>&1; then
            echo "FAIL fuzz_$h: a regression input fails again; see $out/fuzz_$h.regressions.log" >&2
            tail -n 40 "$out/fuzz_$h.regressions.log" >&2
            status=1
            continue
        fi
    fi

    work="$out/corpus/$h"
    arts="$out/artifacts/$h"
    mkdir -p "$work" "$arts" "$here/corpus/$h"
    echo "RUN fuzz_$h for ${seconds}s"
    if ! "$bin" $opts -max_total_time="$seconds" -artifact_prefix="$arts/" \
            "$work" "$here/corpus/$h" >"$out/fuzz_$h.log" 2>&1; then
        echo "FAIL fuzz_$h: see $out/fuzz_$h.log and $arts/" >&2
        tail -n 60 "$out/fuzz_$h.log" >&2
        status=1
        continue
    fi
    grep -E '^Done [0-9]+ runs' "$out/fuzz_$h.log" | sed "s/^/    fuzz_$h: /"
    if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        "$bin" -merge=1 $opts "$here/corpus/$h" "$work" >"$out/fuzz_$h.merge.log" 2>&1
    fi
done
[ $status = 0 ] && echo "fuzz: all harnesses passed"
exit $status
