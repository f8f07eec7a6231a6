"""Event types: the operator's rules per type, naming conventions, the failed-event log."""
