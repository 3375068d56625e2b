#!/usr/bin/env python3
"""Build the ECG Adversarial Workbench installers with PyInstaller (Linux, Windows, macOS).

    .venv/bin/python packaging/build.py            # build dist/ecg-adv + the platform archive
    .venv/bin/python packaging/build.py --smoke    # ... then run packaging/smoke_test.sh on it (CI)
    .venv/bin/python packaging/build.py --no-build --smoke   # smoke-test an existing dist/ecg-adv
    .venv/bin/python packaging/build.py --icons    # re-render packaging/icons/*.png from the SVG

Run it with the Python of the environment to freeze (the project's venv with
`pip install -e ".[package]"`). Outputs, all under dist/:

    Linux    dist/ecg-adv/ (the bundle: ecg-adv executable + _internal/)
             dist/ecg-adv-<version>-linux-<arch>.tar.gz (bundle + .desktop entry + icon + installer script)
    Windows  dist/ecg-adv/ (ecg-adv.exe windowed, ecg-adv-cli.exe console) and dist/ecg-adv-<version>-windows-<arch>.zip
    macOS    dist/ECG Adversarial Workbench.app and dist/ecg-adv-<version>-macos-<arch>.dmg (.zip without hdiutil)

The PyInstaller work folder is build/pyinstaller/. Slimming happens inside the spec (see
bundle_config.py); this script reports the unpacked size and the largest parts.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import bundle_config as cfg  # noqa: E402

DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
SIZE_TARGET_MB = 900

DESKTOP_ENTRY = """[Desktop Entry]
Type=Application
Version=1.0
Name={name}
GenericName=ECG adversarial attack workbench
Comment=Adversarial attacks on ECG rhythm classifiers (research and teaching; not a medical device)
Exec={exec_path}
Icon={icon}
Terminal=false
Categories=Science;MedicalSoftware;Education;
Keywords=ECG;electrocardiogram;adversarial;PhysioNet;deep learning;
StartupWMClass=ecg-adv
"""

INSTALL_SH = r"""#!/bin/sh
# Adds ECG Adversarial Workbench to the desktop menu of the current user (no root needed):
# writes ~/.local/share/applications/ecg-adv.desktop pointing at this folder, installs the icon,
# and links ~/.local/bin/ecg-adv. Run it again after moving the folder; --uninstall removes them.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
apps="$data/applications"; icons="$data/icons/hicolor/256x256/apps"; bin="$HOME/.local/bin"
if [ "${1:-}" = "--uninstall" ]; then
    rm -f "$apps/ecg-adv.desktop" "$icons/ecg-adv.png" "$bin/ecg-adv"
    echo "removed the menu entry, icon and ~/.local/bin/ecg-adv"; exit 0
fi
mkdir -p "$apps" "$icons" "$bin"
cp "$here/ecg-adv.png" "$icons/ecg-adv.png"
sed -e "s|^Exec=.*|Exec=\"$here/ecg-adv\"|" -e "s|^Icon=.*|Icon=ecg-adv|" "$here/ecg-adv.desktop" > "$apps/ecg-adv.desktop"
chmod 644 "$apps/ecg-adv.desktop"
ln -sf "$here/ecg-adv" "$bin/ecg-adv"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$apps" >/dev/null 2>&1 || true
echo "installed: $apps/ecg-adv.desktop (menu entry), $bin/ecg-adv (command line)"
"""


def version() -> str:
    return re.search(r'__version__\s*=\s*"([^"]+)"', (ROOT / "engine" / "__init__.py").read_text()).group(1)


def arch() -> str:
    m = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(m, m)


def tree_size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
    return total


def mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


def render_icons() -> None:
    """packaging/icons/ecg-adv.png (256 px) from the SVG, with Qt (needs PySide6)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841
    renderer = QSvgRenderer(str(cfg.ICON_SVG))
    if not renderer.isValid():
        raise SystemExit(f"error: {cfg.ICON_SVG} is not a valid SVG")
    img = QImage(256, 256, QImage.Format.Format_ARGB32)
    img.fill(QColor(0, 0, 0, 0))
    painter = QPainter(img)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not img.save(str(cfg.ICON_PNG)):
        raise SystemExit(f"error: cannot write {cfg.ICON_PNG}")
    print(f"wrote {cfg.ICON_PNG.relative_to(ROOT)}")


