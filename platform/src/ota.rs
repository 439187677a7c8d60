//! OTA service: signed image catalog, staged rollout, install results (being written).
