"""What goes into the PyInstaller bundle and what is slimmed away.

Shared by `ecg_adv.spec`, `hooks/hook-torch.py`, `build.py` and `tests/test_packaging.py`, so the
lists live in one place. Plain Python, no PyInstaller imports: the tests import it directly.

Every exclusion here was checked against the frozen app (`packaging/smoke_test.sh` with
SMOKE_FULL=1: attack, band, train; plus review report/PDF, robustness plot, attack-eval): the
app never imports these modules. `import torch` itself loads `torch.distributed` (core),
`torch.testing`, `torch.testing._internal.common_dtype`/`logging_tensor`, `unittest`,
`torch.export` and `torch.fx`; the optimisers need `torch._dynamo`, which pulls in
`torch._inductor`, `torch.onnx`, more of `torch.distributed`, sympy and mpmath; so those stay.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from pathlib import Path

APP_NAME = "ecg-adv"            # the GUI executable (also runs the CLI subcommands)
CLI_NAME = "ecg-adv-cli"        # console executable for Windows (a windowed .exe has no console)
DISPLAY_NAME = "ECG Adversarial Workbench"
BUNDLE_ID = "org.ecg-adv-workbench.ecg-adv"

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
ICON_SVG = PACKAGING / "icons" / "ecg-adv.svg"
ICON_PNG = PACKAGING / "icons" / "ecg-adv.png"

# --- data -------------------------------------------------------------------------------------
# (source relative to the repository root, destination folder inside the bundle). The code finds
# them through Path(__file__).parents -> sys._MEIPASS/resources/..., the same layout as the repo.
DATA_DIRS = [
    ("resources/models", "resources/models"),    # whatever models exist at build time
    ("resources/samples", "resources/samples"),  # 12 PhysioNet 2017 records + README attribution
    ("resources/splits", "resources/splits"),
]
DATA_FILES = [
    ("LICENSE", "."),
    ("packaging/THIRD_PARTY_LICENSES.md", "."),
    ("packaging/icons/ecg-adv.png", "resources/icons"),
    ("packaging/icons/ecg-adv.svg", "resources/icons"),
]
# never bundled from the data folders: training state and half-written files
DATA_SKIP = ["*.tmp", "*.resume.pt", "*.log", ".*", "__pycache__"]


def datas(root: Path = ROOT) -> list[tuple[str, str]]:
    """PyInstaller `datas` entries (file by file, so that DATA_SKIP applies and an empty
    resources/models does not abort the build)."""
    out: list[tuple[str, str]] = []
    for src, dest in DATA_DIRS:
        folder = root / src
        for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
            rel = path.relative_to(folder)
            if path.is_file() and not any(fnmatch.fnmatch(part, pat) for part in rel.parts for pat in DATA_SKIP):
                out.append((str(path), str(Path(dest, *rel.parts[:-1]).as_posix())))
    for src, dest in DATA_FILES:
        out.append((str(root / src), dest))
    return out


def bundled_models(root: Path = ROOT) -> list[str]:
    return sorted(Path(s).name for s, d in datas(root) if d == "resources/models" and s.endswith(".safetensors"))


# --- Python modules never bundled -------------------------------------------------------------
EXCLUDES = [
    # GUI toolkits and shells the app does not use
    "tkinter", "_tkinter", "turtle", "turtledemo", "idlelib", "PyQt5", "PyQt6", "PySide2",
    "IPython", "ipykernel", "jupyter_client", "notebook", "matplotlib.backends.backend_qtagg",
    # test suites and developer tools
    "test", "lib2to3", "pydoc_data", "pytest", "_pytest", "py", "pytestqt", "pluggy", "iniconfig",
    "pip", "setuptools", "pkg_resources", "distutils", "numpy.distutils",
    "numpy.tests", "scipy.conftest", "pandas.tests", "pandas.conftest", "matplotlib.tests",
    "matplotlib.testing", "pyqtgraph.examples", "pyqtgraph.opengl", "pyqtgraph.jupyter",
    "PIL.ImageTk", "PIL.ImageQt",
    # torch extras the app never reaches. NOT excluded, though large: torch._dynamo (every
    # optimiser step goes through torch._compile._disable_dynamo, so training needs it), and what
    # `import torch._dynamo` loads: torch._inductor, torch.onnx, torch.distributed.*, sympy, mpmath
    "torch.utils.tensorboard", "torch.utils.benchmark", "torch.utils.bottleneck", "torch.utils.model_dump",
    "torch.utils.hipify", "functorch", "triton", "networkx", "jinja2",
    "torch.testing._internal.opinfo", "torch.testing._internal.distributed", "torch.testing._internal.optests",
    "torch.testing._internal.common_methods_invocations", "torch.testing._internal.common_utils",
    "torch.testing._internal.common_modules", "torch.testing._internal.common_nn",
    # remote-file stacks that wfdb/fsspec import only for downloads
    "aiohttp", "yarl", "multidict", "frozenlist", "aiosignal", "propcache", "aiohappyeyeballs",
    # Qt modules the app does not use
    "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets",
    "PySide6.QtQuickControls2", "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets",
    "PySide6.QtWebChannel", "PySide6.Qt3DCore", "PySide6.QtMultimedia", "PySide6.QtSql",
    "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtUiTools", "PySide6.QtXml",
    "PySide6.QtConcurrent", "PySide6.QtDBus", "PySide6.QtNetworkAuth", "PySide6.QtPdf",
]
# matplotlib backends (the app draws with Agg and writes PDF reports)
MATPLOTLIB_BACKENDS = ["Agg", "PDF", "SVG"]

# --- files dropped from the collected TOC (destination paths, fnmatch, '/'-separated) ----------
QT_PLATFORMS = ["offscreen", "xcb", "minimal", "wayland", "windows", "cocoa", "direct2d"]
QT_PLUGIN_DIRS_KEPT = ["platforms", "imageformats", "styles", "iconengines", "platformthemes",
                       "xcbglintegrations", "wayland-decoration-client",
                       "wayland-graphics-integration-client", "wayland-shell-integration",
                       "platforminputcontexts"]
DROP_PATTERNS = [
    # torch: C++ headers, static/import libraries, test binaries, CMake files, stubs
    "torch/include/*", "torch/share/*", "torch/test/*", "torch/bin/*", "torch/lib/*.a",
    "torch/lib/*.lib", "torch/lib/*test*", "torch/lib/libbackend_with_compiler*",
    "torch/lib/libaoti_custom_ops*", "torch/lib/*aoti_custom_ops*", "torch/lib/*backend_with_compiler*",
    "torch/lib/libshm_windows/*", "*.pyi", "*.h", "*.hpp", "*.cuh", "*.cmake", "torch/utils/model_dump/*",
    "torch/_inductor/codegen/*.cpp", "torch/_inductor/codegen/*.j2", "torch/testing/_internal/opinfo/*",
    "torch/testing/_internal/distributed/*", "torch/testing/_internal/generated/*",
    "torch/_export/serde/*.yaml", "torchgen/packaged/*",
    # Qt: translations, QML, unused plug-in families and the libraries only they need
    "PySide6/Qt/translations/*", "PySide6/translations/*", "PySide6/Qt/qml/*", "PySide6/qml/*",
    "PySide6/Qt/lib/libQt6Quick*", "PySide6/Qt/lib/libQt6Qml*", "PySide6/Qt/lib/libQt6Pdf*",
    "PySide6/Qt/lib/libQt6VirtualKeyboard*", "PySide6/Qt/lib/libQt6Network*",
    "PySide6/Qt6Quick*", "PySide6/Qt6Qml*", "PySide6/Qt6Pdf*", "PySide6/Qt6VirtualKeyboard*",
    "PySide6/Qt6Network*", "PySide6/opengl32sw.dll", "PySide6/Qt6WebEngine*",
    "PySide6/Qt/lib/libQt6EglFS*", "PySide6/Qt/lib/libQt6EglFs*",
    "PySide6/Qt/lib/QtQuick*.framework/*", "PySide6/Qt/lib/QtQml*.framework/*",  # macOS frameworks
    "PySide6/Qt/lib/QtPdf*.framework/*", "PySide6/Qt/lib/QtVirtualKeyboard*.framework/*",
    "PySide6/Qt/lib/QtNetwork.framework/*",
    # the GTK platform theme (native GTK file dialogs only; the app uses Fusion) drags in the
    # build machine's GTK/cairo/pango stack; Qt's own dialogs are used instead
    "PySide6/Qt/plugins/platformthemes/libqgtk3*",
    # matplotlib sample data
    "matplotlib/mpl-data/sample_data/*",
    # tests that data collection can sweep in
    "*/tests/*", "*/testing/tests/*",
]
# kept even though a pattern above matches: `import torch` checks that torch_shm_manager exists
KEEP_PATTERNS = ["torch/bin/torch_shm_manager", "torch/bin/torch_shm_manager.exe"]
# plug-ins: keep only the families above; for platforms only these back-ends
_PLUGIN_PREFIXES = ("PySide6/Qt/plugins/", "PySide6/plugins/")


def drop(dest: str) -> bool:
    """True when the bundle file at destination `dest` (relative to the bundle) is left out."""
    d = dest.replace(os.sep, "/").replace("\\", "/")
    if any(fnmatch.fnmatchcase(d, pat) for pat in KEEP_PATTERNS):
        return False
    for pre in _PLUGIN_PREFIXES:
        if d.startswith(pre):
            rest = d[len(pre):].split("/")
            if len(rest) >= 2:
                family, name = rest[0], rest[-1]
                if family not in QT_PLUGIN_DIRS_KEPT:
                    return True
                if family == "platforms" and not any(p in name for p in QT_PLATFORMS):
                    return True
                if family == "platforms" and any(p in name for p in ("eglfs", "minimalegl", "vkkhr")):
                    return True
                if family == "imageformats" and not any(p in name for p in ("qjpeg", "qgif", "qico", "qsvg")):
                    return True
                if family == "platforminputcontexts" and "virtualkeyboard" in name:
                    return True
    return any(fnmatch.fnmatchcase(d, pat) for pat in DROP_PATTERNS)


# Linux: symbols stripped from these libraries (destination patterns): libtorch_cpu 434 -> 345 MB,
# libpython 23 -> 6 MB, lib-dynload 13 -> 5 MB. Not every library: stripping auditwheel-patched
# ones (numpy/scipy OpenBLAS) breaks them ("ELF load command address/offset not page-aligned"),
# so PyInstaller's global strip option stays off.
STRIP_LIBS = ["torch/lib/libtorch_cpu.so", "torch/lib/libtorch_python.so", "torch/lib/libc10.so",
              "libpython3*.so*", "python3*/lib-dynload/*.so"]


def strip_wanted(dest: str) -> bool:
    d = dest.replace(os.sep, "/").replace("\\", "/")
    return any(fnmatch.fnmatchcase(d, pat) for pat in STRIP_LIBS)


def torch_submodule_wanted(name: str) -> bool:
    """Filter for the torch hook's collect_submodules: everything but the excluded subtrees."""
    return not any(name == ex or name.startswith(ex + ".") for ex in EXCLUDES if ex.startswith("torch"))


def cli_exe_wanted() -> bool:
    """Build the console `ecg-adv-cli` executable too? Default: on Windows only (a windowed
    .exe has no stdout there). ECGADV_CLI_EXE=1/0 forces it."""
    env = os.environ.get("ECGADV_CLI_EXE", "")
    if env in ("0", "1"):
        return env == "1"
    return sys.platform == "win32"


def app_modules() -> list[str]:
    """Every module of the app's packages (engine, gui), found on disk: attacks and architectures
    are imported by name from their registries ("engine.attacks.sap:SAP"), which PyInstaller's
    import scan cannot follow, so all of them are hidden imports."""
    mods = []
    for pkg in ("engine", "gui"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if "__pycache__" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods.append(".".join(parts))
    return mods

