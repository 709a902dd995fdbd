"""Reports (统计报表): read-only figures per region as of any date, computed from the cases
and their dated trail; the work sheets (台账) exported to Excel; the counties' monthly
reports. Nothing here writes a case."""
