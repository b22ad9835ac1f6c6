"""Tests of churnwatch.streams.replay."""
