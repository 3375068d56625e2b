"""AutoAttack-style ensemble: per record the first attack that succeeds among APGD-CE, targeted
APGD-DLR and Square; robust accuracy is what survives all three.

Each attack runs on the records the previous ones did not fool (judged as the runner judges, after
the ADC-grid projection), with the ensemble's ε, iterations, restarts, queries, smooth and seed:
1. APGD-CE with the run's targets (untargeted, --target or the per-class map);
2. APGD-DLR targeted: a record with a target is moved toward it; an untargeted one is attacked toward
   each other class in turn, most likely first (AutoAttack's APGD-T), until one fools it (success
   stays "the prediction changed"); each target gets `iterations` × `restarts` steps;
3. Square (black-box) on what is left.
Each record's result carries "fooled_by" (the attack whose δ it keeps, None when none succeeded:
Square's δ is kept) and "queries" when Square ran on it.
Progress: APGD-CE, APGD-DLR and Square take iterations × restarts, iterations × restarts (shared by
the targets) and queries steps.
"""

from __future__ import annotations

import torch

from .apgd import APGDCE, APGDDLR
from .base import Attack
from .objectives import fooled_on_grid, model_logits, target_vector
from .square import Square


class Ensemble(Attack):
    name = "ensemble"

    def _sub(self, cls, start: int, length: int, params=None):
        """A sub-attack sharing model, stop flag and grid; its progress mapped onto [start, start+length)."""
        def prog(step, total):
            if self.progress:
                self.progress(start + min(length, round(step * length / max(total, 1))), self._total)

        att = cls(self.clf, params or self.p, progress=prog, should_stop=self.should_stop)
        return att

    def perturb(self, x0: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        b, c = x0.shape[0], len(self.clf.classes)
        mask_bool = self._mask
        quanta = getattr(self, "quanta", None)
        targets = target_vector(self, labels)
        delta = torch.zeros_like(x0)
        done = torch.zeros(b, dtype=torch.bool, device=x0.device)
        by: dict[int, str | None] = {i: None for i in range(b)}
        extras: dict[int, dict] = {i: {} for i in range(b)}
        apgd_steps = self.p.iterations * self.p.restarts
        with torch.no_grad():  # the order of the other classes, most likely first
            order = model_logits(self, x0).argsort(1, descending=True)

        def run(att, rows, tg=None):
            """Run `att` on batch rows `rows` (toward `tg` (len(rows),) when given); returns δ and fooled."""
            att.quanta = None if quanta is None else quanta[rows.cpu()]
            if tg is not None:
                att.forced_targets = tg
            d = att(x0[rows], mask_bool[rows] if mask_bool is not None else mask[rows] > 0, labels[rows])
            ok = fooled_on_grid(self, x0[rows], d, mask[rows], labels[rows], targets[rows], rows)
            return d, ok

        def keep(rows, d, ok, name, last=False):
            for j, i in enumerate(rows.tolist()):
                if ok[j] or last:
                    delta[i] = d[j]
                if ok[j]:
                    done[i] = True
                    by[i] = name

        # 1. APGD-CE
        rows = (~done).nonzero()[:, 0]
        if rows.numel():
            d, ok = run(self._sub(APGDCE, 0, apgd_steps), rows)
            keep(rows, d, ok, APGDCE.name, last=True)
        # 2. APGD-DLR, targeted: untargeted records toward each other class in turn (most likely
        #    first), records with a target toward it (once)
        ranks = list(range(1, c))
        per = max(1, apgd_steps // max(1, len(ranks)))
        for k, rank in enumerate(ranks):
            rows = (~done).nonzero()[:, 0]
            if k > 0:
                rows = rows[targets[rows] < 0]
            if rows.numel() == 0:
                continue
            tg = torch.where(targets[rows] >= 0, targets[rows], order[rows, rank])
            d, ok = run(self._sub(APGDDLR, apgd_steps + k * per, per), rows, tg)
            keep(rows, d, ok, APGDDLR.name)
        # 3. Square
        rows = (~done).nonzero()[:, 0]
        if rows.numel():
            sq = self._sub(Square, 2 * apgd_steps, self.p.queries)
            d, ok = run(sq, rows)
            keep(rows, d, ok, Square.name, last=True)
            for j, i in enumerate(rows.tolist()):
                extras[i].update(sq.extras.get(j, {}))
        self._step = self._total
        if self.progress:
            self.progress(self._total, self._total)
        self.extras = {i: {**extras[i], "fooled_by": by[i]} for i in range(b)}
        return delta
