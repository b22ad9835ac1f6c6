"""Tests of churnwatch.followup.report: the retention report and its renderings."""
