"""Evaluation on SQuAD-format data: the ``briefing eval`` harness, its metrics and baselines."""
