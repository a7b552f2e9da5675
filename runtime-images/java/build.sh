#!/usr/bin/env bash
# Builds wisp's Java runtime, idempotently:
#   * the handler API jar, installed into the local Maven repository (function projects depend
#     on dev.wisp:wisp-runtime-api with scope "provided");
#   * runtime/target/wisp-runtime.jar, the shaded runnable server;
#   * beside it, for each JVM a local runtime may run on (the `java` in use: $JAVA_HOME/bin/java,
#     else the one on PATH; and every WISP_JAVA_<feature> set, as the launcher reads them), its
#     start-up cache, made by a training run: the AOT cache `wisp-runtime-<feature>.aot` on
#     JDK 25+ (JEP 483), the class-data-sharing archive `wisp-runtime-<feature>.jsa` before.
# When the sources, the poms and the JVMs are those of the last build it returns at once.
# Maven runs offline first (fast, works without a network once dependencies are cached) and
# online only if that fails.
#
# Usage: runtime-images/java/build.sh [--force] [--no-cds]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
force=0
cds=1
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --no-cds) cds=0 ;;
    *) echo "usage: $0 [--force] [--no-cds]" >&2; exit 2 ;;
  esac
done

java_bin="${JAVA_HOME:+$JAVA_HOME/bin/}java"
target="$here/runtime/target"
jar="$target/wisp-runtime.jar"
stamp="$target/.build-stamp"
api_jar="${MAVEN_REPO:-$HOME/.m2/repository}/dev/wisp/wisp-runtime-api/0.1.0/wisp-runtime-api-0.1.0.jar"

sources_hash() {
  (cd "$here" && find pom.xml jvm.options api/pom.xml runtime/pom.xml api/src runtime/src -type f -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

# The jar's size and mtime are part of the stamp: the archive is only valid for that very jar,
# so a jar rebuilt by a plain `mvn package` means the archive has to be made again.
jar_id() { stat -c '%s:%Y' "$jar" 2>/dev/null || echo none; }

# The JVMs to make a start-up cache for, one a line (resolved paths, each once).
jvms() {
  { command -v "$java_bin"
    for name in $(compgen -v WISP_JAVA_); do
      if [[ $name =~ ^WISP_JAVA_[0-9]+$ && -n ${!name} ]]; then echo "${!name}"; fi
    done
  } | while read -r java; do readlink -f "$(command -v "$java")"; done | awk '!seen[$0]++'
}

feature() { "$1" -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\).*/\1/p' | head -n 1; }

# JDK 25+ gets an AOT cache: classes loaded and linked, and the training run's method profiles
# (JEPs 483, 514, 515); it starts the runtime faster than an AppCDS archive does on the same JDK
# (docs/runtimes-java.md, "Cold start"). Older JDKs get the AppCDS archive.
cache_of() {
  local f
  f="$(feature "$1")"
  if (( f >= 25 )); then echo "$target/wisp-runtime-$f.aot"; else echo "$target/wisp-runtime-$f.jsa"; fi
}

up_to_date() {
  [[ $force == 0 && -f "$stamp" && -f "$jar" && -f "$api_jar" ]] \
    && [[ "$(cat "$stamp")" == "$want jar=$(jar_id)" ]]
}

want="$(sources_hash) cds=$cds java=$(jvms | tr '\n' ' ')"
up_to_date && exit 0

# One build at a time (test sessions may call this concurrently); re-check once we hold the lock.
mkdir -p "$target"
exec 9>"$target/.build.lock"
flock 9
up_to_date && exit 0

# Same sources, only the jar was rebuilt (say by `mvn verify`): the archive alone is redone.
if [[ $force == 1 || ! -f "$stamp" || ! -f "$jar" || ! -f "$api_jar" ]] \
    || [[ "$(cut -d' ' -f1 "$stamp")" != "${want%% *}" ]]; then
  mvn_args=(-B -q --no-transfer-progress -Dstyle.color=never -DskipTests -f "$here/pom.xml" install)
  offline_log="$(mktemp)"
  if ! mvn -o "${mvn_args[@]}" >"$offline_log" 2>&1; then
    mvn "${mvn_args[@]}"
  fi
  rm -f "$offline_log"
fi

rm -f "$target"/wisp-runtime*.jsa "$target"/wisp-runtime*.aot
if [[ $cds == 1 ]]; then
  # A cache records the jar's path, size and mtime: it is only valid beside this very jar, on
  # the JVM that made it. Trained with the flags the runtime runs with (jvm.options), quietly.
  while read -r java; do
    cache="$(cache_of "$java")"
    case "$cache" in
      *.aot) output="-XX:AOTCacheOutput=$cache.tmp" ;;
      *) output="-XX:ArchiveClassesAtExit=$cache.tmp" ;;
    esac
    # (JDK 25 writes the AOT cache from a second JVM, which announces the options it was passed.)
    "$java" @"$here/jvm.options" -Xlog:disable -Xlog:all=error:stderr "$output" \
      -jar "$jar" --train 2> >(grep -v '^Picked up JAVA_TOOL_OPTIONS' >&2) >/dev/null
    mv "$cache.tmp" "$cache"
  done < <(jvms)
fi
echo "$want jar=$(jar_id)" >"$stamp"
