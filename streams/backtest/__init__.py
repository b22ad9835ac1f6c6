"""Backtests: a candidate rule pack against history, compared with the current one."""
