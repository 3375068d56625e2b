"""Packaging: the PyInstaller spec evaluates and bundles the right data, excludes and slims what
the app does not use; licence/attribution files and the icon exist. The slow test builds the
bundle and runs packaging/smoke_test.sh on it (`pytest -m slow tests/test_packaging.py`)."""

from __future__ import annotations

import importlib
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "ecg_adv.spec"


@pytest.fixture()
def cfg():
    sys.path.insert(0, str(PACKAGING))
    try:
        import bundle_config

        yield importlib.reload(bundle_config)
    finally:
        sys.path.remove(str(PACKAGING))


class _Recorder:
    """Stand-ins for PyInstaller's spec classes: record their arguments."""

    def __init__(self):
        self.calls: dict[str, list] = {}

    def cls(self, kind: str):
        rec = self

        class Stub:
            def __init__(self, *args, **kwargs):
                self.args, self.kwargs = args, kwargs
                rec.calls.setdefault(kind, []).append(self)
                if kind == "Analysis":
                    # what an Analysis yields: TOCs of (dest, src, typecode)
                    self.pure = [("numpy", "numpy/__init__.py", "PYMODULE"), ("engine", "engine/__init__.py", "PYMODULE")]
                    self.scripts = [("main", str(ROOT / "main.py"), "PYSOURCE")]
                    self.binaries = [(d, d, "BINARY") for d in [
                        "torch/lib/libtorch_cpu.so", "torch/lib/libjitbackend_test.so",
                        "PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms/libqoffscreen.so",
                        "PySide6/Qt/plugins/platforms/libqeglfs.so", "PySide6/Qt/plugins/sqldrivers/libqsqlite.so",
                        "PySide6/Qt/lib/libQt6Quick.so.6", "PySide6/Qt/lib/libQt6Widgets.so.6",
                        "libxcb-cursor.so.0", "libgtk-3.so.0"]] + [
                        ("libQt6Quick.so.6", "PySide6/Qt/lib/libQt6Quick.so.6", "SYMLINK"),
                        ("libQt6Widgets.so.6", "PySide6/Qt/lib/libQt6Widgets.so.6", "SYMLINK")]
                    self.datas = [(d, d, "DATA") for d in [
                        "torch/include/ATen/ATen.h", "matplotlib/mpl-data/sample_data/goog.npz",
                        "matplotlib/mpl-data/matplotlibrc", "PySide6/Qt/translations/qtbase_de.qm",
                        "scipy/special/tests/data/boost.npz"]] + [(d, s, "DATA") for s, d in kwargs["datas"]]

        return Stub


def _fake_imports(filename, search_paths=None):
    """Stand-in for PyInstaller's bindepend.get_imports: the Qt widgets library needs xcb-cursor."""
    return {("libxcb-cursor.so.0", "/usr/lib/libxcb-cursor.so.0")} if "Widgets" in filename else set()


def _run_spec(monkeypatch, platform: str = "linux", cli_exe: str = "") -> _Recorder:
    # PyInstaller need not be installed for this test: fake the one helper the spec calls
    import types

    for name in ("PyInstaller", "PyInstaller.depend"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.depend.bindepend",
                        types.SimpleNamespace(get_imports=_fake_imports))
    sys.modules["PyInstaller.depend"].bindepend = sys.modules["PyInstaller.depend.bindepend"]
    sys.modules["PyInstaller"].depend = sys.modules["PyInstaller.depend"]
    monkeypatch.setattr(shutil, "which", lambda cmd, *a, **k: None)  # no `strip` run on stub paths
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv("ECGADV_CLI_EXE", cli_exe)
    rec = _Recorder()
    ns = {"SPECPATH": str(PACKAGING), "__file__": str(SPEC), "__name__": "__main__", "workpath": "/nonexistent"}
    for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
        ns[kind] = rec.cls(kind)
    sys.modules.pop("bundle_config", None)
    try:
        exec(compile(SPEC.read_text(), str(SPEC), "exec"), ns)
    finally:
        if str(PACKAGING) in sys.path:
            sys.path.remove(str(PACKAGING))
        sys.modules.pop("bundle_config", None)
    rec.ns = ns
    return rec


