//! std examples for lvs-rs: packet I/O around the sans-IO Director.
