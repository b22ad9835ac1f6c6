"""What retention work achieved, per rule, branch and manager: the report and its renderings.

The parts:

* :mod:`~churnwatch.followup.report.build`: the figures, from the store, and their
  definitions (read those first: the report and its tests use exactly them);
* :mod:`~churnwatch.followup.report.render`: the report as text, CSV and self-contained
  HTML with charts;
* :mod:`~churnwatch.followup.report.holdings`: its product cross-holding section as text
  and CSV rows.

The outcomes by churn score band, also a section of the report, are
:mod:`churnwatch.followup.score.bands`.
"""
