"""GUI entry: `python main.py` opens the window; `--screenshot FILE` renders a state and exits.

    python main.py [--model SPEC] [--open RECORD]
    python main.py --screenshot FILE [--overwrite] [--open RECORD] [--attack METHOD] [--band]
                   [--model SPEC] [--eps MV] [--trials N] [--size WxH] [--mode rows|continuous]

main.py sends every command line that does not start with a CLI command here (see main.py).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (as the CLI does)
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The window's command-line options (main.py also shows them in its --help)."""
    from engine.attacks.registry import ATTACKS, arg_type, param
    from engine.models import BUNDLED, DEFAULT_MODEL

    p = _Parser(prog="main.py", description="ECG Adversarial Workbench: the window, or a headless command.")
    p.add_argument("--gui", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--open", metavar="RECORD", help="record (or folder) to open")
    p.add_argument("--model", metavar="SPEC", help=f"{', '.join(BUNDLED)} (bundled weights) or a checkpoint file "
                                                   f"(default: the last one chosen; at first {DEFAULT_MODEL}, the whole record)")
    p.add_argument("--screenshot", metavar="FILE", help="render the window to a PNG and exit")
    p.add_argument("--overwrite", action="store_true", help="(screenshot) replace an existing FILE")
    p.add_argument("--attack", choices=list(ATTACKS), help="(screenshot) run this attack")
    p.add_argument("--band", action="store_true", help="(screenshot) expand the band after the attack")
    p.add_argument("--eps", type=arg_type(param("eps_mv")), metavar="MV",
                   help="(screenshot) ε in mV (default: the saved setting)")
    p.add_argument("--trials", type=int, help="(screenshot) band trials (default: the saved setting)")
    p.add_argument("--size", default="1600x1000", help="(screenshot) window size, e.g. 1600x1000")
    p.add_argument("--mode", choices=["rows", "continuous"], help="(screenshot) strip layout")
    p.add_argument("--view", metavar="T0,T1", help="(screenshot) show record time T0..T1 s at the end")
    p.add_argument("--hide-members", action="store_true", help="(screenshot) do not draw band members")
    p.add_argument("--settings", metavar="INI", help="settings file (default: the user's)")
    p.add_argument("--timeout", type=float, default=600.0, help=argparse.SUPPRESS)
    return p


def _style(app) -> None:
    from PySide6.QtGui import QColor, QPalette

    app.setStyle("Fusion")
    pal = app.palette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#f4f4f2"))
    pal.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor("#f6f7f9"))
    pal.setColor(QPalette.ColorRole.Highlight, QColor("#3d6fb4"))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    app.setPalette(pal)
    f = app.font()
    if f.pointSizeF() < 9.5:
        f.setPointSizeF(9.5)
        app.setFont(f)


def make_app(argv: list[str] | None = None):
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0]] + list(argv or []))
    app.setApplicationName("ECG Adversarial Workbench")
    app.setOrganizationName("ecg-adv-workbench")
    import engine

    app.setApplicationVersion(engine.__version__)
    _style(app)
    _icon(app)
    return app


def _icon(app) -> None:
    """Window icon: resources/icons in a frozen bundle, packaging/icons in a source checkout."""
    from pathlib import Path

    from PySide6.QtGui import QIcon

    root = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))
    for cand in (root / "resources" / "icons" / "ecg-adv.png", root / "packaging" / "icons" / "ecg-adv.png"):
        if cand.is_file():
            app.setWindowIcon(QIcon(str(cand)))
            return


def _view_arg(text: str | None):
    """--view 'T0,T1' (s) as (t0, t1); None when absent; False when malformed, not finite or T1 <= T0."""
    import math

    if text is None:
        return None
    try:
        t0, t1 = (float(v) for v in text.split(","))
    except ValueError:
        return False
    return (t0, t1) if math.isfinite(t0) and math.isfinite(t1) and t1 > t0 else False


