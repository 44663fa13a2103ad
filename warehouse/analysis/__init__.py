"""Sales analyses on the warehouse for `erpbi analyze` and the daily push."""
