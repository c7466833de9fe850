//! The store conformance suite (being rewritten for the record store contract).