def _settings_file_error(path: str) -> str | None:
    """Why `path` cannot be the window's settings file (it is written when the window closes), or
    None: a new file in an existing folder, or an existing text file of INI lines ([section],
    key=value, ; or # comments). `--settings A00009.mat` overwrote the record with settings."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(path):
        return None if os.path.isdir(folder) else f"{path}: folder {folder} does not exist"
    if not os.path.isfile(path):
        return f"{path} is not a regular file"
    try:
        with open(path, "rb") as fh:
            raw = fh.read(1024 * 1024 + 1)
    except OSError as exc:
        return f"{path}: cannot read it ({exc.strerror or exc})"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text or len(raw) > 1024 * 1024 or not all(
            ln.startswith(("[", ";", "#")) or "=" in ln for ln in (x.strip() for x in text.splitlines()) if ln):
        return (f"{path} is not a settings (INI) file, and the window would overwrite it with its settings; "
                "name a new file or an existing settings file")
    return None


def run_gui(argv: list[str]) -> int:
    args = build_parser().parse_args([a for a in argv if a != "--gui"])
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
        if not (200 <= w <= 10000 and 200 <= h <= 10000):
            raise ValueError
    except ValueError:
        sys.stderr.write(f"error: --size must look like 1600x1000 (200 to 10000 pixels each), got {args.size}\n")
        return 2
    view = _view_arg(args.view)
    if view is False:  # before any work, like --size (it was a warning after the screenshot's whole run)
        sys.stderr.write(f"error: --view must be two times in s, the first smaller, e.g. 2.5,7.5, got {args.view}\n")
        return 2
    if args.trials is not None and not 1 <= args.trials <= 100000:
        sys.stderr.write(f"error: --trials must be between 1 and 100000, got {args.trials}\n")
        return 2
    if args.open and not (os.path.exists(args.open) or os.path.exists(args.open + ".hea")):
        sys.stderr.write(f"error: --open: no such record, file or folder: {args.open}\n")
        return 2
    settings_file = args.settings or os.environ.get("ECGADV_SETTINGS")  # (gui.settings.Settings reads it)
    settings_error = _settings_file_error(settings_file) if settings_file else None
    if settings_error:  # the window writes its settings there: never over a record or another file
        sys.stderr.write(f"error: {'--settings' if args.settings else 'ECGADV_SETTINGS'} {settings_error}\n")
        return 2
    if args.screenshot:  # checked before any work: never clobbered, never half-written
        from engine.errors import UserError
        from engine.outputs import check_output, check_suffix

        try:  # a PNG by name: `--screenshot notes.txt --overwrite` replaced a text file with an image
            check_suffix(args.screenshot, (".png",), "screenshot")
            check_output(args.screenshot, args.overwrite, "screenshot")
        except UserError as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 2
    try:
        import PySide6  # noqa: F401
    except ImportError as exc:
        sys.stderr.write(f"error: the GUI is not available ({exc}); use a command, see --help\n")
        return 2
    from . import apply_pyside_workaround, paint_on_gui_thread

    apply_pyside_workaround()  # before any Qt call (needed on Python < 3.12, see gui/__init__.py)
    paint_on_gui_thread()
    from engine.allocator import tune_heap

    tune_heap()  # engine jobs and frames reuse freed heap memory (see engine/allocator.py)
    app = make_app()
    from . import dialogs, guard

    # last resort: a bug in a slot shows one line naming a crash log; the app keeps running
    guard.install_excepthook(lambda line, details: dialogs.show_error(app.activeWindow(), line, details))
    from .main_window import MainWindow
    from .settings import Settings

    shot = args.screenshot
    _preload(app, splash=not shot)
    if args.settings:
        settings = Settings(args.settings)
    elif shot:  # a screenshot shows the defaults and leaves the user's settings alone
        import tempfile

        settings = Settings(os.path.join(tempfile.mkdtemp(prefix="ecgadv-shot-"), "settings.ini"))
    else:
        settings = Settings()
    open_path = os.path.abspath(args.open) if args.open else None
    win = MainWindow(settings, model_spec=args.model, open_samples=open_path is None, restore_layout=not shot)
    if args.mode:
        win.display.set_mode(args.mode)
    if args.hide_members:
        win.layer_actions["members"].setChecked(False)
    if shot:
        win.persist = False
        win.resize(w, h)
        if args.eps:
            win.attack_panel.field("eps_mv").setValue(args.eps)
            win.attack_panel.field("alpha_mv").setValue(args.eps / 10)
        if args.trials:
            win.band_panel.trials.setValue(args.trials)
        if args.attack:
            i = win.attack_panel.method.findData(args.attack)
            win.attack_panel.method.setCurrentIndex(i)
        return _screenshot(app, win, shot, open_path, args)
    win.show()
    if open_path:
        win.open_path(open_path)
    # everything alive now (PyTorch, Qt wrappers, the window) lives as long as the app: keep it
    # out of later garbage collections, whose full passes otherwise hold the interpreter lock
    # for 100-250 ms (also when a worker thread triggers them) and stall the window
    gc.collect()
    gc.freeze()
    return app.exec()


def _preload(app, splash: bool = True) -> None:
    """Load PyTorch & co. behind a small splash screen, before the window can be seen (see
    engine.workbench.jobs.preload); the window then never freezes while they load."""
    from engine.workbench.jobs import preload

    box = None
    if splash:
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QColor, QFont, QPainter, QPixmap
        from PySide6.QtWidgets import QSplashScreen

        pix = QPixmap(460, 150)
        pix.fill(QColor("#fff8f6"))
        p = QPainter(pix)
        p.setPen(QColor("#e48080"))
        for x in range(0, 460, 10):
            p.drawLine(x, 0, x, 150)
        for y in range(0, 150, 10):
            p.drawLine(0, y, 460, y)
        p.setPen(QColor("#141414"))
        f = QFont(app.font())
        f.setPointSizeF(15)
        f.setBold(True)
        p.setFont(f)
        p.drawText(pix.rect().adjusted(0, 0, 0, -40), Qt.AlignmentFlag.AlignCenter, "ECG Adversarial Workbench")
        p.end()
        box = QSplashScreen(pix)
        box.show()
        box.showMessage("Loading PyTorch and the engine…",
                        Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter)
        app.processEvents()
    try:
        preload()
    finally:
        if box is not None:
            box.close()


def write_png(pix, path: str, overwrite: bool = False) -> None:
    """A QPixmap as a PNG file, written atomically (temporary file + rename)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from engine.outputs import write_bytes_atomic

    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not pix.save(buf, "PNG"):
        raise OSError("the image could not be encoded")
    buf.close()
    write_bytes_atomic(path, bytes(data), overwrite=overwrite)


