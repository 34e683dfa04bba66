"""Everything that runs on pykka lives here."""
