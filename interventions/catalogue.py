"""Rules about the measure catalogue that the workflow relies on (DOMAIN.md sections 7, 9).
The categories themselves are data, seeded by migration 0003 and editable by administrators."""

# A case with risk 因病 needs one of these before clearance.
ILLNESS_COVER_CATEGORIES = frozenset({"health", "social_aid", "social_security"})
