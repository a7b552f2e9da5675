"""wisp's ``provided`` runtime: Lambda's Runtime API for an unmodified bootstrap (docs/runtimes.md)."""
