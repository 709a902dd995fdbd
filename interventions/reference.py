"""Reference figures of aid, for synthetic data (the demo's history, the generated province)
to look like a real county's: households per measure category in Haidong's five-year table
(DOMAIN.md section 7). Not read by any rule."""

HAIDONG_HOUSEHOLDS_PER_MEASURE = {
    "industry": 4885,
    "employment": 3518,
    "finance": 593,
    "public_job": 1281,
    "housing": 881,
    "water": 333,
    "health": 6895,
    "compulsory_edu": 396,
    "education": 1630,
    "social_security": 5829,
    "social_aid": 563,
    "infrastructure": 507,
}
