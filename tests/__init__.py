"""The test suite. A package so that every module has one name (`tests.test_x`,
`tests.platform_support`) for pytest and mypy alike, however it is imported."""
