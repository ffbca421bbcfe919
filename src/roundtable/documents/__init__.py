"""The context store (D6, D7): shared documents with a lifecycle, scoped by signed tokens."""
