"""Tests of churnwatch.followup.score: the churn score on the alert page and in the report."""