def _screenshot(app, win, path: str, open_path: str | None, args) -> int:
    """Drive the window to the requested state, then grab it to `path`."""
    from PySide6.QtCore import QTimer

    from engine.errors import UserError

    state = {"done": False, "attack_started": False, "band_started": False, "rc": 0}
    win.show()

    def grab_and_quit() -> None:
        if state["done"]:
            return
        state["done"] = True
        app.processEvents()
        pix = win.grab()
        try:
            write_png(pix, path, overwrite=args.overwrite)
        except (OSError, UserError) as exc:
            sys.stderr.write(f"error: cannot write {path}: {exc}\n")
            state["rc"] = 1
        else:
            sys.stderr.write(f"wrote {path} ({pix.width()}x{pix.height()})\n")
        win.close()
        app.quit()

    def settle() -> None:
        view = _view_arg(args.view)  # checked in run_gui
        if view:
            win.strip.set_view(*view)
        QTimer.singleShot(600, grab_and_quit)

    def maybe_attack(*_a) -> None:
        if state["attack_started"] or win.rec is None or win.clf is None or win.pred is None:
            return
        if args.attack:
            state["attack_started"] = True
            win.run_attack()
        else:
            settle()

    def after_attack(r) -> None:
        if args.band and r.success and not state["band_started"]:
            state["band_started"] = True
            win.run_band()
        else:
            if args.band and not r.success:
                sys.stderr.write("note: the attack did not succeed; no band to draw (try --eps larger)\n")
            settle()

    win.classified.connect(maybe_attack)
    win.attackFinished.connect(after_attack)
    win.bandFinished.connect(lambda _b: settle())
    def error_shown(msg: str) -> None:  # the PNG shows the dialog; the exit code says it was an error
        sys.stderr.write(f"error shown: {msg}\n")
        state["rc"] = 1
        settle()

    win.errorShown.connect(error_shown)
    if open_path:
        win.open_path(open_path)
    QTimer.singleShot(int(args.timeout * 1000), grab_and_quit)
    app.exec()
    return state["rc"]
