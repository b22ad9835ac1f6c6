"""Tests of churnwatch.streams.synthetic."""