def test_spec_bundles_resources_and_licences(monkeypatch):
    rec = _run_spec(monkeypatch)
    (analysis,) = rec.calls["Analysis"]
    kw = analysis.kwargs
    assert Path(analysis.args[0][0]) == ROOT / "main.py"
    dests = {(Path(src).relative_to(ROOT).as_posix(), dest) for src, dest in kw["datas"]}
    for name in ("A00009.hea", "A00009.mat", "REFERENCE.csv", "README.md"):
        assert (f"resources/samples/{name}", "resources/samples") in dests
    assert sum(1 for s, d in dests if d == "resources/samples" and s.endswith(".mat")) == 12
    assert ("resources/splits/paper-val.txt", "resources/splits") in dests
    assert ("LICENSE", ".") in dests and ("packaging/THIRD_PARTY_LICENSES.md", ".") in dests
    for model in (ROOT / "resources" / "models").glob("*.safetensors"):
        assert (f"resources/models/{model.name}", "resources/models") in dests
    assert Path(kw["hookspath"][0]) == PACKAGING / "hooks"
    assert (PACKAGING / "hooks" / "hook-torch.py").is_file()
    # licence texts of the bundled distributions are added (numpy is in the stub's pure TOC)
    assert any(d.startswith("licenses/numpy/") for d, *_ in analysis.datas)


def test_spec_excludes_and_slims(monkeypatch):
    rec = _run_spec(monkeypatch)
    (analysis,) = rec.calls["Analysis"]
    excludes = set(analysis.kwargs["excludes"])
    for mod in ("tkinter", "torch.utils.tensorboard", "torch.testing._internal.common_methods_invocations",
                "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtWebEngineCore", "PySide6.QtNetwork",
                "PySide6.QtSql", "PySide6.QtMultimedia", "pytest", "aiohttp"):
        assert mod in excludes, mod
    # modules the app, `import torch` or training (optimisers -> torch._dynamo) need are never excluded
    for mod in ("torch._dynamo", "torch._inductor", "torch.onnx", "sympy", "mpmath", "torch.distributed.tensor",
                "numpy.f2py", "torch.distributed", "torch.testing", "unittest", "torch.fx", "PySide6.QtSvg", "PySide6.QtOpenGL",
                "PySide6.QtTest", "matplotlib", "pandas", "scipy.signal", "wfdb", "safetensors"):
        assert mod not in excludes, mod
    binaries = {d for d, *_ in analysis.binaries}
    assert "torch/lib/libtorch_cpu.so" in binaries and "PySide6/Qt/lib/libQt6Widgets.so.6" in binaries
    # top-level links to dropped files go; libraries nothing needs any more go (Linux)
    assert "libQt6Widgets.so.6" in binaries and "libQt6Quick.so.6" not in binaries
    assert "libxcb-cursor.so.0" in binaries and "libgtk-3.so.0" not in binaries
    assert {"PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/platforms/libqoffscreen.so"} <= binaries
    for gone in ("torch/lib/libjitbackend_test.so", "PySide6/Qt/plugins/platforms/libqeglfs.so",
                 "PySide6/Qt/plugins/sqldrivers/libqsqlite.so", "PySide6/Qt/lib/libQt6Quick.so.6"):
        assert gone not in binaries, gone
    datas = {d for d, *_ in analysis.datas}
    assert "matplotlib/mpl-data/matplotlibrc" in datas
    for gone in ("torch/include/ATen/ATen.h", "matplotlib/mpl-data/sample_data/goog.npz",
                 "PySide6/Qt/translations/qtbase_de.qm", "scipy/special/tests/data/boost.npz"):
        assert gone not in datas, gone


def test_runtime_hook_gives_windowed_exe_streams(monkeypatch):
    rec = _run_spec(monkeypatch)
    (hook,) = rec.calls["Analysis"][0].kwargs["runtime_hooks"]
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    exec(compile(Path(hook).read_text(), hook, "exec"), {"__name__": "__main__"})
    sys.stderr.write("no AttributeError\n")  # goes to the null device
    sys.stdout.write("no AttributeError\n")


