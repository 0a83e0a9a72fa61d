"""Scenarios: the YAML language, its loading and checks, expectations and reports.

`load_scenario(path)` gives a validated `Scenario`; the runner turns it into a `RunResult`;
`evaluate` and `write_reports` turn that into pass/fail and the JSON, JUnit and HTML files."""
