"""Play mode of the strip: sweep through the record in real time (× ``play_speed``) like a
monitor — the trace is drawn up to a moving cursor, the page turns when the cursor reaches
its end.  :class:`Playback` is a mixin of :class:`gui.strip.view.StripView`."""
from __future__ import annotations

from PySide6 import QtCore

__all__ = ["Playback", "PLAY_INTERVAL_MS"]

PLAY_INTERVAL_MS = 30


class Playback:
    """Play state and timer of StripView (mixin); call :meth:`_init_playback` once."""

    def _init_playback(self) -> None:
        self.play_speed = 1.0
        self._playing = False
        self._play_t = 0.0
        self._play_clock = QtCore.QElapsedTimer()
        self._play_timer = QtCore.QTimer(self)
        self._play_timer.setInterval(PLAY_INTERVAL_MS)
        self._play_timer.timeout.connect(self._play_tick)

    def play(self, on: bool) -> None:
        """Start or stop playing from the start of the view (from the record's start when
        the view is at its end)."""
        on = bool(on) and self.model.x is not None
        if on == self._playing:
            return
        self._playing = on
        if on:
            t0, _ = self.view_range()
            if t0 >= self.duration() - 1.0 / self.model.fs:
                self._home_view()
                t0, _ = self.view_range()
            self._play_t = t0
            self._play_clock.start()
            self._play_timer.start()
        else:
            self._play_timer.stop()
        self._sync_toolbar()
        self._refresh()
        self.playingChanged.emit(on)

    def is_playing(self) -> bool:
        return self._playing

    def play_position(self) -> float:
        """Record time (s) of the play cursor."""
        return self._play_t

    def set_play_speed(self, speed: float) -> None:
        self.play_speed = max(0.05, float(speed))

    def _play_cursor(self) -> float | None:
        return self._play_t if self._playing else None

    def _play_tick(self) -> None:
        if not self._playing:
            return
        dt = self._play_clock.restart() / 1000.0
        self._play_t += dt * self.play_speed
        dur = self.duration()
        if self._play_t >= dur:
            self._play_t = dur
            self.play(False)
            return
        _, t1 = self.view_range()
        if self._play_t >= t1 - 1e-9:
            if self.model.mode == "continuous":
                (x0, x1), _ = self._vb.viewRange()
                self._set_x(self._play_t, self._play_t + (x1 - x0))
            else:
                self.pan(1.0)
        else:
            self._refresh()
        self._update_info()
