#!/bin/sh
# Installs norma from a build tree into a temporary prefix and builds a program against the
# installed copy twice: with CMake's find_package(norma) and with pkg-config.
# usage: run.sh <build dir> <this directory> <C compiler>
set -eu
build=$1 here=$2 cc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp/prefix"/lib*/ | head -n 1)

echo "== find_package(norma)"
cmake -S "$here" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_C_COMPILER="$cc" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/consumer/consumer"
"$tmp/consumer/consumer_static"

echo "== pkg-config"
PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --exists norma
# shellcheck disable=SC2046
"$cc" -std=c11 -o "$tmp/pc_consumer" "$here/consumer.c" $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs norma) -lm
LD_LIBRARY_PATH="$libdir" "$tmp/pc_consumer"
