#!/usr/bin/env bash
# Build Google's MiniMalloc (github.com/google/minimalloc) for the arena
# benchmark's optional comparison, outside this repository, and print the
# path of the binary. MiniMalloc is not a dependency of lowmem: nothing
# here is needed to build, test or use lowmem.
#
#   benchmarks/minimalloc.sh [MINIMALLOC_SRC]
#
# MINIMALLOC_SRC   a MiniMalloc source checkout (argument, or the
#                  environment variable of that name)
# ABSEIL_SRC       an Abseil source tree; default: the checkout's
#                  external/abseil-cpp submodule when it is populated, else
#                  an installed Abseil that has absl/log (20230125 or later;
#                  Debian 12's libabsl-dev, 20220623, is too old)
# MINIMALLOC_BUILD where to build (default ~/.cache/lowmem/minimalloc/build)
#
# MiniMalloc's own CMakeLists.txt also adds the googletest submodule and
# its unit tests; this script leaves the checkout untouched and builds
# from a small CMake project of its own in the build directory: MiniMalloc's
# src/*.cc against Abseil, Release, nothing else. Progress goes to stderr
# (and to build.log in the build directory); stdout gets only the binary's
# path, $MINIMALLOC_BUILD/minimalloc (a copy of the CMake build's, where
# benchmarks/run_arena.py looks by default). MINIMALLOC_JOBS: parallel
# compile jobs (default: nproc). A first build compiles Abseil's needed
# parts too (a few minutes); later runs are incremental. On a missing source tree, compiler, cmake or Abseil it prints one
# line on stderr and exits with status 1.
set -euo pipefail

die() { echo "minimalloc.sh: $*" >&2; exit 1; }

src=${1:-${MINIMALLOC_SRC:-}}
[ -n "$src" ] || die "no MiniMalloc source checkout given (argument or \$MINIMALLOC_SRC; e.g. git clone --recursive https://github.com/google/minimalloc)"
[ -d "$src" ] || die "MiniMalloc source checkout $src: no such directory"
src=$(cd "$src" && pwd)
for f in src/main.cc src/solver.cc src/minimalloc.h; do
  [ -f "$src/$f" ] || die "$src is not a MiniMalloc source checkout (no $f)"
done
command -v cmake >/dev/null 2>&1 || die "cmake not found (apt-get install cmake, or pip install cmake)"
command -v "${CXX:-c++}" >/dev/null 2>&1 || die "no C++ compiler (${CXX:-c++}) found (apt-get install g++)"

absl=${ABSEIL_SRC:-}
if [ -z "$absl" ] && [ -f "$src/external/abseil-cpp/CMakeLists.txt" ]; then
  absl=$src/external/abseil-cpp
fi
if [ -n "$absl" ]; then
  [ -f "$absl/CMakeLists.txt" ] && [ -d "$absl/absl/log" ] \
    || die "Abseil source tree $absl has no CMakeLists.txt or no absl/log (MiniMalloc needs Abseil 20230125 or later)"
  absl=$(cd "$absl" && pwd)
  absl_cmake="add_subdirectory(\"$absl\" abseil EXCLUDE_FROM_ALL)"
else
  # An installed Abseil: its CMake package must export absl::log_initialize.
  found=
  prefixes=()
  IFS=: read -r -a prefixes <<<"${CMAKE_PREFIX_PATH:-}"
  for d in /usr/lib/*/cmake/absl /usr/lib/cmake/absl /usr/local/lib/cmake/absl \
           /usr/local/lib/*/cmake/absl "${prefixes[@]/%//lib/cmake/absl}"; do
    if [ -f "$d/abslTargets.cmake" ] && grep -q 'absl::log_initialize' "$d/abslTargets.cmake"; then
      found=$d; break
    fi
  done
  [ -n "$found" ] || die "no Abseil with absl/log: populate $src/external/abseil-cpp (git submodule update --init external/abseil-cpp), or set ABSEIL_SRC to an Abseil source tree (20230125 or later)"
  absl_cmake="find_package(absl REQUIRED CONFIG PATHS \"$found\" NO_DEFAULT_PATH)"
fi

build=${MINIMALLOC_BUILD:-$HOME/.cache/lowmem/minimalloc/build}
build=$(realpath -m "$build")
case "$build/" in
  "$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null || echo /nonexistent)"/*)
    die "build directory $build is inside the lowmem repository; choose one outside it (MINIMALLOC_BUILD)";;
esac
mkdir -p "$build/project"

cat > "$build/project/CMakeLists.txt.new" <<EOF
# Written by lowmem's benchmarks/minimalloc.sh: MiniMalloc's solver and
# command-line tool only (no tests, no Python bindings).
cmake_minimum_required(VERSION 3.16)
project(minimalloc_for_lowmem LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(ABSL_PROPAGATE_CXX_STD ON)
set(ABSL_BUILD_TESTING OFF)
set(BUILD_TESTING OFF)
$absl_cmake
file(GLOB core_sources "$src/src/*.cc")
list(FILTER core_sources EXCLUDE REGEX "/main\\\\.cc\$")
add_library(minimalloc_core STATIC \${core_sources})
target_include_directories(minimalloc_core PUBLIC "$src/src")
target_link_libraries(minimalloc_core PUBLIC absl::flags absl::statusor)
add_executable(minimalloc "$src/src/main.cc")
target_link_libraries(minimalloc PRIVATE minimalloc_core absl::flags_parse
                      absl::log absl::log_initialize)
EOF
# Rewrite only on change, so that a rebuild stays incremental.
if ! cmp -s "$build/project/CMakeLists.txt.new" "$build/project/CMakeLists.txt"; then
  mv "$build/project/CMakeLists.txt.new" "$build/project/CMakeLists.txt"
else
  rm "$build/project/CMakeLists.txt.new"
fi

jobs=${MINIMALLOC_JOBS:-$(nproc 2>/dev/null || echo 2)}
log=$build/build.log
echo "minimalloc.sh: building $src with Abseil ${absl:-$found} into $build (Release, $jobs jobs; log: $log)" >&2
t0=$(date +%s)
{
  cmake -S "$build/project" -B "$build/cmake" -DCMAKE_BUILD_TYPE=Release &&
  cmake --build "$build/cmake" --target minimalloc -j "$jobs"
} >"$log" 2>&1 || die "build failed; last lines of $log: $(tail -n 3 "$log" | tr '\n' ' ')"

[ -x "$build/cmake/minimalloc" ] || die "build finished but $build/cmake/minimalloc is missing; see $log"
# A copy at a fixed place, where benchmarks/run_arena.py looks by default.
bin=$build/minimalloc
cp -f "$build/cmake/minimalloc" "$bin.tmp" && mv -f "$bin.tmp" "$bin"
echo "minimalloc.sh: built in $(( $(date +%s) - t0 )) s: $bin" >&2
echo "$bin"
