#!/usr/bin/env bash
# Runs every cargo-fuzz target briefly: FUZZ_SECONDS each (default 10, about a minute for the six
# targets), after one build. Usage, from anywhere: `bash fuzz/run-ci.sh [target...]`.
#
# The checked-in corpus (corpus/<target>/) and the crash reproducers (regressions/<target>/)
# are read, never written: new inputs go to a scratch corpus under target/ci-corpus/, so a CI run
# leaves the tree as it was. A crash stops that target and leaves its input in
# artifacts/<target>/; the script goes on with the other targets and exits 1 at the end. Make a
# crash a named regression test (engine/tests/fuzz_corpus.rs or server/tests/fuzz_corpus.rs)
# and copy its input into regressions/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
fuzz_dir="$(pwd)"
seconds="${FUZZ_SECONDS:-10}"

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

failed=()
mkdir -p target/ci-logs
for target in "${targets[@]}"; do
    scratch="$fuzz_dir/target/ci-corpus/$target"
    mkdir -p "$scratch"
    corpora=("$scratch" "$fuzz_dir/corpus/$target")
    if [ -d "regressions/$target" ]; then
        corpora+=("$fuzz_dir/regressions/$target")
    fi
    log="target/ci-logs/$target.log"
    printf '\n== fuzz %s (%ss)\n' "$target" "$seconds"
    # -timeout: an input that runs 30 s is a hang, reported like a crash.
    if cargo +nightly fuzz run "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 >"$log" 2>&1; then
        grep -E '^#[0-9]+ +DONE|^Done [0-9]+ runs' "$log" || tail -n 3 "$log"
    else
        tail -n 40 "$log"
        echo "fuzz target $target failed: input in fuzz/artifacts/$target/, log in fuzz/$log"
        failed+=("$target")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}"
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each without a finding"
