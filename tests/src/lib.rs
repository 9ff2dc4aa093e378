//! End-to-end tests live in `tests/tests/`: they drive the HTTP API, the
//! projection, the period closer and the Stripe sync together, over real
//! databases and the Stripe fake. (Tests that need the `billing` binary
//! itself live beside it, in `api/tests/`.)
#![forbid(unsafe_code)]
