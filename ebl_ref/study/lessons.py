"""The paper's lessons of §4.1 (restated in §5), evaluated on a study's test errors.

Each lesson is decided by a written rule over per-seed test errors, and stated as **holds**,
**does not hold** or **not enough runs** (some run the rule needs is missing, or has fewer than
:data:`MIN_SEEDS` seeds). The comparison underneath every rule:

    *A beats B* on a dataset when every seed of A has a lower test error than every seed of B
    (the two sets of seeds do not overlap).

Under the null hypothesis that A and B are equally good, the chance that A beats B by this
rule is 1/6 with 2 seeds each and 1/20 with 3 each (it is the one-sided exact Mann–Whitney test
with U = 0), so with 3 seeds "beats" is significant at the 5% level; with 2 it is a weak sign.

Rules (datasets are those of the study; the paper's scope is kept where it states one):

1. **Algorithms perform alike on MNIST** ("ranging from 0.42% to 0.66% test error rate for six
   of the seven EBL algorithms"): holds if the mean test errors of the best six of the seven
   EBL rules on MNIST lie within a factor :data:`ALIKE_FACTOR` (1.6, the paper's 0.66 / 0.42 =
   1.57) of each other.
2. **Negative perturbations beat positive ones** ("on Fashion-MNIST, CIFAR-10 and CIFAR-100,
   N-EP and N-CpL perform significantly better than CL, P-CpL and P-EP"): on every dataset of
   the study among Fashion-MNIST, CIFAR-10 and CIFAR-100, each of N-EP and N-CpL beats each of
   CL, P-EP and P-CpL (6 comparisons per dataset). Holds if all do.
3. **Centred (two-sided) perturbations beat one-sided ones** ("little difference" from the
   negative ones on MNIST, Fashion-MNIST and CIFAR-10, "significantly" better on CIFAR-100 and
   SVHN): on no dataset of the study is P-EP or N-EP *clearly better* than C-EP, or P-CpL or
   N-CpL clearly better than C-CpL; and on at least one dataset C-EP beats N-EP or C-CpL beats
   N-CpL. Holds if both.
4. **The EP perturbation beats the CpL one** ("C-EP outperforms C-CpL on all tasks … N-EP
   outperforms N-CpL on all tasks"): on no dataset of the study is C-CpL clearly better than
   C-EP or N-CpL clearly better than N-EP, and on at least one dataset C-EP beats C-CpL or N-EP
   beats N-CpL. Holds if both.

*Clearly better* is "beats" with a mean test error lower by more than :data:`MARGIN` (10%) of
the other's: the largest gap the paper calls "little difference" is 9.4% (N-CpL 13.5% against
C-CpL 14.9% on CIFAR-10), so a reversal that small does not contradict lessons 3 and 4, as it
does not in the paper. Applied to the paper's own Table 1 (taking each mean as three seeds
±0.5% apart), these rules find all four lessons hold (``tests/test_study_table.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

MIN_SEEDS = 2
ALIKE_FACTOR = 1.6
MARGIN = 0.10
EBL_RULES = ("cl", "p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl")
VERDICTS = ("holds", "does not hold", "not enough runs")


@dataclass
class Lesson:
    """One lesson's verdict on our numbers, with the comparisons that decided it."""

    name: str
    claim: str                       # the paper's statement (§4.1)
    rule: str                        # how we decide it
    verdict: str = "not enough runs"
    details: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def beats(a: list, b: list) -> bool:
    """Every value of ``a`` is lower than every value of ``b``."""
    return max(a) < min(b)


def _mean(v):
    return sum(v) / len(v)


def clearly_better(a: list, b: list) -> bool:
    """``a`` beats ``b`` and its mean is lower by more than MARGIN × mean(b)."""
    return beats(a, b) and _mean(b) - _mean(a) > MARGIN * _mean(b)


def _fmt(algo, dataset, v):
    return f"{algo} {_mean(v):.2f}% (n={len(v)})"


def _missing(errors, pairs) -> list:
    need = sorted({x for p in pairs for x in p})
    return [f"{a} on {d}" for a, d in need if len(errors.get((a, d), [])) < MIN_SEEDS]


def alike_on_mnist(errors: dict) -> Lesson:
    lesson = Lesson(
        "alike on MNIST", "Algorithms perform alike on MNIST (0.42% to 0.66% for six of the "
        "seven EBL algorithms)", f"the means of the best six of the seven EBL rules on MNIST "
        f"lie within a factor {ALIKE_FACTOR} of each other")
    have = {a: errors[(a, "mnist")] for a in EBL_RULES
            if len(errors.get((a, "mnist"), [])) >= MIN_SEEDS}
    if len(have) < 6:
        lesson.details = [f"{len(have)} of 7 EBL rules on MNIST with >= {MIN_SEEDS} seeds; "
                          "6 needed"]
        return lesson
    best = sorted(have, key=lambda a: _mean(have[a]))[:6]
    lo, hi = _mean(have[best[0]]), _mean(have[best[-1]])
    factor = hi / lo if lo > 0 else float("inf")
    lesson.verdict = "holds" if factor <= ALIKE_FACTOR else "does not hold"
    lesson.details = [f"best six {', '.join(best)}: {lo:.2f}% to {hi:.2f}% (factor "
                      f"{factor:.2f})"]
    return lesson


