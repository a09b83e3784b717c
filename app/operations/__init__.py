"""State-changing functions, named by verb. They flush, never commit: the
caller (a view, a CLI command or a job) commits once."""
