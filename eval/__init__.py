"""Evaluation: collections, metrics, significance tests, runners, comparisons, reports, fusion sweeps.

Modules: :mod:`~passerelle.eval.trec` (qrels/run files), :mod:`~passerelle.eval.collections`,
:mod:`~passerelle.eval.metrics`, :mod:`~passerelle.eval.significance`, :mod:`~passerelle.eval.runners`,
:mod:`~passerelle.eval.compare`, :mod:`~passerelle.eval.report`, :mod:`~passerelle.eval.sweep`,
:mod:`~passerelle.eval.sweep_report`. Importing this package imports none of them.
"""
