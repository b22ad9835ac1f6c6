"""Tests of churnwatch.followup.morning: the relationship managers' morning list."""
