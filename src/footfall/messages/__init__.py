"""Messages: templates personalised with event data (``templates``, in the native syntax or in
eSputnik's Velocity), rendered within a budget (``budget``)."""
