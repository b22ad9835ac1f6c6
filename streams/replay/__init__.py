"""The replay driver: a file of events through the rules, in order, on one machine."""
