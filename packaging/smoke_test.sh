#!/usr/bin/env bash
# Smoke test of a built bundle, run with an empty environment (no Python, no venv, clean HOME):
#   1. ecg-adv --version
#   2. ecg-adv classify <bundled sample> --json          (default bundled model)
#   3. ecg-adv --screenshot FILE --open <bundled sample>  (QT_QPA_PLATFORM=offscreen)
# With SMOKE_FULL=1 also: ecg-adv attack (SAP) --json, train for one epoch, a screenshot after
# SAP + band, and (Linux, when xvfb-run exists) a screenshot on the real xcb platform under Xvfb.
#
# usage: packaging/smoke_test.sh [BUNDLE]   BUNDLE: dist/ecg-adv (default) or the macOS .app
# Exit 0 when every check passes; otherwise prints each failure with its output and exits 1.
# SMOKE_OUT=DIR keeps the outputs (screenshot, JSON, logs) in DIR instead of a temp folder.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bundle=${1:-$root/dist/ecg-adv}
timeout_s=${SMOKE_TIMEOUT:-300}
version=$(sed -n 's/^__version__ *= *"\(.*\)"/\1/p' "$root/engine/__init__.py")

case "$(uname -s)" in
    MINGW*|MSYS*|CYGWIN*) gui="$bundle/ecg-adv.exe"; cli="$bundle/ecg-adv-cli.exe" ;;
    Darwin) if [[ "$bundle" == *.app ]]; then gui="$bundle/Contents/MacOS/ecg-adv"; else gui="$bundle/ecg-adv"; fi; cli="$gui" ;;
    *) gui="$bundle/ecg-adv"; cli="$gui" ;;
esac
[[ -x "$cli" ]] || cli="$gui"
if [[ ! -x "$gui" ]]; then
    echo "SMOKE FAIL: no executable at $gui (build first: python packaging/build.py)" >&2
    exit 1
fi
sample_hea=$(find "$bundle" -path '*resources/samples/A00009.hea' -print -quit)
if [[ -z "$sample_hea" ]]; then
    echo "SMOKE FAIL: the bundle has no resources/samples/A00009 record" >&2
    exit 1
fi
sample=${sample_hea%.hea}

if [[ -n "${SMOKE_OUT:-}" ]]; then out=$SMOKE_OUT; mkdir -p "$out"; else out=$(mktemp -d); trap 'rm -rf "$out"' EXIT; fi
mkdir -p "$out/home"
# An empty environment: no PATH to any Python, no PYTHONPATH/PYTHONHOME, no virtualenv, clean HOME.
clean_env=(env -i "PATH=/usr/bin:/bin" "HOME=$out/home" "LANG=C.UTF-8" "TMPDIR=${TMPDIR:-/tmp}")
[[ -n "${SYSTEMROOT:-}" ]] && clean_env+=("SYSTEMROOT=$SYSTEMROOT")  # Windows needs it for sockets/crypto
failures=0

run() {  # run NAME CMD... : runs with the clean environment and a time limit, logs to $out/NAME.*
    local name=$1; shift
    local t0=$SECONDS
    "${clean_env[@]}" timeout "$timeout_s" "$@" >"$out/$name.stdout" 2>"$out/$name.stderr"
    local rc=$?
    echo "  [$name] exit $rc in $((SECONDS - t0)) s"
    return $rc
}

fail() {  # fail NAME MESSAGE
    echo "SMOKE FAIL [$1]: $2" >&2
    for f in "$out/$1.stdout" "$out/$1.stderr"; do
        [[ -s "$f" ]] && { echo "---- ${f##*/} (last 40 lines) ----" >&2; tail -n 40 "$f" >&2; }
    done
    failures=$((failures + 1))
}

