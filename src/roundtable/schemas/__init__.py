"""The schema registry (D9): named, immutable, versioned JSON Schemas of a namespace."""
