"""Answer parsing: the strict cascade (records which rule fired) and MMAD's reference parser."""
from .cascade import RULES, UNPARSED, normalise, parse_reply
from .reference import reference_letters, reference_parse

# Bump whenever a rule changes what a reply parses to (stored with every run's answers).
PARSER_VERSION = "strict-3"

__all__ = ["PARSER_VERSION", "RULES", "UNPARSED", "normalise", "parse_reply", "reference_letters", "reference_parse"]
