//! Deployment checks, as tests only (`cargo test -p checks`; the test binary is
//! `tests/deployment`): `template.yaml`, `samconfig.toml`, the local gateway's router (root
//! `Cargo.toml`) and the invoke events in `events/` are checked against the code they deploy.
//! This library is empty.
