"""On-duty rotas per region (PagerDuty-like): schedules, layers, overrides, iCal feed."""
