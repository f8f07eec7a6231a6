"""Event-triggered workflows: definitions, conditions, and (to come) the engine that runs them."""