def bundle_dir() -> Path:
    return DIST / cfg.APP_NAME


def app_dir() -> Path | None:
    app = DIST / f"{cfg.DISPLAY_NAME}.app"
    return app if sys.platform == "darwin" and app.is_dir() else None


def run_pyinstaller(clean: bool) -> float:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        raise SystemExit('error: PyInstaller is not installed here; run: pip install -e ".[package]"') from None
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(DIST), "--workpath", str(WORK), str(HERE / "ecg_adv.spec")]
    if clean:
        cmd.insert(3, "--clean")
    print("+", " ".join(cmd), flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.monotonic() - t0


def report(bundle: Path) -> int:
    internal = bundle / "_internal"
    if not internal.is_dir():  # macOS .app keeps files under Contents/
        internal = bundle
    total = tree_size(bundle)
    parts: dict[str, int] = {}
    for p in internal.rglob("*"):
        if p.is_file() and not p.is_symlink():
            rel = p.relative_to(internal).parts
            key = "/".join(rel[:2]) if rel[0] in ("torch", "PySide6", "scipy", "numpy") and len(rel) > 2 else rel[0]
            parts[key] = parts.get(key, 0) + p.stat().st_size
    print(f"\nbundle {bundle.relative_to(ROOT)}: {mb(total)} unpacked "
          f"(target < {SIZE_TARGET_MB} MB: {'ok' if total < SIZE_TARGET_MB * 1e6 else 'OVER'})")
    for key, size in sorted(parts.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {size / 1e6:8.1f} MB  {key}")
    models = sorted(p.name for p in bundle.rglob("resources/models/*.safetensors"))
    print(f"  models bundled: {', '.join(models) if models else 'NONE (no default model!)'}")
    return total


def check_libraries(bundle: Path) -> tuple[list[str], list[str]]:
    """Linux: dependencies of the bundle's shared libraries that resolve neither inside the
    bundle nor on this system (ldd). Returns (problems, optional): Qt plug-ins whose system
    libraries are missing are optional (Qt skips such a plug-in, e.g. Wayland without libwayland)."""
    if not sys.platform.startswith("linux") or not shutil.which("ldd"):
        return [], []
    internal = bundle / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=f"{internal}:{internal / 'PySide6' / 'Qt' / 'lib'}:{internal / 'torch' / 'lib'}")
    problems: set[str] = set()
    optional: set[str] = set()
    for so in list(internal.rglob("*.so")) + list(internal.rglob("*.so.*")):
        if so.is_symlink():
            if not so.exists():
                problems.add(f"{so.relative_to(internal)}: dangling link")
            continue
        out = subprocess.run(["ldd", str(so)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            if "not found" in line:
                lib = line.split("=>")[0].strip()
                rel = so.relative_to(internal).as_posix()
                (optional if "/plugins/" in rel or "Wayland" in rel or "WlShell" in rel else problems).add(f"{rel}: {lib}")
    return sorted(problems), sorted(optional)


def archive_linux(bundle: Path, ver: str) -> Path:
    shutil.copy2(cfg.ICON_PNG, bundle / "ecg-adv.png")
    (bundle / "ecg-adv.desktop").write_text(DESKTOP_ENTRY.format(name=cfg.DISPLAY_NAME, exec_path="ecg-adv",
                                                                 icon="ecg-adv"))
    script = bundle / "install-desktop-entry.sh"
    script.write_text(INSTALL_SH)
    script.chmod(0o755)
    for name in ("LICENSE",):
        shutil.copy2(ROOT / name, bundle / name)
    shutil.copy2(HERE / "THIRD_PARTY_LICENSES.md", bundle / "THIRD_PARTY_LICENSES.md")
    out = DIST / f"{cfg.APP_NAME}-{ver}-linux-{arch()}.tar.gz"
    print(f"writing {out.relative_to(ROOT)} ...", flush=True)
    with tarfile.open(out, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=f"{cfg.APP_NAME}-{ver}")
    return out


def archive_windows(bundle: Path, ver: str) -> Path:
    shutil.copy2(ROOT / "LICENSE", bundle / "LICENSE.txt")
    shutil.copy2(HERE / "THIRD_PARTY_LICENSES.md", bundle / "THIRD_PARTY_LICENSES.md")
    base = DIST / f"{cfg.APP_NAME}-{ver}-windows-{arch()}"
    return Path(shutil.make_archive(str(base), "zip", root_dir=DIST, base_dir=bundle.name))


def archive_macos(app: Path, ver: str) -> Path:
    out = DIST / f"{cfg.APP_NAME}-{ver}-macos-{arch()}.dmg"
    if shutil.which("hdiutil"):
        subprocess.run(["hdiutil", "create", "-volname", cfg.DISPLAY_NAME, "-srcfolder", str(app), "-ov",
                        "-format", "UDZO", str(out)], check=True)
        return out
    out = out.with_suffix(".zip")
    subprocess.run(["ditto", "-c", "-k", "--keepParent", str(app), str(out)], check=True)
    return out


def smoke(bundle: Path) -> int:
    target = app_dir() or bundle
    cmd = ["bash", str(HERE / "smoke_test.sh"), str(target)]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="run packaging/smoke_test.sh on the bundle afterwards")
    ap.add_argument("--no-build", action="store_true", help="do not run PyInstaller (use the existing dist/)")
    ap.add_argument("--no-archive", action="store_true", help="skip the .tar.gz/.zip/.dmg")
    ap.add_argument("--clean", action="store_true", help="clear PyInstaller's cache and work folder first")
    ap.add_argument("--icons", action="store_true", help="re-render packaging/icons/ecg-adv.png from the SVG and exit")
    args = ap.parse_args(argv)

    if args.icons:
        render_icons()
        return 0
    ver = version()
    t0 = time.monotonic()
    if not args.no_build:
        if not cfg.bundled_models():
            print("WARNING: resources/models has no .safetensors model; the bundle will lack the default model",
                  file=sys.stderr)
        secs = run_pyinstaller(args.clean)
        print(f"PyInstaller finished in {secs:.0f} s")
    bundle = bundle_dir()
    if not bundle.is_dir():
        print(f"error: {bundle} does not exist (build first)", file=sys.stderr)
        return 1
    total = report(app_dir() or bundle)
    problems, optional = check_libraries(bundle)
    if optional:
        libs = sorted({line.rsplit(": ", 1)[1] for line in optional})
        print(f"  optional Qt plug-ins need system libraries not on this machine: {', '.join(libs)}")
    if problems:
        print("WARNING: unresolved library dependencies:\n  " + "\n  ".join(problems[:30]), file=sys.stderr)
    if not args.no_archive:
        if sys.platform.startswith("linux"):
            out = archive_linux(bundle, ver)
        elif sys.platform == "win32":
            out = archive_windows(bundle, ver)
        elif app_dir():
            out = archive_macos(app_dir(), ver)
        else:
            out = None
        if out:
            print(f"archive {out.relative_to(ROOT)}: {mb(out.stat().st_size)}")
    print(f"total build time {time.monotonic() - t0:.0f} s; unpacked size {mb(total)}")
    if args.smoke:
        rc = smoke(bundle)
        if rc:
            print(f"SMOKE TEST FAILED (exit {rc})", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
