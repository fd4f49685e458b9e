"""Conformance tests, each named after the OpenADR 2.0b rule it checks."""
