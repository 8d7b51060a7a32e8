"""The job runner: procrastinate on the product's PostgreSQL, the periodic jobs and their records."""
