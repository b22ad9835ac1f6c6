"""The relationship manager's morning list (晨间清单): what today holds, in one message.

At a set time on business days (08:30 by default, in the bank's time zone and on the
escalation calendar's business days), each active relationship manager gets one message
listing, for their customers:

* **today's 7-3-1 steps**: the steps of the pack's maturity schedules (rules with a
  ``schedule`` on ``maturity_date``) that fall on the days since the previous business
  day up to today, from the products held in the customer profiles — so Monday's list
  also names the weekend's steps. A product whose latest event no longer matches the
  rule (renewed, redeemed) and a case already closed with an outcome are left out;
* **unacknowledged alerts** routed to them (the 7-3-1 steps of one maturity once);
* **follow-ups due**: alerts they acknowledged whose outcome is still not recorded
  ``outcome_due`` (7 days) later;
* **large inflows** (rules with ``delivery: morning_list``, the shipped
  ``large-inflow``): hits on their customers not named on an earlier list of theirs,
  up to today's list time, looking back at most ``inflow_lookback`` — so an inflow
  whose event arrived after the list that should have had it is on the next one.

"Their customers" are those whose customer record names them as manager. The parts:

* :mod:`~churnwatch.followup.morning.config`: ``morning_list:`` in ``routing.yaml``;
* :mod:`~churnwatch.followup.morning.lists`: reads the store and builds the lists;
* :mod:`~churnwatch.followup.morning.send`: records them, once per manager and day, and
  sends them;
* :mod:`~churnwatch.followup.morning.page`: ``/m/{token}``, one list on the phone.
"""
