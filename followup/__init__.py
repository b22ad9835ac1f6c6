"""Managers' follow-up: the signed link and page, SMS replies, escalation and the report.

An alert is the start of work, not the end. This package records who acknowledged an
alert, who contacted the customer and what came of it, escalates when nobody moves, and
measures what retention work achieves (issue 7).
"""
