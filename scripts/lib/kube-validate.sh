#!/usr/bin/env bash
# Checks the Kubernetes manifests Plinth generates against the official schemas of every
# Kubernetes minor from 1.25 to the newest PyPI `kubernetes-validate` ships, strictly
# (unknown fields are errors). The validator only warns, exiting 0, on a kind or apiVersion
# it has no schema for (a removed API); that warning fails here too.
#
# Sourced (by scripts/test): defines `setup_kube_validate`, which installs the validator
# into the test venv (scripts/test-requirements.txt) and exports PLINTH_KUBE_VALIDATE for
# the ignored test `schemas::every_generated_manifest_matches_the_schemas_of_every_minor_from_1_25`
# of plinth-kube; and `kube_validate_dir DIR`, which validates every *.json / *.yaml in DIR.
#
# Run: scripts/lib/kube-validate.sh [DIR]  — validates DIR, or, without one, the sample
# manifests `plinth-kube-manifests` writes. Prints "N manifests × M minors validated".

OLDEST_KUBE_MINOR=25

setup_kube_validate() {
    ensure_venv
    [ -x "$VENV/bin/kubernetes-validate" ] \
        || die "kubernetes-validate is not in $VENV (is it in scripts/test-requirements.txt?)"
    export PLINTH_KUBE_VALIDATE="$VENV/bin/kubernetes-validate"
}

# The newest minor the validator has schemas for ("Defaults to 1.37.0" in its help).
newest_kube_minor() {
    "$PLINTH_KUBE_VALIDATE" --help | tr -s ' \n' '  ' \
        | sed -n 's/.*Defaults to 1\.\([0-9][0-9]*\)\..*/\1/p'
}

kube_validate_dir() {
    local dir="$1" newest minor files=() versions=() output problems passed expected
    shopt -s nullglob
    files=("$dir"/*.json "$dir"/*.yaml "$dir"/*.yml)
    shopt -u nullglob
    [ "${#files[@]}" -gt 0 ] || die "no manifests in $dir"
    newest="$(newest_kube_minor)"
    [ -n "$newest" ] && [ "$newest" -ge 33 ] || die "cannot tell the newest schema of $PLINTH_KUBE_VALIDATE (got '$newest')"
    for ((minor = OLDEST_KUBE_MINOR; minor <= newest; minor++)); do
        versions+=(--kubernetes-version "1.$minor")
    done
    output="$("$PLINTH_KUBE_VALIDATE" --strict "${versions[@]}" "${files[@]}" 2>&1)" \
        || { printf '%s\n' "$output" | grep -v '^INFO ' >&2; die "kubernetes-validate found invalid manifests"; }
    problems="$(printf '%s\n' "$output" | grep -v '^INFO ' | grep -v '^$' || true)"
    if [ -n "$problems" ] || printf '%s\n' "$output" | grep -q "Couldn't find schema"; then
        printf '%s\n' "$problems" >&2
        die "kubernetes-validate has no schema for some manifests (a removed API?)"
    fi
    # Each file against each minor's own schema: the validator falls back silently to an
    # older schema when it lacks the one asked for.
    expected=$(( ${#files[@]} * (newest - OLDEST_KUBE_MINOR + 1) ))
    passed="$(printf '%s\n' "$output" | grep -c '^INFO .* passed for resource .* against version 1\.[0-9]*$' || true)"
    for ((minor = OLDEST_KUBE_MINOR; minor <= newest; minor++)); do
        [ "$(printf '%s\n' "$output" | grep -c " against version 1\.$minor\$")" = "${#files[@]}" ] \
            || die "not every manifest was checked against the schema of 1.$minor"
    done
    [ "$passed" = "$expected" ] || die "expected $expected passes, got $passed"
    say "${#files[@]} manifests × $((newest - OLDEST_KUBE_MINOR + 1)) minors validated (1.$OLDEST_KUBE_MINOR–1.$newest)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    cd "$(dirname "$0")/../.."
    source scripts/lib/services.sh
    trap stop_services EXIT
    setup_kube_validate
    dir="${1:-}"
    if [ -z "$dir" ]; then
        dir="$SERVICES_DIR/manifests"
        say "writing the sample manifests (cargo run -p plinth-kube --bin plinth-kube-manifests)"
        cargo run --quiet --locked -p plinth-kube --bin plinth-kube-manifests -- "$dir" >/dev/null
    fi
    kube_validate_dir "$dir"
fi
