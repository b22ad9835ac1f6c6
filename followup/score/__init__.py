"""The churn score where managers read it: on the alert page, and by band in the report.

* :mod:`~churnwatch.followup.score.page`: the alert page's score section, the customer's
  score at the alert and the signals behind it;
* :mod:`~churnwatch.followup.score.bands`: outcomes by score band and the score's
  concordance with leaving, a section of the report (:mod:`churnwatch.followup.report`).
"""
