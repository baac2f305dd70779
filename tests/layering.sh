#!/bin/sh
# layering.sh: the architecture's boundaries, checked on what the compiler
# actually includes (gcc -M): src/api (parse, validate, format JSON) never
# sees a libvirt header, and src/model (libvirt work) never sees
# libmicrohttpd. Usage: layering.sh SOURCE_DIR CC
set -eu
src=$1/src
cc=$2
# shellcheck disable=SC2046 # word splitting of the flags is wanted
set -- -D_GNU_SOURCE $(pkg-config --cflags glib-2.0 gio-2.0 jansson libxml-2.0 libmicrohttpd libvirt gnutls)
bad=0
for f in "$src"/api/*.c; do
    deps=$("$cc" "$@" -M -I"$src" "$f") || { echo "cannot compile $f" >&2; exit 1; }
    if printf '%s\n' "$deps" | tr ' ' '\n' | grep -q '/libvirt/'; then
        echo "$f includes a libvirt header:" >&2
        printf '%s\n' "$deps" | tr ' ' '\n' | grep '/libvirt/' | head -3 >&2
        bad=1
    fi
done
for f in "$src"/model/*.c; do
    deps=$("$cc" "$@" -M -I"$src" "$f") || { echo "cannot compile $f" >&2; exit 1; }
    if printf '%s\n' "$deps" | tr ' ' '\n' | grep -q 'microhttpd'; then
        echo "$f includes libmicrohttpd" >&2
        bad=1
    fi
done
[ "$bad" = 0 ] && echo "api: no libvirt; model: no libmicrohttpd"
exit "$bad"
