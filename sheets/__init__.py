"""Reading and writing sheets (CSV in GBK or UTF-8, XLSX in; Excel out), shared by the
registry import, the department feeds and the exports. Knows nothing of Django models."""
