"""The snapshot: the one data contract between collectors and everything that analyses."""
