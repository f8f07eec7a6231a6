"""Event types: the operator's rules per type, naming conventions, the failed-event log."""

# First, so that jsonschema is imported without the slow IRI grammar (see formats).
from footfall.eventtypes import formats as formats
