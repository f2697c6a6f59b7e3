"""Privacy a person controls (SPEC §4a): their retention window, export, and delete-all."""
