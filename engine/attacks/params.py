"""Attack parameters declared once: name, CLI flag, unit, default, allowed range, help.

Every numeric parameter an attack takes is a `Param` here (or, for a parameter only a new
attack uses, in that attack's own module; see `AttackParams.options`). The CLI options, the
GUI's widgets and saved settings, validation and the results-file header are generated from
these declarations (engine.attacks.registry); the defaults of `AttackParams` are read from
them, so each default is written once. ε and α are in mV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError


@dataclass(frozen=True)
class Param:
    """One numeric option. `kind` is int, float or bool; values must lie in [lo, hi]
    (`lo_open`: lo itself excluded). `in_header`: part of the results header (resume check).
    `label`: the GUI's name for it; `step`: a spin box's increment (None: 1 for int, lo for float)."""

    attr: str
    flag: str
    label: str
    unit: str
    default: Any
    lo: float
    hi: float
    help: str
    kind: type = float
    in_header: bool = True
    lo_open: bool = False
    step: float | None = None

    def range_text(self) -> str:
        """'between 0 and 10000 steps', 'greater than 0 and at most 5 mV', 'on or off'."""
        if self.kind is bool:
            return "on or off"
        unit = f" {self.unit}" if self.unit else ""
        lo, hi = (int(self.lo), int(self.hi)) if self.kind is int else (self.lo, self.hi)
        if self.lo_open:
            return f"greater than {lo:g} and at most {hi:g}{unit}"
        return f"between {lo:g} and {hi:g}{unit}" if self.kind is float else f"between {lo} and {hi}{unit}"

    def check(self, value: Any, name: str | None = None) -> Any:
        """The value converted to `kind`, or UserError naming the allowed range."""
        name = name or self.flag
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            raise UserError(f"{name} must be on or off, got {value!r}")
        try:
            if isinstance(value, str):
                v = float(value.strip()) if self.kind is float else int(value.strip(), 10)
            elif isinstance(value, bool):
                raise TypeError
            elif self.kind is int:
                if isinstance(value, float) and not value.is_integer():
                    raise TypeError
                v = int(value)
            else:
                v = float(value)
        except (TypeError, ValueError, OverflowError):
            what = "a whole number" if self.kind is int else "a number"
            raise UserError(f"{name} must be {what} {self.range_text()}, got {value!r}") from None
        if isinstance(v, float) and not math.isfinite(v):
            raise UserError(f"{name} must be a finite number {self.range_text()}, got {value!r}")
        if v < self.lo or v > self.hi or (self.lo_open and v == self.lo):
            raise UserError(f"{name} must be {self.range_text()}, got {value!r}")
        return v


# -- the built-in parameters (PGD and SAP; paper values: ε 10 ADC = 0.01 mV, α 1 ADC = 0.001 mV,
#    20 PGD + 40 SAP steps) -----------------------------------------------------------------------

EPS = Param("eps_mv", "--eps", "ε", "mV", 0.01, 1e-4, 5.0,
            step=0.001, help="L∞ budget ε: the largest change allowed at any sample (paper 0.01 mV = 10 µV)")
ALPHA = Param("alpha_mv", "--alpha", "Step α", "mV", 0.001, 1e-5, 1.0,
              step=0.0005, help="step α of each gradient step (paper 0.001 mV)")
STEPS = Param("steps", "--steps", "PGD steps", "steps", 20, 0, 10_000, kind=int,
              help="PGD steps (also SAP's initialisation; paper 20)")
SAP_STEPS = Param("sap_steps", "--sap-steps", "SAP steps", "steps", 40, 0, 10_000, kind=int,
                  help="smoothed SAP steps after the PGD start (paper 40)")
RANDOM_START = Param("random_start", "--random-start", "Random start", "", False, 0, 1, kind=bool,
                     help="PGD starts from a random point in the ε-ball")
SEED = Param("seed", "--seed", "Seed", "", 0, 0, 2 ** 32 - 1, kind=int,
             help="random seed (results reproduce exactly)")
PAPER_CODE = Param("paper_code", "--paper-code", "Paper code (paper-cnn)", "", False, 0, 1, kind=bool,
                   help="paper-cnn only: behave as the paper's code (crop the first 18000 samples, not the "
                        "centre; δ/θ live on the zero padding during the steps and are zeroed there at the end; "
                        "loss to the TRUE label, so every record needs one)")

# -- APGD (Croce & Hein 2020) and Square (Andriushchenko et al. 2020) --------------------------------
ITERATIONS = Param("iterations", "--iterations", "APGD iterations", "steps", 100, 1, 100_000, kind=int,
                   help="APGD iterations per restart (paper 100)")
RESTARTS = Param("restarts", "--restarts", "Restarts", "", 1, 1, 1000, kind=int,
                 help="APGD random restarts (each on the records not yet fooled)")
QUERIES = Param("queries", "--queries", "Query budget", "queries", 5000, 1, 10_000_000, kind=int,
                help="Square attack: most model queries per record (paper 5000 on ImageNet ... 10000)")
SMOOTH = Param("smooth", "--smooth", "Smooth (SAP kernels)", "", False, 0, 1, kind=bool,
               help="APGD / Square: perturb θ and apply δ = θ smoothed by SAP's Gaussian kernel bank "
                    "(as smooth as SAP's perturbations)")

# -- EOT-PGD through a smoothed classifier's noise (Salman et al. 2019; engine.attacks.eot) ---------
# smoothing noise sd floor, mV (0.1 µV, a tenth of an ADC unit): far below it float32 noise is no noise
SIGMA_MIN_MV = 1e-4
EOT_SIGMA = Param("eot_sigma_mv", "--sigma", "Noise σ", "mV", 0.25, SIGMA_MIN_MV, 100.0, step=0.01,
                  help="EOT-PGD: sd of the Gaussian noise of the smoothed classifier attacked (the σ it is "
                       "certified with, as in certify --sigma)")
EOT_DRAWS = Param("eot_draws", "--draws", "Noise draws", "draws", 16, 1, 4096, kind=int,
                  help="EOT-PGD: noise draws averaged for each gradient step (expectation over transformation)")

PAPER_SIZES = (5, 7, 11, 15, 19)          # SAP kernel bank (paper): sizes × σ → 25 kernels
PAPER_SIGMAS = (1.0, 3.0, 5.0, 7.0, 10.0)

BUILTIN_PARAMS: tuple[Param, ...] = (EPS, ALPHA, STEPS, SAP_STEPS, RANDOM_START, SEED, ITERATIONS, RESTARTS,
                                     QUERIES, SMOOTH, PAPER_CODE, EOT_SIGMA, EOT_DRAWS)


@dataclass
class AttackParams:
    """Attack parameter values in mV (defaults: the declarations above, the paper's values).

    `target`: one class for every record (None: untargeted); `target_map`: per-record targets
    by original prediction, e.g. (("A", "N"),) moves records predicted AF toward Normal and
    attacks every other record untargeted (the paper's protocol; used when `target` is None).
    `options`: values of parameters declared by an attack module itself ((attr, value) pairs;
    read with `option()`), so a new attack needs no new field here.
    """

    eps_mv: float = EPS.default
    alpha_mv: float = ALPHA.default
    steps: int = STEPS.default
    sap_steps: int = SAP_STEPS.default
    target: str | None = None
    random_start: bool = RANDOM_START.default
    seed: int = SEED.default
    kernel_sizes: tuple[int, ...] = PAPER_SIZES
    kernel_sigmas: tuple[float, ...] = PAPER_SIGMAS
    target_map: tuple[tuple[str, str], ...] = ()
    iterations: int = ITERATIONS.default
    restarts: int = RESTARTS.default
    queries: int = QUERIES.default
    smooth: bool = SMOOTH.default
    paper_code: bool = PAPER_CODE.default
    eot_sigma_mv: float = EOT_SIGMA.default
    eot_draws: int = EOT_DRAWS.default
    options: tuple[tuple[str, Any], ...] = field(default=())

    def option(self, p: Param) -> Any:
        """Value of an attack's own parameter `p` (its declared default when not set)."""
        return dict(self.options).get(p.attr, p.default)

    def value(self, p: Param) -> Any:
        """Value of any declared parameter, built-in field or option."""
        return getattr(self, p.attr) if hasattr(self, p.attr) and p.attr != "options" else self.option(p)

    def total_steps(self, method: str) -> int:
        """Progress steps of one batch for `method` (from the attack's declaration)."""
        from .registry import spec

        return spec(method).total_steps(self)

    def check_targets(self, classes: list[str]) -> None:
        """UserError unless `target` / `target_map` name classes of the model (and not both)."""
        if self.target is not None and self.target not in classes:
            raise UserError(f"unknown target class {self.target!r} (choose from {', '.join(classes)})")
        for a, b in self.target_map:
            if a not in classes or b not in classes:
                raise UserError(f"target map {a}->{b}: classes must be among {', '.join(classes)}")
        if self.target is not None and self.target_map:
            raise UserError("give either one target class or a per-class target map, not both")

    def target_for(self, orig_pred: str) -> str | None:
        """The class a record originally predicted as `orig_pred` is moved to (None: untargeted)."""
        if self.target is not None:
            return self.target
        return dict(self.target_map).get(orig_pred)


PAPER_TARGET_MAP: tuple[tuple[str, str], ...] = (("A", "N"),)  # paper text: AF → Normal, others untargeted


def is_adversarial(pred, orig, target=None):
    """The one rule for "is this prediction adversarial?": untargeted, any class but the original
    `orig`; targeted, the `target` class. None when the record already sits in its target class
    (nothing to attack). `pred` may be a class (name or index) or an array/tensor of indices, then
    the answer is elementwise."""
    if target is None:
        return pred != orig
    if not hasattr(orig, "shape") and orig == target:
        return None
    return pred == target
