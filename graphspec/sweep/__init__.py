"""Hyperparameter search over a spec with Optuna: ``graphspec sweep``.

:mod:`graphspec.config.sweep` holds the search-space grammar and the spec's
``sweep:`` section (torch- and optuna-free, validated by ``load()``);
:mod:`graphspec.sweep.section` reads that section for the command line;
:mod:`graphspec.sweep.study` runs the study, each trial a normal run folder
made by the training engine; :mod:`graphspec.sweep.report` prints the table
and writes the best spec.
"""
