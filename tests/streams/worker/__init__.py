"""Tests of churnwatch.streams.worker."""
