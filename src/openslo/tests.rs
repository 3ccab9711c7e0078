//! Unit tests of the OpenSLO import.
