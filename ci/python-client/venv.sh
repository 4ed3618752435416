# Sourced by ci/python-client/run.sh and benches/python/compare.sh: the pinned Python
# reference client in a cached virtual environment, found and built the same way for both.
#
#   pyclient_venv LABEL   # sets $venv, $want (the Python version) and $PIN; messages say LABEL
#
# The client needs Python >= 3.11; its discovery works only from 3.13 on (its probe is an
# empty datagram, which asyncio drops before 3.13), so the newest wins. Environment: PYTHON
# (the interpreter), FF_PYCLIENT_VENV (the venv directory; default in $TMPDIR, per version).
PIN="flashforge-python-api==1.6.0"

pyclient_venv() {
    local label=$1 python=${PYTHON:-} candidate
    if [ -z "$python" ]; then
        local candidates=(python3.14 python3.13 python3.12 python3.11 python3)
        if command -v pyenv >/dev/null; then
            candidates=("$(pyenv root)"/versions/3.1[3-9]*/bin/python3 "${candidates[@]}")
        fi
        for candidate in "${candidates[@]}"; do
            if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
                python=$candidate
                break
            fi
        done
    fi
    [ -n "$python" ] || { echo "$label: FAIL: no Python >= 3.11 found (set PYTHON)" >&2; return 1; }
    want=$("$python" -c 'import sys; print(sys.version.split()[0])')
    venv=${FF_PYCLIENT_VENV:-${TMPDIR:-/tmp}/ff-pyclient-venv-$want}
    if ! "$venv/bin/python" -c 'import flashforge, sys; sys.exit(flashforge.__version__ != "1.6.0")' 2>/dev/null; then
        echo "$label: creating $venv (Python $want) and installing $PIN" >&2
        rm -rf "$venv"
        "$python" -m venv "$venv" || {
            echo "$label: FAIL: $python -m venv failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
            return 1
        }
        timeout 120 "$venv/bin/pip" install --disable-pip-version-check -q "$PIN" || return 1
    fi
}
