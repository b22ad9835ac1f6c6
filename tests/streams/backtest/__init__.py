"""Tests of churnwatch.streams.backtest."""
