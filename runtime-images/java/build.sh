#!/usr/bin/env bash
# Builds wisp's Java runtime, idempotently:
#   * the handler API jar, installed into the local Maven repository (function projects depend
#     on dev.wisp:wisp-runtime-api with scope "provided");
#   * runtime/target/wisp-runtime.jar, the shaded runnable server;
#   * runtime/target/wisp-runtime.jsa, its class-data-sharing archive for the `java` in use
#     ($JAVA_HOME/bin/java, else the one on PATH), made by a training run.
# When the sources, the poms and the JVM are those of the last build it returns at once.
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
java_path="$(readlink -f "$(command -v "$java_bin")")"
target="$here/runtime/target"
jar="$target/wisp-runtime.jar"
jsa="$target/wisp-runtime.jsa"
stamp="$target/.build-stamp"
api_jar="${MAVEN_REPO:-$HOME/.m2/repository}/dev/wisp/wisp-runtime-api/0.1.0/wisp-runtime-api-0.1.0.jar"

sources_hash() {
  (cd "$here" && find pom.xml jvm.options api/pom.xml runtime/pom.xml api/src runtime/src -type f -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

# The jar's size and mtime are part of the stamp: the archive is only valid for that very jar,
# so a jar rebuilt by a plain `mvn package` means the archive has to be made again.
jar_id() { stat -c '%s:%Y' "$jar" 2>/dev/null || echo none; }

up_to_date() {
  [[ $force == 0 && -f "$stamp" && -f "$jar" && -f "$api_jar" ]] \
    && [[ $cds == 0 || -f "$jsa" ]] && [[ "$(cat "$stamp")" == "$want jar=$(jar_id)" ]]
}

want="$(sources_hash) cds=$cds java=$java_path"
up_to_date && exit 0

# One build at a time (test sessions may call this concurrently); re-check once we hold the lock.
mkdir -p "$target"
exec 9>"$target/.build.lock"
flock 9
up_to_date && exit 0

# Same sources, only the jar was rebuilt (say by `mvn verify`): the archive alone is redone.
if [[ $force == 1 || ! -f "$stamp" || ! -f "$jar" || ! -f "$api_jar" ]] \
    || [[ "$(cut -d' ' -f1-3 "$stamp")" != "$want" ]]; then
  mvn_args=(-B -q --no-transfer-progress -Dstyle.color=never -DskipTests -f "$here/pom.xml" install)
  offline_log="$(mktemp)"
  if ! mvn -o "${mvn_args[@]}" >"$offline_log" 2>&1; then
    mvn "${mvn_args[@]}"
  fi
  rm -f "$offline_log"
fi

rm -f "$jsa"
if [[ $cds == 1 ]]; then
  # The archive records the jar's path, size and mtime: it is only valid beside this very jar.
  # Trained with the flags the runtime runs with (jvm.options), quietly.
  "$java_bin" @"$here/jvm.options" -Xlog:disable -Xlog:all=error:stderr \
    -XX:ArchiveClassesAtExit="$jsa.tmp" -jar "$jar" --train >/dev/null
  mv "$jsa.tmp" "$jsa"
fi
echo "$want jar=$(jar_id)" >"$stamp"
