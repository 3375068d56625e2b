"""engine.augment: the training batches' time stretch and noise (names, shapes, amounts, streams)."""

import numpy as np
import pytest
import torch

from engine.augment import NOISE_MAX_MV, STRETCH, augment_batch, parse_augment
from engine.errors import UserError


def test_parse_keeps_order_and_refuses_unknown_repeated_or_empty():
    assert parse_augment("stretch,noise") == ("stretch", "noise")
    assert parse_augment(" noise ") == ("noise",)
    for bad, frag in [("flip", "flip: choose from"), ("", "nothing given"), ("noise,noise", "twice"),
                      ("stretch,Noise", "Noise: choose from")]:
        with pytest.raises(UserError, match=frag):
            parse_augment(bad)


def _sine(n, hz, fs=300.0):
    t = np.arange(n) / fs
    return torch.from_numpy(np.sin(2 * np.pi * hz * t).astype(np.float32))[None].repeat(4, 1)


def _peak_hz(x, fs=300.0):
    spec = np.abs(np.fft.rfft(x.numpy()))
    return float(np.fft.rfftfreq(len(x), 1 / fs)[spec.argmax()])


def test_stretch_changes_the_rate_within_its_range_and_fits_fixed_inputs():
    x = _sine(9000, 5.0)
    seen = []
    for seed in range(12):
        y = augment_batch(x, ("stretch",), np.random.default_rng(seed), units_per_mv=1.0, fixed_length=None,
                          max_length=18300)
        r = y.shape[-1] / x.shape[-1]
        assert 1 - STRETCH - 1e-3 <= r <= 1 + STRETCH + 1e-3
        # a longer trace plays the same beats more slowly: the frequency falls by the same factor
        assert _peak_hz(y[0]) == pytest.approx(5.0 / r, rel=0.01)
        seen.append(r)
        z = augment_batch(x, ("stretch",), np.random.default_rng(seed), units_per_mv=1.0, fixed_length=9000,
                          max_length=9000)
        assert z.shape == x.shape
    assert min(seen) < 0.98 and max(seen) > 1.02  # both directions are drawn
    # never longer than the model takes
    y = augment_batch(x, ("stretch",), np.random.default_rng(1), units_per_mv=1.0, fixed_length=None, max_length=9000)
    assert y.shape[-1] <= 9000


def test_noise_is_within_its_sd_range_in_model_units_and_follows_the_stream():
    x = torch.zeros(64, 3000)
    y = augment_batch(x, ("noise",), np.random.default_rng(3), units_per_mv=1000.0, fixed_length=3000,
                      max_length=3000)
    sd = y.std(dim=1)
    assert float(sd.max()) <= NOISE_MAX_MV * 1000 * 1.1 and float(sd.min()) >= 0.0
    assert float(sd.max()) > NOISE_MAX_MV * 1000 * 0.5  # some records get most of the range
    y2 = augment_batch(x, ("noise",), np.random.default_rng(3), units_per_mv=1000.0, fixed_length=3000,
                       max_length=3000)
    assert torch.equal(y, y2)
    y3 = augment_batch(x, ("noise",), np.random.default_rng(4), units_per_mv=1000.0, fixed_length=3000,
                       max_length=3000)
    assert not torch.equal(y, y3)
