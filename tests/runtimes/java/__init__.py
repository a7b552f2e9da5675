"""Tests of the Java runtime: real JVMs running handler jars built by Maven."""
