"""Slim replacement for pyinstaller-hooks-contrib's hook-torch (hookspath hooks take precedence).

Same approach (torch's modules in the PYZ *and* as .py files, since torch reads its own sources
with `inspect` at import time), minus what the app never uses: TensorBoard, benchmarks, the test
suites' helpers, C++ headers, static libraries and test binaries. (_dynamo and what it imports
stay: the optimisers call into it, so training needs it.) The lists live in packaging/bundle_config.py.
"""

import os
import sys

from PyInstaller import compat
from PyInstaller.utils.hooks import PY_DYLIB_PATTERNS, collect_data_files, collect_dynamic_libs, collect_submodules

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bundle_config as cfg  # noqa: E402

module_collection_mode = "pyz+py"
warn_on_missing_hiddenimports = False

hiddenimports = collect_submodules("torch", filter=cfg.torch_submodule_wanted, on_error="ignore")
datas = [(src, dest) for src, dest in collect_data_files(
    "torch", excludes=["**/*.h", "**/*.hpp", "**/*.cuh", "**/*.lib", "**/*.a", "**/*.cpp", "**/*.pyi",
                       "**/*.cmake", "include/**", "share/**", "test/**", "utils/model_dump/**",
                       "testing/_internal/**"])
    if not cfg.drop(os.path.join(dest, os.path.basename(src)))]
binaries = [(src, dest) for src, dest in collect_dynamic_libs(
    "torch", search_patterns=PY_DYLIB_PATTERNS + ["*.so.*"])
    if not cfg.drop(os.path.join(dest, os.path.basename(src)))]

if compat.is_linux:
    # as in the contrib hook: no symlinks from torch/lib to the top level (they confuse torch)
    bindepend_symlink_suppression = ["**/torch/lib/*.so*"]

if compat.is_win:
    # as in the contrib hook: torch wheels that require the `mkl` package load its DLLs
    # (<env>/Library/bin) at run time, which binary dependency analysis misses
    def _mkl_dlls():
        import packaging.requirements
        from importlib import metadata

        def reqs(name):
            dist = metadata.distribution(name)
            parsed = [packaging.requirements.Requirement(r) for r in dist.requires or []]
            return [r.name for r in parsed if r.marker is None or r.marker.evaluate()]

        if "mkl" not in reqs("torch"):
            return []
        found = []
        for name in ["mkl"] + reqs("mkl"):
            try:
                dist = metadata.distribution(name)
            except metadata.PackageNotFoundError:
                continue
            for f in dist.files or []:
                path = dist.locate_file(f).resolve()
                if path.match("**/Library/bin/*.dll"):
                    found.append((str(path), "."))
        return found

    try:
        binaries += _mkl_dlls()
    except Exception as exc:  # noqa: BLE001 - never fatal, as upstream
        print(f"hook-torch: could not collect MKL DLLs: {exc}")