def negative_beats_positive(errors: dict, datasets) -> Lesson:
    lesson = Lesson(
        "negative beats positive", "Negative perturbations yield better results than positive "
        "ones (on Fashion-MNIST, CIFAR-10, CIFAR-100: N-EP and N-CpL significantly better than "
        "CL, P-CpL and P-EP)", "on each of Fashion-MNIST, CIFAR-10, CIFAR-100 in the study, "
        "each of N-EP, N-CpL beats each of CL, P-EP, P-CpL (all seeds apart)")
    scope = [d for d in datasets if d in ("fashion-mnist", "cifar10", "cifar100")]
    comparisons = [(n, p, d) for d in scope for n in ("n-ep", "n-cpl")
                   for p in ("cl", "p-ep", "p-cpl")]
    return _decide_all(lesson, errors, comparisons,
                       "none of Fashion-MNIST, CIFAR-10, CIFAR-100 in the study")


def centred_beats_one_sided(errors: dict, datasets) -> Lesson:
    lesson = Lesson(
        "centred beats one-sided", "Two-sided perturbations yield better results than one-sided "
        "perturbations (little difference from the negative ones on MNIST, Fashion-MNIST, "
        "CIFAR-10; significantly better on CIFAR-100 and SVHN)", "no one-sided rule is clearly "
        f"better (all seeds apart, mean > {MARGIN:.0%} lower) than its centred counterpart on "
        "any dataset, and C-EP beats N-EP or C-CpL beats N-CpL on at least one")
    pairs = [(c, s, d) for d in datasets for c, s in (("c-ep", "p-ep"), ("c-ep", "n-ep"),
                                                      ("c-cpl", "p-cpl"), ("c-cpl", "n-cpl"))]
    return _dominance(lesson, errors, pairs, lambda c, s: s.startswith("n-"))


def ep_beats_cpl(errors: dict, datasets) -> Lesson:
    lesson = Lesson(
        "EP beats CpL", "The EP perturbation method yields better results than the one of CpL "
        "(C-EP outperforms C-CpL and N-EP outperforms N-CpL on all tasks)", "C-CpL is never "
        f"clearly better (all seeds apart, mean > {MARGIN:.0%} lower) than C-EP, nor N-CpL than "
        "N-EP, on any dataset, and C-EP beats C-CpL or N-EP beats N-CpL on at least one")
    pairs = [(e, c, d) for d in datasets for e, c in (("c-ep", "c-cpl"), ("n-ep", "n-cpl"))]
    return _dominance(lesson, errors, pairs, lambda e, c: True)


def _dominance(lesson, errors, pairs, counts_as_win) -> Lesson:
    """Holds iff no (winner, other, dataset) is reversed (the other clearly better) and at
    least one pair with ``counts_as_win(winner, other)`` is a win by :func:`beats`."""
    missing = _missing(errors, [((w, d), (o, d)) for w, o, d in pairs])
    if not pairs or missing:
        lesson.details = [f"missing or < {MIN_SEEDS} seeds: {', '.join(missing)}" if missing
                          else "no dataset in the study"]
        return lesson
    reversed_ = [(w, o, d) for w, o, d in pairs if clearly_better(errors[(o, d)],
                                                                  errors[(w, d)])]
    wins = [(w, o, d) for w, o, d in pairs if counts_as_win(w, o)
            and beats(errors[(w, d)], errors[(o, d)])]
    lesson.verdict = "holds" if not reversed_ and wins else "does not hold"
    lesson.details = [f"{o} clearly better than {w} on {d}: {_fmt(o, d, errors[(o, d)])} vs "
                      f"{_fmt(w, d, errors[(w, d)])}" for w, o, d in reversed_]
    lesson.details += [f"{w} beats {o} on {d}: {_fmt(w, d, errors[(w, d)])} vs "
                       f"{_fmt(o, d, errors[(o, d)])}" for w, o, d in wins]
    if not wins:
        lesson.details.append("no win with all seeds apart")
    return lesson


def _decide_all(lesson, errors, comparisons, empty_reason) -> Lesson:
    """Holds iff every (winner, loser, dataset) comparison is a win by :func:`beats`."""
    if not comparisons:
        lesson.details = [empty_reason]
        return lesson
    missing = _missing(errors, [((w, d), (lo, d)) for w, lo, d in comparisons])
    if missing:
        lesson.details = [f"missing or < {MIN_SEEDS} seeds: {', '.join(missing)}"]
        return lesson
    failed = [(w, lo, d) for w, lo, d in comparisons if not beats(errors[(w, d)],
                                                                  errors[(lo, d)])]
    lesson.verdict = "does not hold" if failed else "holds"
    lesson.details = [f"{w} does not beat {lo} on {d}: {_fmt(w, d, errors[(w, d)])} vs "
                      f"{_fmt(lo, d, errors[(lo, d)])}" for w, lo, d in failed]
    if not failed:
        lesson.details = [f"all {len(comparisons)} comparisons are wins with all seeds apart"]
    return lesson


def evaluate(errors: dict) -> list:
    """The four lessons on ``errors``: ``{(algo, dataset): [test error % per seed]}``."""
    datasets = sorted({d for _, d in errors})
    return [alike_on_mnist(errors), negative_beats_positive(errors, datasets),
            centred_beats_one_sided(errors, datasets), ep_beats_cpl(errors, datasets)]


def format_lessons(lessons: list) -> str:
    lines = ["The paper's lessons (§4.1) on these numbers ('A beats B': every seed of A below "
             "every seed of B):"]
    for i, lesson in enumerate(lessons, 1):
        lines.append(f"{i}. {lesson.name}: {lesson.verdict.upper()}  — rule: {lesson.rule}")
        lines += [f"     {d}" for d in lesson.details]
    return "\n".join(lines)