def test_spec_executables_per_platform(monkeypatch):
    rec = _run_spec(monkeypatch, "linux")
    (exe,) = rec.calls["EXE"]
    assert exe.kwargs["name"] == "ecg-adv" and exe.kwargs["console"] is False
    assert exe.kwargs["exclude_binaries"] is True and exe.kwargs["strip"] is False  # see STRIP_LIBS
    (coll,) = rec.calls["COLLECT"]
    assert coll.kwargs["name"] == "ecg-adv" and "BUNDLE" not in rec.calls
    # Windows: a console twin for the CLI in the same folder (same PYZ, same libraries)
    rec = _run_spec(monkeypatch, "win32")
    gui, cli = rec.calls["EXE"]
    assert (gui.kwargs["name"], gui.kwargs["console"]) == ("ecg-adv", False)
    assert (cli.kwargs["name"], cli.kwargs["console"]) == ("ecg-adv-cli", True)
    assert gui.args[0] is cli.args[0]
    assert rec.calls["COLLECT"][0].args[:2] == (gui, cli)
    # macOS: an .app bundle with the icon
    rec = _run_spec(monkeypatch, "darwin")
    (app,) = rec.calls["BUNDLE"]
    assert app.kwargs["name"].endswith(".app") and app.kwargs["icon"].endswith("ecg-adv.png")
    assert app.kwargs["version"] == rec.ns["VERSION"]


