//! Analyses over parsed devices.
