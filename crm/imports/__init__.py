"""Reading and parsing the CSV files people upload (DESIGN.md §7)."""