def test_model_folder_is_bundled_whole_but_not_training_state(cfg, tmp_path):
    for name in ("default.safetensors", "paper-cnn.safetensors", "default.safetensors.tmp",
                 "default.safetensors.resume.pt", "train.log", "notes.md"):
        (tmp_path / "resources" / "models").mkdir(parents=True, exist_ok=True)
        (tmp_path / "resources" / "models" / name).write_bytes(b"x")
    for rel in ("resources/samples/A00001.hea", "resources/splits/s.txt", "LICENSE",
                "packaging/THIRD_PARTY_LICENSES.md", "packaging/icons/ecg-adv.png", "packaging/icons/ecg-adv.svg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    models = {Path(s).name for s, d in cfg.datas(tmp_path) if d == "resources/models"}
    assert models == {"default.safetensors", "paper-cnn.safetensors", "notes.md"}
    assert cfg.bundled_models(tmp_path) == ["default.safetensors", "paper-cnn.safetensors"]
    # an empty models folder does not break the data list
    shutil.rmtree(tmp_path / "resources" / "models")
    assert all(d != "resources/models" for _, d in cfg.datas(tmp_path))


def test_drop_rules(cfg):
    keep = ["torch/lib/libtorch_cpu.so", "torch/lib/libgomp.so.1", "torch/_C.cpython-311-x86_64-linux-gnu.so",
            "torch/testing/_internal/common_dtype.py", "torch/bin/torch_shm_manager", "PySide6/Qt/plugins/platforms/libqminimal.so",
            "PySide6/Qt/plugins/platforms/libqwayland.so", "PySide6/Qt/plugins/imageformats/libqjpeg.so",
            "PySide6/Qt/plugins/xcbglintegrations/libqxcb-glx-integration.so",
            "PySide6/Qt/plugins/platformthemes/libqxdgdesktopportal.so", "PySide6/plugins/platforms/qwindows.dll",
            "PySide6/Qt/plugins/platforms/libqcocoa.dylib", "PySide6/Qt/lib/libQt6Svg.so.6",
            "matplotlib/mpl-data/fonts/ttf/DejaVuSans.ttf", "resources/samples/A00009.mat"]
    drop = ["torch/include/c10/core/Device.h", "torch/bin/test_api", "torch/test/c10_Device_test",
            "torch/lib/libtorchbind_test.so", "torch/lib/dnnl.lib", "torch/share/cmake/Torch/TorchConfig.cmake",
            "torch/_C/__init__.pyi", "PySide6/Qt/plugins/platforms/libqvnc.so",
            "PySide6/Qt/plugins/imageformats/libqtiff.so", "PySide6/Qt/plugins/qmltooling/libqmldbg_debugger.so",
            "PySide6/Qt/plugins/tls/libqopensslbackend.so", "PySide6/Qt/qml/QtQuick/qmldir",
            "PySide6/Qt/plugins/platformthemes/libqgtk3.so", "PySide6/Qt/lib/libQt6EglFSDeviceIntegration.so.6",
            "PySide6/Qt/translations/qt_fr.qm", "PySide6/Qt/lib/libQt6Qml.so.6", "PySide6/Qt6Quick.dll",
            "PySide6/opengl32sw.dll",
            "matplotlib/mpl-data/sample_data/Minduka_Present_Blue_Pack.png", "pandas/tests/io/data/x.csv"]
    assert [d for d in keep if cfg.drop(d)] == []
    assert [d for d in drop if not cfg.drop(d)] == []
    assert cfg.drop("torch\\include\\ATen\\ATen.h")  # Windows separators
    assert cfg.strip_wanted("torch/lib/libtorch_cpu.so") and cfg.strip_wanted("libpython3.11.so.1.0")
    assert cfg.strip_wanted("python3.11/lib-dynload/_decimal.cpython-311-x86_64-linux-gnu.so")
    assert not cfg.strip_wanted("numpy.libs/libscipy_openblas64_-32a4b2a6.so")  # auditwheel-patched: breaks
    assert cfg.torch_submodule_wanted("torch.nn.functional")
    assert cfg.torch_submodule_wanted("torch.distributed.distributed_c10d")
    assert cfg.torch_submodule_wanted("torch._dynamo.eval_frame")
    assert not cfg.torch_submodule_wanted("torch.utils.tensorboard.writer")
    assert not cfg.torch_submodule_wanted("torch.testing._internal.common_utils")


def test_licence_attribution_icon_and_scripts():
    lic = (ROOT / "LICENSE").read_text()
    assert lic.startswith("MIT License") and "ECG Adversarial Workbench contributors" in lic
    third = (PACKAGING / "THIRD_PARTY_LICENSES.md").read_text()
    for needle in ("LGPL-3.0", "PySide6", "PyTorch", "BSD-3-Clause", "NumPy", "SciPy", "wfdb", "pyqtgraph",
                   "safetensors", "Apache-2.0", "matplotlib", "PSF", "PhysioNet", "ODC-By",
                   "Clifford GD", "10.22489/CinC.2017.065-469", "Goldberger"):
        assert needle in third, needle
    png = (PACKAGING / "icons" / "ecg-adv.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (256, 256)
    assert "<svg" in (PACKAGING / "icons" / "ecg-adv.svg").read_text()
    if shutil.which("bash"):
        subprocess.run(["bash", "-n", str(PACKAGING / "smoke_test.sh")], check=True)
    compile((PACKAGING / "hooks" / "hook-torch.py").read_text(), "hook-torch.py", "exec")
    compile((PACKAGING / "build.py").read_text(), "build.py", "exec")
    readme = (ROOT / "README.md").read_text()
    assert "## Installers" in readme and "packaging/build.py" in readme
    assert "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/python main.py" in readme
    assert "bash .ci/run" in readme


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_build_and_smoke_test_the_bundle():
    """Build dist/ecg-adv with PyInstaller, then run packaging/smoke_test.sh on it."""
    pytest.importorskip("PyInstaller", reason='PyInstaller not installed (pip install -e ".[package]")')
    if not list((ROOT / "resources" / "models").glob("default.safetensors")):
        pytest.skip("resources/models/default.safetensors is missing: the bundle would have no default model")
    env = dict(os.environ)
    env.pop("QT_QPA_PLATFORM", None)
    r = subprocess.run([sys.executable, str(PACKAGING / "build.py"), "--smoke", "--no-archive"], cwd=ROOT,
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "SMOKE TEST PASSED" in r.stdout
    exe = ROOT / "dist" / "ecg-adv" / ("ecg-adv.exe" if sys.platform == "win32" else "ecg-adv")
    assert exe.is_file()


def test_every_registered_attack_and_architecture_module_is_bundled(cfg):
    """Registries import attacks and architectures by name, which PyInstaller cannot see: the
    spec's hidden imports must list each of their modules (the frozen app failed without)."""
    from engine.attacks.registry import ATTACKS
    from engine.models import ARCHITECTURES

    mods = set(cfg.app_modules())
    for target in [s.target for s in ATTACKS.values()] + [a.target for a in ARCHITECTURES.values()]:
        assert target.split(":")[0] in mods, target
    assert {"engine.cli.core", "gui.app", "gui.strip.view"} <= mods