png_size() {  # width x height of a PNG, from its IHDR chunk (bytes 16..23)
    local w h
    w=$(od -An -tu1 -j16 -N4 "$1" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
    h=$(od -An -tu1 -j20 -N4 "$1" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
    echo "${w}x${h}"
}

check_png() {  # check_png NAME FILE
    local magic
    if [[ ! -s "$2" ]]; then fail "$1" "no screenshot written at $2"; return; fi
    magic=$(od -An -c -j1 -N3 "$2" | tr -d ' ')
    if [[ "$magic" != "PNG" ]]; then fail "$1" "$2 is not a PNG"; return; fi
    local dims size
    dims=$(png_size "$2"); size=$(wc -c <"$2")
    if [[ "$dims" != "1600x1000" || $size -lt 20000 ]]; then
        fail "$1" "screenshot $dims, $size bytes (expected 1600x1000 with content)"; return
    fi
    echo "  [$1] ok: $2 ($dims, $size bytes)"
}

echo "smoke test of $bundle (version $version); outputs in $out"

# 1. --version
if run version "$cli" --version; then
    if grep -q "ecg-adv $version" "$out/version.stdout"; then
        echo "  [version] ok: $(cat "$out/version.stdout")"
    else
        fail version "expected 'ecg-adv $version' on stdout"
    fi
else
    fail version "--version failed"
fi

# 2. classify --json on a bundled sample with the bundled default model
if run classify "$cli" classify "$sample" --json; then
    doc=$(cat "$out/classify.stdout")
    if command -v python3 >/dev/null 2>&1; then
        # validate with the host's Python (outside the clean environment; the app never sees it)
        if msg=$(printf '%s' "$doc" | python3 -c '
import json, math, sys
d = json.load(sys.stdin)
r = d["results"][0]
assert r["pred"] in ("N", "A", "O", "~"), r
assert abs(sum(r["probs"].values()) - 1) < 1e-3, r["probs"]
print("model %s: %s -> %s (p=%.3f)" % (d["model"], r["record"].rsplit("/", 1)[-1], r["pred"], r["probs"][r["pred"]]))
' 2>&1); then
            echo "  [classify] ok: $msg"
        else
            fail classify "unexpected JSON: $msg"
        fi
    elif [[ "$doc" == *'"pred"'* ]]; then
        echo "  [classify] ok: $doc"
    else
        fail classify "no prediction in the JSON output"
    fi
else
    fail classify "classify --json failed"
fi

# 3. --screenshot under the offscreen platform
if run screenshot env QT_QPA_PLATFORM=offscreen "$gui" --screenshot "$out/screenshot.png" --open "$sample"; then
    check_png screenshot "$out/screenshot.png"
else
    fail screenshot "--screenshot failed"
fi

if [[ "${SMOKE_FULL:-0}" == 1 ]]; then
    # 4. the attack engine (SAP) in the bundle
    if run attack "$cli" attack "$sample" --method sap --json; then
        grep -q '"success"' "$out/attack.stdout" && echo "  [attack] ok" || fail attack "no attack result in the JSON"
    else
        fail attack "attack --json failed"
    fi
    # 5. training (the optimisers go through torch._dynamo) for one epoch on the bundled samples
    if run train "$cli" train "$(dirname "$sample")" --epochs 1 --batch-size 4 --out "$out/trained.safetensors" --json; then
        [[ -s "$out/trained.safetensors" ]] && echo "  [train] ok" || fail train "no checkpoint written"
    else
        fail train "train --epochs 1 failed"
    fi
    # 6. a screenshot after SAP + band
    if run screenshot_band env QT_QPA_PLATFORM=offscreen "$gui" --screenshot "$out/screenshot_band.png" \
            --open "$sample" --attack sap --band --trials 50; then
        check_png screenshot_band "$out/screenshot_band.png"
    else
        fail screenshot_band "--screenshot --attack sap --band failed"
    fi
    # 7. Linux: the real desktop platform plug-in (xcb) on a virtual X server, when there is one
    if [[ "$(uname -s)" == Linux ]] && command -v xvfb-run >/dev/null 2>&1; then
        if run screenshot_xcb xvfb-run -a -s "-screen 0 1920x1200x24" sh -c \
                'exec env -i PATH=/usr/bin:/bin DISPLAY="$DISPLAY" XAUTHORITY="$XAUTHORITY" HOME="$0" LANG=C.UTF-8 "$1" --screenshot "$2" --open "$3"' \
                "$out/home" "$gui" "$out/screenshot_xcb.png" "$sample"; then
            check_png screenshot_xcb "$out/screenshot_xcb.png"
        else
            fail screenshot_xcb "--screenshot on the xcb platform (Xvfb) failed"
        fi
    fi
fi

if ((failures)); then
    echo "SMOKE TEST FAILED: $failures check(s) failed" >&2
    exit 1
fi
echo "SMOKE TEST PASSED"
