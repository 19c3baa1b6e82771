//! HTTP tests of the simulator, through a raw reqwest client.
