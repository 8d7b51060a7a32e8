"""Monthly bulletins (通报) per city, county and township: ranking table, red and black lists,
changes since last month, the month's warnings and cases; JSON, PDF (A4) and XLSX."""
