#!/usr/bin/env bash
# Web-app frameworks for the Apps tests, sourced by scripts/test after services.sh.
#
# `setup_streamlit` builds a Python environment with Streamlit (scripts/streamlit-requirements.txt)
# on the system's Python, outside any home folder and readable by all, because an App runs
# in the sandbox as another user and sees only system folders. Idempotent: rebuilt only when
# the requirements change.
setup_streamlit() {
    ensure_venv
    local dir="${PLINTH_TEST_STREAMLIT_VENV:-/var/cache/plinth-test/streamlit-venv}"
    local requirements="$PWD/scripts/streamlit-requirements.txt"
    [ -x /usr/bin/python3 ] || apt_install python3
    if [ ! -x "$dir/bin/streamlit" ] || ! cmp -s "$requirements" "$dir/.requirements"; then
        say "creating the Streamlit environment at $dir"
        rm -rf "$dir"
        mkdir -p "$(dirname "$dir")"
        /usr/bin/python3 -m venv --without-pip "$dir" || die "/usr/bin/python3 -m venv failed"
        "$VENV/bin/pip" --python "$dir/bin/python" install -q --disable-pip-version-check \
            -r "$requirements" >&2 || die "pip install into $dir failed"
        cp "$requirements" "$dir/.requirements"
    fi
    chmod -R a+rX "$dir"
    export PLINTH_TEST_STREAMLIT_VENV="$dir"
}
