"""SLA engine (Django side): the one timer table and the clock loop that fires it.

Policies, stored calendars and clocks are built on top of the timer table later.
"""
